"""The README and docs/: every relative link and anchor resolves, and the README stays short.

Anchors follow GitHub's rule for headings (github-slugger): lowercased, every character that is
not a letter, digit, underscore, hyphen or space dropped, spaces made hyphens, and a repeated
heading numbered ``-1``, ``-2``. Links to the web are not followed (no network here).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.paths import ROOT

README_LIMIT = 12 * 1024  # bytes: the README is the first screen and a page of sessions
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
#: A code span: a run of backticks, closed by the next run of the same length (it may span lines).
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


def documents(root: Path) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: ``The doctor's judgements`` -> ``the-doctors-judgements``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a Markdown text, repeated headings numbered as GitHub does."""
    found: dict[str, int] = {}
    for line in prose(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = found.get(base, 0)
            found[base] = count + 1
            if count:
                found[f"{base}-{count}"] = 1
    return set(found)


def links(text: str) -> list[str]:
    """The targets of the inline links in a Markdown text, outside code blocks and code spans."""
    return LINK.findall(CODE_SPAN.sub("", "\n".join(prose(text)).replace("\\`", "")))


def broken_links(root: Path) -> list[str]:
    """One line per relative link or anchor that does not resolve, in README.md and docs/*.md."""
    broken = []
    for document in documents(root):
        text = document.read_text(encoding="utf-8")
        for target in links(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # https:, mailto: ... : not followed here
            path, _, anchor = target.partition("#")
            goal = (document.parent / path if path else document).resolve()
            where = f"{document.relative_to(root)}: {target}"
            if not goal.is_relative_to(root.resolve()) or not goal.exists():
                broken.append(f"{where}: no such file")
            elif anchor and goal.suffix == ".md" and anchor not in anchors(goal.read_text(encoding="utf-8")):
                broken.append(f"{where}: no heading with that anchor in {goal.relative_to(root.resolve())}")
    return broken


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The doctor's judgements", "the-doctors-judgements"),
        ("abi: will the plugin load? (any OS, seconds)", "abi-will-the-plugin-load-any-os-seconds"),
        ("The matrix: `expected.toml`", "the-matrix-expectedtoml"),
        ("Never `uv --offline`", "never-uv---offline"),
        ("How `python3 noxfile.py` runs", "how-python3-noxfilepy-runs"),
        ("compatibility.json and the schemas", "compatibilityjson-and-the-schemas"),
    ],
)
def test_anchors_follow_githubs_rule(heading, anchor):
    assert slug(heading) == anchor


def test_a_repeated_heading_is_numbered():
    assert anchors("# Notes\n## Notes\n```\n# not a heading\n```\n") == {"notes", "notes-1"}


def test_every_relative_link_and_anchor_resolves():
    assert broken_links(ROOT) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n[back](../README.md#the-top)\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# The top\n\n[a](docs/a.md) [a's title](docs/a.md#a-page) [gone](docs/b.md) "
        "[no such heading](docs/a.md#nowhere) [here](#the-top) [not here](#elsewhere)\n"
        "`[in code](docs/c.md)`\n```\n[in a block](docs/d.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(tmp_path) == [
        "README.md: docs/b.md: no such file",
        "README.md: docs/a.md#nowhere: no heading with that anchor in docs/a.md",
        "README.md: #elsewhere: no heading with that anchor in README.md",
    ]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in links((ROOT / "README.md").read_text(encoding="utf-8"))
    }
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= linked, sorted(page.name for page in pages - linked)


def test_the_readme_fits_its_budget():
    size = len((ROOT / "README.md").read_text(encoding="utf-8").encode())
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes; the budget is {README_LIMIT}: move detail to docs/"
    )
