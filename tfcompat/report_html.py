"""The report as one self-contained HTML page: no external assets, no scripts, works offline.

Every string that reaches the page passes through ``esc`` (``html.escape``); the page's
Content-Security-Policy forbids scripts and remote loads as a second line of defence.
"""

from __future__ import annotations

from html import escape

from tfcompat.report import (
    COLUMNS,
    HEADERS,
    LEGEND_PROBES,
    Change,
    Flag,
    Footnote,
    Report,
    Skipped,
    Table,
    TableRow,
    row_label,
    show_generated,
    show_time,
    symbol,
)

#: No scripts, no remote loads: only the page's own inline style.
POLICY = "default-src 'none'; style-src 'unsafe-inline'"
#: The CSS class of each cell value: green, red, amber, grey. A speed-up is green, amber below 1.
CELL_CLASSES = {"ok": "ok", "yes": "ok", "fail": "fail", "no": "fail", "ambiguous": "warn", None: "none"}

STYLE = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       margin: 24px auto; max-width: 1200px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h2 small { font-weight: normal; color: #59636e; font-size: 13px; }
header p, .legend, .hint { color: #59636e; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: center; white-space: nowrap; }
th { background: #f6f8fa; }
td.key { text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; background: #fff; }
td.ok { background: #dafbe1; } td.fail { background: #ffebe9; }
td.warn { background: #fff8c5; } td.none { background: #f6f8fa; color: #8c959f; }
td.flag { outline: 2px solid #bc4c00; outline-offset: -2px; }
sup a { text-decoration: none; }
.footnote { margin: 10px 0; }
.footnote .where { color: #59636e; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
"""


def render_html(report: Report) -> str:
    """The whole page: header, one table per machine (newest first), legend, sections."""
    parts = [_header(report)]
    if report.record_count == 0:
        parts.append(
            '<p class="hint">No records yet: run <code>nox -s abi</code> (any OS) or '
            "<code>nox -s verify</code> (macOS), then <code>nox -s report</code>.</p>"
        )
    parts += [_table(index, table) for index, table in enumerate(report.tables, start=1)]
    parts.append(_legend())
    if report.flags:
        parts.append(_flags(report.flags))
    if report.changes:
        parts.append(_changes(report.changes))
    if report.footnotes:
        parts.append("<h2>Footnotes</h2>\n" + "\n".join(_footnote(note) for note in report.footnotes))
    if report.skipped:
        parts.append(_skipped(report.skipped))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(POLICY)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>tensorflow-metal compatibility</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def _header(report: Report) -> str:
    machines = [table.machine.label for table in report.tables if table.machine]
    on = (
        f" on <b>{esc('; '.join(machines))}</b>" + (" (newest first)" if len(machines) > 1 else "")
        if machines
        else ""
    )
    links = " ".join(
        f'<a href="#table-{index}">{esc(table.title)}</a>'
        for index, table in enumerate(report.tables, start=1)
    )
    return (
        "<header>\n<h1>tensorflow-metal compatibility</h1>\n"
        f"<p>Generated {esc(show_generated(report.generated))} from {report.record_count} records{on}.</p>\n"
        f"<nav>{links}</nav>\n</header>"
    )


def _table(index: int, table: Table) -> str:
    when = f" <small>newest record {esc(show_time(table.newest))}</small>" if table.newest else ""
    head = "".join(f"<th>{esc(header)}</th>" for header in HEADERS)
    body = "\n".join(_row(table.rows, position) for position in range(len(table.rows)))
    return (
        f'<section id="table-{index}">\n<h2>{esc(table.title)}{when}</h2>\n'
        f'<table class="compat">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>\n</section>"
    )


def _row(rows: list[TableRow], position: int) -> str:
    """One <tr>; Python and TensorFlow cells span the run of rows that share them."""
    row = rows[position].row
    keys = [lambda r: r.python, lambda r: (r.python, r.tf)]
    cells = []
    for key, text in zip(keys, (row.python, row.tf), strict=True):
        if position > 0 and key(rows[position - 1].row) == key(row):
            continue  # covered by the rowspan of an earlier row
        span = 1
        while position + span < len(rows) and key(rows[position + span].row) == key(row):
            span += 1
        cells.append(f'<td class="key" rowspan="{span}">{esc(text)}</td>')
    cells.append(f'<td class="key">{esc(row.metal)}</td>')
    for column in COLUMNS:
        cell = rows[position].cells[column]
        if isinstance(cell.value, float):
            kind = "ok" if cell.value >= 1 else "warn"
        else:
            kind = CELL_CLASSES.get(cell.value, "none")
        classes = kind + (" flag" if cell.flagged else "")
        links = ",".join(f'<a href="#fn-{mark}">{mark}</a>' for mark in cell.marks)
        marks = f"<sup>{links}</sup>" if links else ""
        cells.append(f'<td class="{classes}">{symbol(cell.value)}{marks}</td>')
    return "<tr>" + "".join(cells) + "</tr>"


def _legend() -> str:
    return (
        '<p class="legend">✅ works (Supports: PyPI lists the pair) · '
        "❌ fails (Supports: PyPI does not list it) · ⚠️ PyPI's table is ambiguous · – no result; "
        "a number points to a footnote; an outlined cell contradicts the real run.<br>"
        "Supports is tensorflow-metal's own table on PyPI. ABI is the prediction from the macOS wheels "
        "(the newest, from any host). Import, Devices, Verify (a short training run), Agrees and Speed-up "
        f"are the probes run on the machine the table names. {esc(LEGEND_PROBES)} A row with metal "
        "<code>none</code> is TensorFlow alone: no claim, nothing to predict.</p>"
    )


def _flags(flags: list[Flag]) -> str:
    items = "".join(
        f"<li>{esc(row_label(flag.row))} on {esc(flag.machine)}: {esc(flag.text)}</li>" for flag in flags
    )
    return f"<h2>Claim against observation</h2>\n<ul>{items}</ul>"


def _changes(changes: list[Change]) -> str:
    items = []
    for change in changes:
        dates = f"{show_time(change.dates[0])} → {show_time(change.dates[1])}"
        details = [("host", change.host), ("packages", change.packages)]
        sub = "".join(f"<li>{name}: {esc('; '.join(lines))}</li>" for name, lines in details if lines)
        items.append(
            f"<li>{esc(row_label(change.row))}, {esc(change.where)} ({esc(dates)}): "
            f"{esc('; '.join(change.outcome))}" + (f"<ul>{sub}</ul>" if sub else "") + "</li>"
        )
    return "<h2>Changed since the previous run</h2>\n<ul>" + "".join(items) + "</ul>"


def _footnote(footnote: Footnote) -> str:
    detail = ""
    if footnote.detail:
        lines = footnote.detail.count("\n") + 1
        detail = (
            f"<details><summary>{esc(footnote.summary)} ({lines} line{'s' if lines > 1 else ''})</summary>"
            f"<pre>{esc(footnote.detail)}</pre></details>"
        )
    return (
        f'<div class="footnote" id="fn-{footnote.number}"><b>{footnote.number}</b> '
        f'<code>{esc(footnote.text)}</code> <span class="where">— {esc(footnote.places())}</span>'
        f"{detail}</div>"
    )


def _skipped(skipped: list[Skipped]) -> str:
    items = "".join(f"<li><code>{esc(item.name)}</code>: {esc(item.reason)}</li>" for item in skipped)
    return f"<h2>Records skipped</h2>\n<ul>{items}</ul>"
