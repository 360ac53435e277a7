"""Hostile input (issue 24): nothing tfcompat reads can delete, redirect or lie.

Records come from other people's Macs, the cache and the temporary folder are shared with the
rest of the machine, and the index's answers cross the network. Each test below is a case a
hostile user tried (the issue's "Found" list) or a variant of one, made for real: real folders,
FIFOs and devices, a real index server on localhost, real pip and uv reading a real lock file,
real nox runs, a real SIGTERM. The few that need PyPI (a resolution recomputed with uv after a
forged cache entry is removed) are marked ``network``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from helpers.index import LocalIndex, Response
from helpers.paths import PYTHON, ROOT
from helpers.records import (
    DYLD_FAILURE,
    GPU,
    LINUX,
    MAC_15,
    PACKAGES,
    PROBES_OK,
    abi_record,
    map_record,
    verify_record,
)
from helpers.report import report
from tfcompat.abi import macwheels
from tfcompat.core import cache, config, files
from tfcompat.core.matrix import MatrixError, Row, load_matrix, parse_matrix
from tfcompat.core.record import write_record
from tfcompat.index import pypi
from tfcompat.index.wheels import WheelError, WheelRef
from tfcompat.predict import pairmap
from tfcompat.report import write_reports
from tfcompat.resolve import macresolve
from tfcompat.upkeep import claims
from tfcompat.verify import provision
from tfcompat.verify.runner import ProbeRun

MATRIX = """[defaults]
python = "3.10"
[[row]]
tf = "2.17.0"
metal = "1.1.0"
supports = "yes"
[[row]]
tf = "2.17.0"
metal = "none"
"""
#: The rows of ``MATRIX`` without its defaults.
ROWS = MATRIX.split("\n", 2)[2]
#: Every character ``str.splitlines()`` breaks a line at, besides the newline itself.
LINE_BREAKS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
#: Text that changes how a line displays: bidi controls, zero-width characters, a BOM.
INVISIBLE = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff"
)
PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+( --hash=sha256:[0-9a-f]{64})*")


def t(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00.000000+00:00"


@pytest.fixture
def reports(tmp_path) -> Path:
    return tmp_path / "reports"


def plugin_row(matrix) -> Row:
    return matrix.rows[0]


def control_row(matrix) -> Row:
    return matrix.rows[1]


def import_fails() -> dict:
    return {"import": ProbeRun(1, None, 6.0, False, "", DYLD_FAILURE, None)}


def rejected(out) -> dict[str, str]:
    return {item["name"]: item["reason"] for item in out.data["rejected"]}


# 1. Own what you delete


def test_the_issues_backup_folder_survives_the_sweep_of_a_temporary_folder(tmp_path, monkeypatch):
    """``$TMPDIR/tfcompat-backup-2024-12-07/`` vanished after an abi run: the sweep that a
    temporary folder starts with (abi, claims and every uv resolution make one) took it for an
    orphan of pid 2024."""
    backup = tmp_path / "tfcompat-backup-2024-12-07"
    backup.mkdir()
    (backup / "notes.txt").write_text("mine")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(files, "_swept", set())
    with files.temporary_folder("wheel") as ours:
        assert ours.parent == tmp_path
    assert not ours.exists()
    assert files.sweep(tmp_path) == []
    assert [path.name for path in tmp_path.iterdir()] == [backup.name]
    assert (backup / "notes.txt").read_text() == "mine"


def test_only_a_marker_with_the_same_pid_and_token_proves_a_folder_ours(tmp_path):
    """Folders named exactly as tfcompat names its temporaries, of a pid that is gone: without
    a regular marker file naming that pid and token, nothing is removed."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    token = "0123456789abcdef"
    kept = {
        "no marker": tmp_path / f"tfcompat-wheel-{gone.pid}-{token}",
        "another token": tmp_path / f"tfcompat-claims-{gone.pid}-{'f' * 16}",
        "another pid": tmp_path / f".tmp-{gone.pid + 1}-{token}",
        "marker is a link": tmp_path / f".tmp-{gone.pid}-{token}",
    }
    for folder in kept.values():
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    (kept["another token"] / files.MARKER).write_text(f"tfcompat {gone.pid} {token}\n")
    (kept["another pid"] / files.MARKER).write_text(f"tfcompat {gone.pid} {token}\n")
    (tmp_path / "elsewhere").write_text(f"tfcompat {gone.pid} {token}\n")
    (kept["marker is a link"] / files.MARKER).symlink_to(tmp_path / "elsewhere")
    proven = tmp_path / f"tfcompat-wheel-{gone.pid}-{'a' * 16}"
    proven.mkdir()
    (proven / files.MARKER).write_text(f"tfcompat {gone.pid} {'a' * 16}\n")
    assert files.sweep(tmp_path) == [proven]
    assert all((folder / "notes.txt").read_text() == "mine" for folder in kept.values())


def test_a_killed_runs_temporary_is_still_removed(tmp_path):
    """What the marker proves is removed: the folder of a run killed with SIGKILL."""
    code = (
        "import time\nfrom tfcompat.core import files\n"
        "with files.temporary_folder('wheel') as path:\n    print(path, flush=True); time.sleep(600)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    killed = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    orphan = Path(killed.stdout.readline().strip())
    assert files.sweep(tmp_path) == [] and orphan.is_dir()  # its owner lives
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert files.sweep(tmp_path) == [orphan] and not orphan.exists()


def test_a_users_folder_in_the_reports_folder_survives_the_report(tmp_path, matrix, reports):
    """The issue's reports/tfcompat-mac-2023-collected/ with two records a user gathered: still
    there after the report, and counted (4 records, not 2)."""
    collected = reports / "tfcompat-mac-2023-collected"
    write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), reports / "sessions")
    write_record(verify_record(control_row(matrix), t(2, 11), MAC_15, PROBES_OK), reports / "sessions")
    write_record(verify_record(plugin_row(matrix), t(3), MAC_15, PROBES_OK), collected)
    write_record(verify_record(control_row(matrix), t(3, 11), MAC_15, PROBES_OK), collected)
    out = report(matrix, reports)
    assert len(list(collected.glob("*.json"))) == 2
    assert out.data["record_count"] == 4


def test_a_lock_file_the_report_did_not_write_is_never_removed(matrix, reports):
    """Stale lock files are removed only when they are the report's own (its first line)."""
    locks = reports / "locks"
    locks.mkdir(parents=True)
    mine = locks / "py3.10-tf2.17.0-metal1.1.0-notes.txt"
    mine.write_text("numpy==1.26.4  # my own pins\n")
    stale = locks / "py3.10-tf2.16.1-metal1.1.0-20261101T100000-0badf00d.txt"
    stale.write_text("# What the verify run 20261101T100000-0badf00d installed, exactly.\nnumpy==1.26.4\n")
    report(matrix, reports)
    assert mine.read_text() == "numpy==1.26.4  # my own pins\n" and not stale.exists()


def test_sigterm_during_the_report_removes_what_it_staged(tmp_path, matrix, reports):
    """A real SIGTERM while the outputs are being staged (sent when the first is written): the
    run ends as an interrupt, nothing staged is left, and the previous outputs are unchanged."""
    write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), reports / "sessions")
    write_reports(matrix, reports)
    before = {path.name: path.read_bytes() for path in reports.glob("compatibility.*")}
    write_record(verify_record(plugin_row(matrix), t(3), MAC_15, import_fails()), reports / "sessions")
    code = f"""
import os, signal, sys
from pathlib import Path
from tfcompat.core.matrix import load_matrix
from tfcompat.report import publish, write_reports
from tfcompat.verify.runner import interrupt_on_sigterm

interrupt_on_sigterm()  # as the noxfile does
write = publish._write
def write_then_terminate(path, data):
    write(path, data)
    os.kill(os.getpid(), signal.SIGTERM)
publish._write = write_then_terminate
try:
    write_reports(load_matrix(Path({str(tmp_path / "expected.toml")!r})), Path({str(reports)!r}))
except KeyboardInterrupt:
    sys.exit(130)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 130, done.stderr
    assert [path for path in reports.rglob("*") if path.name.startswith(".tmp")] == []
    assert {path.name: path.read_bytes() for path in reports.glob("compatibility.*")} == before


# 2. Text that reaches a command or a file people run is data


def hostile_chip() -> str:
    """A chip name that, split at each line break ``str.splitlines`` knows, is a list of options."""
    options = [
        "--index-url http://127.0.0.1:9/HOSTILE-INDEX",
        "-r HOSTILE-REQUIREMENTS.txt",
        "-c HOSTILE-CONSTRAINTS.txt",
        "--extra-index-url http://127.0.0.1:9/HOSTILE-EXTRA",
    ]
    chip = "Apple M2 Pro"
    for number, breaker in enumerate(LINE_BREAKS):
        chip += breaker + options[number % len(options)]
    return chip


@pytest.fixture
def hostile_lock(matrix, reports) -> Path:
    host = {**MAC_15, "chip": hostile_chip()}
    write_record(verify_record(plugin_row(matrix), t(2), host, PROBES_OK), reports / "sessions")
    out = report(matrix, reports)
    answer = out.answer(out.label("m1"), "3.10")
    assert answer["lock"], answer
    return reports / answer["lock"]


def test_a_lock_file_from_a_hostile_record_is_comments_and_pins_only(hostile_lock):
    text = hostile_lock.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert all(line.startswith("#") or PIN.fullmatch(line) for line in lines), lines
    assert sorted(line for line in lines if not line.startswith("#")) == sorted(PACKAGES, key=str.lower)
    assert not set(text) & set(LINE_BREAKS + INVISIBLE)


def test_a_lock_file_comment_is_one_line_whatever_it_is_given(matrix):
    """``lock_text`` makes every comment one line itself, whatever text its caller passes."""
    from tfcompat.report.install import lock_text

    record = msgspec_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK))
    text = lock_text(record, name="a\u2028-r HOSTILE", machine=hostile_chip())
    assert all(line.startswith("#") or PIN.fullmatch(line) for line in text.splitlines())


def msgspec_record(data: dict):
    import msgspec

    from tfcompat.core.record import Record

    return msgspec.convert(data, Record)


@pytest.mark.network  # uv venv --seed downloads pip on a cold uv cache
def test_pip_and_uv_see_no_option_in_a_lock_from_a_hostile_record(tmp_path, hostile_lock):
    """Real pip (from a seeded venv) and real uv read the lock offline: each gets as far as the
    first pin (no index to find it in) and neither mentions a hostile option."""
    from tfcompat.core.uvcall import uv_binary

    uv = uv_binary()
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--seed", str(venv)], check=True, capture_output=True)
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-v", "--dry-run", "--no-index", "-r", str(hostile_lock)],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert pip.returncode != 0 and "keras==3.6.0" in pip.stdout + pip.stderr, pip.stderr
    assert "HOSTILE" not in pip.stdout + pip.stderr
    compiled = subprocess.run(
        [uv, "pip", "compile", "--no-index", "--quiet", "--python", str(venv / "bin" / "python"), str(hostile_lock)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert compiled.returncode != 0 and "keras" in compiled.stderr, compiled.stderr
    assert "HOSTILE" not in compiled.stdout + compiled.stderr


def test_bidi_and_zero_width_text_from_a_record_is_neutralised(tmp_path, matrix, reports):
    """U+202E and friends in a chip name and a file name: not in a heading, a ``title=``, the
    skipped list or the lock file. The chip still reads as its letters."""
    host = {**MAC_15, "chip": "Apple M2\u202e orP\u200b\u2066 Pro\ufeff\u2028"}
    write_record(verify_record(plugin_row(matrix), t(2), host, PROBES_OK), reports / "sessions")
    (reports / "sessions" / "evil\u202egnp.json").write_text("not a record")
    out = report(matrix, reports)
    [lock] = (reports / "locks").iterdir()
    for text in (out.markdown, out.html, lock.read_text(), json.dumps(out.data, ensure_ascii=False)):
        assert not set(text) & set(INVISIBLE + "\u2028\u2029\x85")
    assert "Apple M2 orP Pro" in out.label("m1")
    assert "evilgnp.json" in out.markdown


# Index URLs: https, or the configured index's scheme and host


@pytest.fixture
def index(tmp_path, monkeypatch):
    """The index in use (``TFCOMPAT_INDEX_URL``) is a local server; the cache is empty."""
    with LocalIndex() as server:
        monkeypatch.setenv("TFCOMPAT_INDEX_URL", server.simple)
        monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
        yield server


def serve_file(index: LocalIndex, filename: str, data: bytes) -> None:
    index.routes[f"/files/{filename}"] = Response(body=data)


def metal_entry(version: str = "1.2.0", **fields) -> dict:
    filename = f"tensorflow_metal-{version}-cp310-cp310-macosx_12_0_arm64.whl"
    return {
        "filename": filename,
        "url": f"https://files.pythonhosted.org/packages/ab/cd/{filename}",
        "hashes": {"sha256": "ab" * 32},
        "size": 1_400_000,
        "upload-time": "2025-01-30T10:00:00.000000Z",
        "yanked": False,
        **fields,
    }


def answer(index, name: str, files: list, raw: bytes | None = None) -> None:
    index.answer(name, raw or json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode())


def test_a_file_url_in_an_index_answer_is_refused_before_it_is_read(index):
    """The issue's ``file:///etc/os-release``: never opened, so its sha256 is never printed."""
    answer(index, "tensorflow-metal", [metal_entry(url="file:///etc/os-release")])
    with pytest.raises(claims.TfcompatError) as raised:
        claims.newest_table()
    message = str(raised.value)
    assert message == (
        f"{index.url}/simple/tensorflow-metal/: corrupt index answer: files[0]: 'file:///etc/os-release' "
        "is neither https nor on the index's own host"
    )
    assert hashlib.sha256(Path("/etc/os-release").read_bytes()).hexdigest() not in message


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.pythonhosted.org/packages/x/tensorflow_metal.whl", True),
        ("/files/tensorflow_metal.whl", True),  # relative: on the index's own host
        ("{root}/files/tensorflow_metal.whl", True),  # the configured index's scheme and host
        ("http://files.pythonhosted.org/packages/x/tensorflow_metal.whl", False),
        ("http://127.0.0.1:1/files/tensorflow_metal.whl", False),  # same host, another port
        ("ftp://mirror.example/tensorflow_metal.whl", False),
        ("file:///etc/passwd", False),
        ("data:,hello", False),
    ],
)
def test_index_urls_are_https_or_the_configured_index(index, url, allowed):
    answer(index, "tensorflow-metal", [metal_entry(url=url.format(root=index.url))])
    if allowed:
        [[wheel]] = pypi.macos_wheels("tensorflow-metal").values()
        assert wheel.url.startswith(("https://", index.url))
    else:
        with pytest.raises(pypi.IndexAnswerError, match="is neither https nor on the index's own host"):
            pypi.macos_wheels("tensorflow-metal")


# 3. A record is checked against itself before it is believed


def test_a_verdict_that_does_not_follow_from_the_probes_is_rejected(matrix, reports):
    """The issue's record: verdict ok while its import probe failed. Rejected with the reason,
    not counted, not in the answer, not a machine of the report."""
    record = verify_record(plugin_row(matrix), t(2), MAC_15, import_fails())
    record["verdict"] = "ok"
    path = write_record(record, reports / "sessions")
    out = report(matrix, reports)
    assert rejected(out) == {
        f"sessions/{path.name}": "its verdict 'ok' does not follow from its probes: they say 'fail'"
    }
    assert out.data["record_count"] == 0
    assert [machine["label"] for machine in out.data["machines"] if not machine["predicted"]] == []
    assert "Records rejected" in out.markdown and "Records rejected" in out.html


@pytest.mark.parametrize(
    ("field", "value", "but"),
    [
        ("timed_out", True, "timed out"),
        ("signal", "SIGSEGV", "ended by signal SIGSEGV"),
        ("returncode", -11, "exited with code -11"),
        ("signature", "signal 11 (SIGSEGV)", "has a failure signature"),
    ],
)
def test_a_probe_that_says_ok_while_it_did_not_pass_is_rejected(matrix, reports, field, value, but):
    record = verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK)
    record["probes"]["import"][field] = value
    path = write_record(record, reports / "sessions")
    out = report(matrix, reports)
    assert rejected(out) == {f"sessions/{path.name}": f"probe 'import' says 'ok' but {but}"}


def test_an_abi_verdict_must_be_the_predictions(matrix, reports):
    record = abi_record(plugin_row(matrix), t(1), first="Symbol not found: _x")
    record["verdict"] = "ok"
    path = write_record(record, reports / "sessions")
    out = report(matrix, reports)
    assert rejected(out) == {
        f"sessions/{path.name}": "its verdict 'ok' does not follow from its prediction: it says 'fail'"
    }


def test_a_map_verdict_must_be_its_gaps(matrix, reports):
    """A map record that says ok while it says which part has no answer: rejected."""
    record = map_record(t(1))
    record["map"]["error"] = "3 predictions, preflights, hazards or install commands without an answer"
    path = write_record(record, reports)
    out = report(matrix, reports)
    assert rejected(out) == {path.name: "its verdict 'ok' does not follow from its map: it says 'error'"}
    assert out.data["record_count"] == 0


@pytest.mark.parametrize(
    ("host", "verdict", "reason"),
    [
        (
            {**LINUX, "gpus": [GPU]},
            "ok",
            "a tensorflow-metal row verified on Linux: the plugin runs only on macOS",
        ),
        (
            {**LINUX, "gpus": [GPU]},
            "fail",
            "a tensorflow-metal row verified on Linux: the plugin runs only on macOS",
        ),
        ({**MAC_15, "gpus": []}, "ok", "verdict 'ok' for a tensorflow-metal row, and no Apple GPU listed"),
        (
            {**MAC_15, "gpus": [{"name": "NVIDIA GeForce RTX 4090", "virtual": False}]},
            "ok",
            "verdict 'ok' for a tensorflow-metal row, and no Apple GPU listed",
        ),
    ],
)
def test_gpu_evidence_needs_a_mac_with_an_apple_gpu(matrix, reports, host, verdict, reason):
    runs = PROBES_OK if verdict == "ok" else import_fails()
    path = write_record(verify_record(plugin_row(matrix), t(2), host, runs), reports / "sessions")
    out = report(matrix, reports)
    assert rejected(out) == {f"sessions/{path.name}": reason}
    for cell in out.data["evidence"]:
        assert cell["level"] not in ("verified-gpu", "verified-virtual", "verified-short")


def test_a_record_whose_head_is_not_believed_is_rejected_even_when_not_shown(matrix, reports):
    """Only the newest records of a row are loaded whole; one whose head alone is out of bounds
    (a tensorflow-metal row on Linux, dated before tfcompat) is rejected all the same: listed,
    and not counted."""
    sessions = reports / "sessions"
    for day in (20, 21):
        write_record(verify_record(plugin_row(matrix), t(day), MAC_15, PROBES_OK), sessions)
    old = write_record(
        verify_record(plugin_row(matrix), "2026-01-05T10:00:00+00:00", MAC_15, PROBES_OK), sessions
    )
    out = report(matrix, reports)
    assert rejected(out) == {
        f"sessions/{old.name}": "started 2026-01-05 10:00 UTC: before tfcompat's first release"
    }
    assert out.data["record_count"] == 2


def test_tensorflow_alone_on_linux_is_believed(matrix, reports):
    """The control row runs anywhere: its record from Linux is evidence (the check is about the plugin)."""
    write_record(verify_record(control_row(matrix), t(2), LINUX, PROBES_OK), reports / "sessions")
    out = report(matrix, reports)
    assert out.data["rejected"] == [] and out.data["record_count"] == 1


@pytest.mark.parametrize(
    ("started", "finished", "reason"),
    [
        ("9999-12-31T00:00:00+00:00", None, "started 9999-12-31 00:00 UTC: later than now and a day"),
        ("1970-01-01T00:00:00+00:00", None, "started 1970-01-01 00:00 UTC: before tfcompat's first release"),
        (t(2), t(1), "finished before it started"),
        (t(2), "9999-12-31T00:00:00+00:00", "finished 9999-12-31 00:00 UTC: later than now and a day"),
    ],
)
def test_a_record_dated_out_of_range_is_rejected(matrix, reports, started, finished, reason):
    """The issue's 9999-12-31 record: it no longer pins the row's cells over the honest later
    run, nor shows in the "changed" list; the honest run decides."""
    forged = verify_record(plugin_row(matrix), started, MAC_15, import_fails())
    if finished:
        forged["finished"] = finished
    forged_path = write_record(forged, reports / "sessions")
    write_record(verify_record(plugin_row(matrix), t(20), MAC_15, PROBES_OK), reports / "sessions")
    out = report(matrix, reports)
    assert rejected(out) == {f"sessions/{forged_path.name}": reason}
    assert out.data["changes"] == [] and out.data["record_count"] == 1
    row = out.row(0, "3.10", "2.17.0", "1.1.0")
    assert row["values"]["import"]["state"] == "ok"


def test_duplicate_keys_are_rejected(matrix, reports):
    """The issue's record: a head that says fail, a body that says ok, in one file."""
    path = write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), reports / "sessions")
    text = path.read_text()
    assert text.count('\n "verdict": "ok"') == 1
    text = text.replace('\n "verdict": "ok"', '\n "verdict": "fail"')
    path.write_text(text[: text.rindex("}")] + ', "verdict": "ok"}\n')
    out = report(matrix, reports)
    assert rejected(out) == {f"sessions/{path.name}": "key 'verdict' given twice in one object"}
    assert out.data["record_count"] == 0


def test_a_number_that_is_not_finite_is_not_read(matrix, reports):
    """msgspec, which decodes records, refuses a number out of range itself (so did main)."""
    path = write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), reports / "sessions")
    text = path.read_text()
    path.write_text(text.replace('"seconds": 8.1', '"seconds": 1e400', 1))
    out = report(matrix, reports)
    [skipped] = out.data["skipped"]
    assert skipped["name"] == f"sessions/{path.name}" and "Number out of range" in skipped["reason"]
    assert out.data["record_count"] == 0


# 4. Configuration that cannot produce a wrong verdict


@pytest.mark.parametrize("probe", ["import", "devices", "fit", "agree"])
def test_a_timeout_under_the_import_floor_is_refused_at_load(tmp_path, probe):
    """The issue's ``import = 1``: a pair whose import takes 1.6 s would be recorded as failing.
    Every judged probe imports TensorFlow first, so each has the floor."""
    text = f"[defaults.timeouts]\n{probe} = 1\n" + ROWS
    with pytest.raises(MatrixError) as raised:
        parse_matrix(tmp_path / "m.toml", text)
    assert str(raised.value) == (
        f"m.toml: [defaults.timeouts]: key '{probe}': 1 s is less than the import of TensorFlow needs "
        "(the floor is 60 s: see docs/matrix.md); a timeout there would fail the pair"
    )


def test_timeouts_at_the_floor_and_a_short_speedup_are_accepted(tmp_path):
    """The floor is the judged probes': the speed-up is a measurement, it never decides."""
    parsed = parse_matrix(tmp_path / "m.toml", "[defaults.timeouts]\nimport = 60\nspeedup = 1\n" + ROWS)
    assert (parsed.timeouts["import"], parsed.timeouts["speedup"]) == (60.0, 1.0)


@pytest.mark.parametrize(
    "pairs",
    [
        (
            'tf = "2.19"\nmetal = "1.2.0"\nsupports = "yes"',
            'tf = "2.19.0"\nmetal = "1.2.0"\nsupports = "yes"',
        ),
        (
            'tf = "2.19.0"\nmetal = "1.2"\nsupports = "yes"',
            'tf = "2.19.0"\nmetal = "1.2.0"\nsupports = "yes"',
        ),
        ('tf = "2.19.0.0"\nmetal = "none"', 'tf = "2.19"\nmetal = "none"'),
    ],
)
def test_a_pair_spelled_two_ways_is_one_row(tmp_path, pairs):
    text = "".join(f"[[row]]\n{pair}\n" for pair in pairs)
    with pytest.raises(MatrixError, match=r"^m\.toml: row 2 \(.*\): duplicate row, same as row 1$"):
        parse_matrix(tmp_path / "m.toml", text)


# 5. Bounded everything: one line naming the file, never a traceback, never a hang


def run_noxfile_list(tmp_path, matrix_text: str) -> subprocess.CompletedProcess:
    """``python3 noxfile.py -l`` past the hand-over to uv (its own Python: the test's)."""
    path = tmp_path / "m.toml"
    path.write_text(matrix_text)
    env = {**os.environ, "TFCOMPAT_EXPECTED": str(path), "TFCOMPAT_HANDED_OVER": str(os.getpid())}
    return subprocess.run(
        [sys.executable, str(ROOT / "noxfile.py"), "-l"], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )  # fmt: skip


def test_a_matrix_error_is_one_line_once_and_every_other_session_is_listed(tmp_path):
    """The issue's 5,000-digit version: a ValueError traceback from packaging and no session
    listed; and every matrix error printed twice per call. Now: the line once, lint and tests
    listed."""
    done = run_noxfile_list(tmp_path, f'[[row]]\ntf = "2.{"9" * 5000}"\nmetal = "none"\n')
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("tfcompat: ")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("tfcompat: m.toml: row 1: key 'tf': '2.999")
    assert errors[0].endswith("... is not a plausible release (too long or too large)")
    assert "- lint ->" in done.stdout and "- tests ->" in done.stdout


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f'[[row]]\ntf = "2.{"9" * 5000}"\nmetal = "none"\n', "key 'tf': '2.999"),
        ('[[row]]\ntf = "2.19.0"\nmetal = "1.' + "1" * 5000 + '"\nsupports = "yes"\n', "key 'metal': '1.111"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML: nested too deep"),
        ("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "invalid TOML: nested too deep"),
        ("[" + "a." * 5000 + "b]\n", "unknown top-level key 'a'"),
        (
            '[[row]]\ntf = "2.19.0"\nmetal = "1.2.0"\nsupports' + ".a" * 5000 + " = 1\n",
            "key 'supports': must be one of yes, no, ambiguous, got {'a': {",
        ),
        ("[defaults]\npython" + ".a" * 5000 + " = 1\n[[row]]\n", "key 'python': must be a Python version"),
    ],
)
def test_a_matrix_out_of_bounds_is_one_line(tmp_path, text, line):
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(MatrixError) as raised:
        load_matrix(path)
    assert str(raised.value).startswith("m.toml: ") and line in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)


def confined(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python of its own with 2 GB of address space and 120 s: code that reads
    a device or a FIFO must not take the machine with it when it is wrong (it did, on main)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit, check=False
    )  # fmt: skip


def test_a_matrix_that_is_a_fifo_or_a_device_is_one_line_without_reading_it(tmp_path):
    """The issue's FIFO hung ``nox -l``; /dev/zero and /dev/full read until memory ran out."""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), Path("/dev/full"), tmp_path):
        done = confined(
            "from pathlib import Path\nfrom tfcompat.core.matrix import MatrixError, load_matrix\n"
            f"try:\n    load_matrix(Path({str(path)!r}))\nexcept MatrixError as exc:\n    print(exc)\n"
        )
        assert done.stdout == f"{path}: not a regular file (a FIFO, device or folder): not read\n", (
            done.stderr
        )


def test_a_huge_matrix_is_not_read(tmp_path):
    path = tmp_path / "m.toml"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MB that take no disk
    with pytest.raises(MatrixError, match=r"m\.toml: larger than 1 MiB: not read$"):
        load_matrix(path)


def test_a_record_nested_deep_is_skipped_and_the_report_written(matrix, reports):
    """The issue's record nested 1,000 deep (4 KB): a RecursionError and no report."""
    sessions = reports / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "deep.json").write_text(
        '{"schema": 2, "kind": "verify", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    )
    (sessions / "deep-head.json").write_text("[" * 5000 + "]" * 5000)
    write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), sessions)
    write_reports(matrix, reports)  # not the tests' ``report``: its own json.loads would recurse
    data = json.loads((reports / "compatibility.json").read_text())
    skipped = {item["name"]: item["reason"] for item in data["skipped"]}
    assert skipped == {
        "sessions/deep.json": "nested deeper than 64 levels: not read",
        "sessions/deep-head.json": "nested deeper than 64 levels: not read",
    }
    assert data["record_count"] == 1


def test_a_sessions_folder_that_is_a_link_is_refused_and_said(tmp_path, matrix, reports, monkeypatch):
    """The issue's ``sessions/`` link: abi wrote through it, the report read 0 records and said
    nothing. Now every session refuses it at start, and the report lists it."""
    elsewhere = tmp_path / "elsewhere"
    write_record(verify_record(plugin_row(matrix), t(2), MAC_15, PROBES_OK), elsewhere)
    reports.mkdir()
    (reports / "sessions").symlink_to(elsewhere)
    monkeypatch.setenv("TFCOMPAT_REPORTS", str(reports))
    assert config.check_folders() == [
        f"the records folder {reports / 'sessions'} is a link: records are neither written nor read "
        "through it; make it a folder, or set TFCOMPAT_REPORTS to a folder you can write to"
    ]
    out = report(matrix, reports)
    assert {item["name"]: item["reason"] for item in out.data["skipped"]} == {
        "sessions": "a link to a folder: not followed"
    }


def test_map_checks_the_reports_folder_before_any_work(tmp_path):
    """``TFCOMPAT_REPORTS`` naming a file: the map ends at once with one line, before it asks
    the index anything (which is unreachable here, and would be the first thing said)."""
    afile = tmp_path / "reports"
    afile.write_text("not a folder")
    env = {
        **os.environ,
        "TFCOMPAT_REPORTS": str(afile),
        "TFCOMPAT_EXPECTED": str(ROOT / "expected.toml"),
        "TFCOMPAT_INDEX_URL": "http://127.0.0.1:9/simple/",
    }
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "map"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        f"Session map aborted: the reports folder {afile} is a file, not a folder: set TFCOMPAT_REPORTS "
        "to a folder you can write to." in done.stderr
    )
    assert "Traceback" not in done.stderr and "127.0.0.1:9" not in done.stderr


@pytest.mark.parametrize(
    ("files_list", "why"),
    [
        ([1, "x", None], "files[0]: not a file entry"),
        ([metal_entry(size=1e400)], "1e400 is not a finite number"),
        ([metal_entry(size=1.5)], "files[0]: 'size' is not a size in bytes"),
        ([metal_entry(size=-1)], "files[0]: 'size' is not a size in bytes"),
        ([metal_entry(size=True)], "files[0]: 'size' is not a size in bytes"),
        ([metal_entry(hashes={"sha256": "x"})], "files[0]: 'hashes' has no sha256 of 64 hex digits"),
        ([metal_entry(filename=7)], "files[0]: 'filename' is not a file name of at most 255 characters"),
        ([metal_entry(filename="tensorflow_metal-1." + "9" * 5000 + "-cp310-cp310-macosx_12_0_arm64.whl")],
         "files[0]: 'filename' is not a file name of at most 255 characters"),
        ([metal_entry(filename="../tensorflow_metal-1.2.0-cp310-cp310-macosx_12_0_arm64.whl")],
         "files[0]: 'filename' is not a file name of at most 255 characters"),
        ([metal_entry(**{"upload-time": 5})], "files[0]: 'upload-time' is not a time"),
        ([metal_entry(), metal_entry(url=5)], "files[1]: 'url' is not a URL of at most 4096 characters"),
        ([metal_entry(yanked=[1])], "files[0]: 'yanked' is neither true, false nor a reason"),
    ],
)  # fmt: skip
def test_an_index_answer_out_of_bounds_is_one_line(index, tmp_path, files_list, why):
    """The issue's ``files`` of ``1, "x", null`` (AttributeError in the map) and size ``1e400``
    (OverflowError), and variants: one line naming the URL, for claims and for the map."""
    answer(
        index,
        "tensorflow-metal",
        files_list,
        raw=json.dumps({"files": files_list}).replace("Infinity", "1e400").encode(),
    )
    url = f"{index.url}/simple/tensorflow-metal/"
    with pytest.raises(pypi.IndexAnswerError) as raised:
        pypi.macos_wheels("tensorflow-metal")
    assert str(raised.value) == f"{url}: corrupt index answer: {why}"
    with pytest.raises(pairmap.MapError) as raised:
        pairmap.index_wheels("tensorflow-metal", root=tmp_path / "cache", log=print, unreachable=[])
    assert str(raised.value).startswith(f"{url}: corrupt index answer: {why}; no earlier answer is cached")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than 64 levels: not read"),
        (b'{"files": [], "files": []}', "key 'files' given twice in one object"),
    ],
)
def test_an_index_answer_that_is_not_plain_json_is_one_line(index, raw, why):
    answer(index, "tensorflow-metal", [], raw=raw)
    with pytest.raises(pypi.IndexAnswerError) as raised:
        pypi.macos_wheels("tensorflow-metal")
    assert str(raised.value) == f"{index.url}/simple/tensorflow-metal/: corrupt index answer: {why}"


def test_an_index_answer_over_its_cap_is_one_line(index, monkeypatch):
    monkeypatch.setattr(pypi, "MAX_ANSWER_BYTES", 1 << 20)
    answer(index, "tensorflow-metal", [metal_entry()] * 5000)  # 1.7 MB
    with pytest.raises(pypi.IndexAnswerError) as raised:
        pypi.macos_wheels("tensorflow-metal")
    assert (
        str(raised.value) == f"{index.url}/simple/tensorflow-metal/: corrupt index answer: larger than 1 MiB"
    )


def test_the_maps_index_snapshot_serves_no_hostile_answer(index):
    """The local index uv resolves the map's preflights through: a hostile answer is a 502 (uv
    says the index failed: no verdict), never a page whose file URL uv would follow."""
    import urllib.error
    import urllib.request

    from tfcompat.index.snapshot import IndexSnapshot

    answer(index, "tensorflow-metal", [metal_entry(url="file:///etc/os-release")])
    answer(index, "tensorflow", [metal_entry()])
    with IndexSnapshot() as url:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{url}tensorflow-metal/", timeout=30)
        assert raised.value.code == 502 and b"is neither https" in raised.value.read()
        with urllib.request.urlopen(f"{url}tensorflow/", timeout=30) as served:
            assert json.loads(served.read())["files"][0]["url"].startswith(url.removesuffix("simple/"))


def test_the_recorded_real_index_answers_pass_the_checks(index):
    """PyPI's own answers for the three projects the suite reads (recorded in tests/data) are
    accepted whole: the checks refuse the hostile, not the real."""
    for name in ("tensorflow", "tensorflow-metal"):
        answer(index, name, [], raw=(ROOT / "tests" / "data" / f"simple-{name}.json").read_bytes())
        assert pypi.macos_wheels(name)


def test_a_separator_line_of_a_megabyte_is_read_in_linear_time():
    """The issue's quadratic regex: 60 kB took 7.6 s, so this 1 MB line took about half an hour."""
    text = "| TensorFlow | tensorflow-metal |\n|-|" + " " * 1_000_000 + "x\n| v2.18 | v1.1.0 |\n"
    with pytest.raises(claims.ClaimsError, match="the compatibility table has no separator line"):
        claims.parse_table(text, wheel="1.2.0")
    for separator in ("| x | --- |", "| --- | x |", "| --- |  --- x"):
        with pytest.raises(claims.ClaimsError, match="the compatibility table has no separator line"):
            claims.parse_table(
                f"| TensorFlow | tensorflow-metal |\n{separator}\n| v2.18 | v1.1.0 |\n", wheel="1.2.0"
            )
    good = "| TensorFlow | tensorflow-metal |\n| :--- | ---: |\n| v2.14 - v2.18 | v1.1.0 |\n"
    assert claims.parse_table(good, wheel="1.2.0").rows[0].last == (2, 18)


def test_a_metadata_over_its_cap_is_one_line(index):
    """tensorflow-metal's METADATA, read from its wheel for the table: at most 1 MiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "tensorflow_metal-1.2.0.dist-info/METADATA", "Name: tensorflow-metal\n" + " " * (2 << 20)
        )
    data = out.getvalue()
    filename = "tensorflow_metal-1.2.0-cp310-cp310-macosx_12_0_arm64.whl"
    serve_file(index, filename, data)
    sha = hashlib.sha256(data).hexdigest()
    answer(index, "tensorflow-metal", [metal_entry(url=f"/files/{filename}", hashes={"sha256": sha})])
    with pytest.raises(claims.ClaimsError) as raised:
        claims.newest_table()
    assert str(raised.value) == f"{filename}: its METADATA is larger than 1 MiB"


def test_a_table_cell_of_5000_digits_is_one_line():
    text = "| TensorFlow | tensorflow-metal |\n|---|---|\n| v2." + "9" * 5000 + " | v1.1.0 |\n"
    with pytest.raises(
        claims.ClaimsError, match=r"^tensorflow-metal 1\.2\.0: unexpected table row '\| v2\.9999"
    ):
        claims.parse_table(text, wheel="1.2.0")


# 6. Caches that prove their content, not just their checksum


def test_a_cache_entry_that_is_a_link_fifo_or_huge_file(tmp_path):
    """A link to a file elsewhere, a link to a device, a FIFO: neither read, nor written through,
    nor removed (tfcompat did not make them). A regular file over the cap is an entry gone
    wrong: removed. Each with one line, and the answer computed again. (In a confined Python:
    a cache that writes through a link to a device replaces the device, as root.)"""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("someone's file")
    device = tmp_path / "device"
    if os.geteuid() == 0:
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is, here
    else:
        os.mkfifo(device)
    code = f"""
import logging, os
from pathlib import Path
from tfcompat.core import cache
logging.basicConfig(format="%(message)s")
folder, question = Path({str(tmp_path)!r}), {{"tf": "2.17.0"}}
(folder / "link.json").symlink_to(folder / "elsewhere.txt")
(folder / "device.json").symlink_to(folder / "device")
os.mkfifo(folder / "fifo.json")
with open(folder / "huge.json", "wb") as handle:
    handle.truncate(cache.MAX_ENTRY_BYTES + 1)  # sparse
for name in ("link", "device", "fifo"):
    assert cache.load_json(folder / f"{{name}}.json", question, valid=lambda value: True) is None
    cache.store_json(folder / f"{{name}}.json", question, {{"lock": "numpy==1.26.4"}})
assert cache.load_json(folder / "huge.json", question, valid=lambda value: True) is None
"""
    done = confined(code)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "device.json").is_symlink()
    assert (tmp_path / "fifo.json").is_fifo() and not (tmp_path / "huge.json").exists()
    assert elsewhere.read_text() == "someone's file" and not device.is_file()
    assert done.stderr.count("not a regular file: not read") == 3
    assert done.stderr.count("not a regular file: the answer is not cached there") == 3
    assert "larger than 256 MiB: not read; removed it" in done.stderr


def test_a_cache_entry_of_duplicate_keys_or_deep_json_is_removed(tmp_path, caplog):
    question = {"tf": "2.17.0"}
    path = tmp_path / "entry.json"
    for payload, why in (
        (b'{"lock": "a", "lock": "b"}', "key 'lock' given twice in one object"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 64 levels"),
        (b'{"size": 1e400}', "1e400 is not a finite number"),
    ):
        cache.store(path, question, payload)
        assert cache.load_json(path, question, valid=lambda value: True) is None and not path.exists()
        assert why in caplog.text


def test_an_old_style_sdist_name_is_not_judged_and_a_wheel_name_always_is():
    """Old sdists on an index often lack the standard name (``name-version.tar.gz``): their pins
    are judged by their version alone. A wheel's name always names its release."""
    from tfcompat.resolve.resolver import Pin, pins_problem

    def pin(filename: str) -> Pin:
        return Pin("termcolor", "1.1.0", filename, f"https://example.org/{filename}", "ab" * 32, 1, None)

    assert pins_problem([pin("termcolor-1.1.0.tar.bz2")], ["termcolor==1.1.0"]) is None
    assert pins_problem([pin("termcolor-1.1.0.tar.gz")], ["termcolor==1.1.0"]) is None
    assert pins_problem([pin("termcolor-1.0.0.tar.gz")], ["termcolor==1.1.0"]) == (
        "termcolor-1.0.0.tar.gz is not a file of termcolor 1.1.0"
    )
    assert pins_problem([pin("termcolor-1.0.0-py3-none-any.whl")], ["termcolor==1.1.0"]) == (
        "termcolor-1.0.0-py3-none-any.whl is not a file of termcolor 1.1.0"
    )


def test_a_wheel_with_two_metadata_files_is_not_read(tmp_path, index):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for version in ("1.1.0", "1.0.0"):
            archive.writestr(
                f"tensorflow_metal-{version}.dist-info/METADATA",
                f"Name: tensorflow-metal\nVersion: {version}\n",
            )
    data = out.getvalue()
    filename = "tensorflow_metal-1.1.0-cp310-cp310-macosx_12_0_arm64.whl"
    serve_file(index, filename, data)
    ref = WheelRef(
        "tensorflow-metal",
        "1.1.0",
        filename,
        f"{index.url}/files/{filename}",
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    with pytest.raises(WheelError) as raised:
        macwheels.facts(ref, root=tmp_path / "abi")
    assert str(raised.value) == f"{filename}: 2 METADATA files of at most 1 MiB, expected one"


def forge(path: Path, change) -> None:
    """Rewrite a cache entry's answer with ``change``, under a valid checksum: what anyone who
    can write the cache can do."""
    header, _, payload = path.read_bytes().partition(b"\n")
    cache.store_json(path, json.loads(header)["key"], change(json.loads(payload)))


def forged_ref(version_named: str, version_inside: str) -> dict:
    filename = f"tensorflow-{version_inside}-cp310-cp310-macosx_12_0_arm64.whl"
    return {
        "name": "tensorflow",
        "version": version_named,
        "filename": filename,
        "url": f"https://files.pythonhosted.org/packages/ab/cd/{filename}",
        "sha256": "ab" * 32,
        "size": 250_000_000,
    }


@pytest.mark.network
def test_a_resolution_naming_another_releases_wheel_is_removed_and_recomputed(tmp_path, caplog):
    """The issue's forged entry: a valid checksum over the 2.17.0 wheel named as 2.18.0. It no
    longer answers for 2.18.0: removed with one line, and asked of uv again."""
    root = tmp_path / "abi"
    path = macwheels._ref_path("tensorflow", "2.18.0", "3.10", root)
    cache.store_json(
        path, macwheels._ref_question("tensorflow", "2.18.0", "3.10"), forged_ref("2.18.0", "2.17.0")
    )
    [ref] = macwheels.resolve([("tensorflow", "2.18.0")], python="3.10", root=root)
    assert ref.filename.startswith("tensorflow-2.18.0-") and ref.sha256 != "ab" * 32
    assert f"cache: {path}: its content does not answer its question" in caplog.text


@pytest.mark.parametrize(
    "field",
    [
        {"url": "file:///etc/os-release"},
        {"version": "2.17.0"},
        {"sha256": "not hex"},
        {"size": "250 MB"},
        {"filename": "tensorflow-2.18.0-cp310-cp310-macosx_12_0_arm64.zip"},
    ],
)
def test_a_cached_wheel_reference_that_is_not_one_is_not_used(tmp_path, field, monkeypatch):
    """Variants of the forged entry, each with a valid checksum: none is returned. (uv is made
    unreachable here, so the recomputation it would start ends in one line instead.)"""
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    root = tmp_path / "abi"
    path = macwheels._ref_path("tensorflow", "2.18.0", "3.10", root)
    cache.store_json(
        path,
        macwheels._ref_question("tensorflow", "2.18.0", "3.10"),
        {**forged_ref("2.18.0", "2.18.0"), **field},
    )
    with pytest.raises(WheelError):
        macwheels.resolve([("tensorflow", "2.18.0")], python="3.10", root=root)
    assert not path.exists()


def wheel_bytes(name: str, version_inside: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            f"{name.replace('-', '_')}-{version_inside}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version_inside}\n",
        )
    return out.getvalue()


def test_a_wheel_whose_metadata_names_another_release_is_refused(tmp_path, index):
    """A wheel renamed to another release (its METADATA says 1.0.0, its name 1.1.0): refused
    when it is read, and its cached facts are not taken for the release it is not."""
    data = wheel_bytes("tensorflow-metal", "1.0.0")
    filename = "tensorflow_metal-1.1.0-cp310-cp310-macosx_12_0_arm64.whl"
    serve_file(index, filename, data)
    ref = WheelRef(
        "tensorflow-metal", "1.1.0", filename, f"{index.url}/files/{filename}", hashlib.sha256(data).hexdigest(), len(data)
    )  # fmt: skip
    root = tmp_path / "abi"
    with pytest.raises(WheelError) as raised:
        macwheels.facts(ref, root=root)
    assert (
        str(raised.value)
        == f"{filename}: its METADATA says tensorflow-metal 1.0.0, not tensorflow-metal 1.1.0"
    )
    # The same bytes read as what they are (1.0.0) are cached; asked as 1.1.0, they are not taken.
    honest = WheelRef(
        "tensorflow-metal", "1.0.0", filename.replace("1.1.0", "1.0.0"), ref.url, ref.sha256, ref.size
    )
    macwheels.facts(honest, root=root).close()
    with pytest.raises(
        WheelError, match="its METADATA says tensorflow-metal 1.0.0, not tensorflow-metal 1.1.0"
    ):
        macwheels.facts(ref, root=root)


@pytest.mark.network
def test_a_cached_resolution_of_wrong_types_or_releases_is_recomputed(tmp_path, caplog):
    """Forged macOS resolutions with valid checksums: a pin of the wrong type (a TypeError later,
    on main), and sets whose tensorflow is another release than the one asked for."""
    reqs = ["tensorflow==2.17.0", "tensorflow-metal==1.1.0"]
    date = "2024-07-12T00:00:00Z"
    honest = macresolve.resolve(reqs, python="3.10", exclude_newer=date, cache_dir=tmp_path)
    [path] = (tmp_path / "macresolve" / "v1" / "asof").iterdir()

    def tensorflow(**fields):
        return lambda answer: {
            "pins": [{**pin, **fields} if pin["name"] == "tensorflow" else pin for pin in answer["pins"]]
        }

    forgeries = [
        lambda answer: {"pins": [{**pin, "size": "1 GB"} for pin in answer["pins"]]},
        lambda answer: {"pins": [{**pin, "uploaded": 5} for pin in answer["pins"]]},
        tensorflow(version="2.16.1"),
        tensorflow(version="2.16.1", filename="tensorflow-2.16.1-cp310-cp310-macosx_12_0_arm64.whl"),
        lambda answer: {"pins": [pin for pin in answer["pins"] if pin["name"] != "tensorflow"]},
    ]
    for change in forgeries:
        forge(path, change)
        assert macresolve.resolve(reqs, python="3.10", exclude_newer=date, cache_dir=tmp_path) == honest
    assert caplog.text.count("its content does not answer its question") == len(forgeries)


@pytest.mark.network
def test_a_cached_verify_resolution_of_another_release_is_recomputed(tmp_path, monkeypatch, caplog):
    """The resolution verify installs from (this machine's, binary wheels only), forged the
    same ways: each is removed and asked of uv again."""
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    interpreter, version = provision.find_interpreter(PYTHON, deadline=time.monotonic() + 60)
    requirements = ["tensorflow-cpu==2.17.0"]

    def resolve():
        deadline = time.monotonic() + 300
        date = provision.release_date(requirements, interpreter, version, deadline=deadline)
        return provision.resolve(requirements, (), interpreter, version, date, deadline=deadline)

    honest = resolve()
    [path] = (tmp_path / "cache" / "resolve").iterdir()
    other = "tensorflow_cpu-2.16.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    forgeries = [
        lambda answer: {**answer, "later": 5},
        lambda answer: {**answer, "pins": [{**pin, "version": "2.16.1"} if "tensorflow" in pin["name"] else pin for pin in answer["pins"]]},
        lambda answer: {**answer, "pins": [{**pin, "version": "2.16.1", "filename": other} if pin["name"] == "tensorflow-cpu" else pin for pin in answer["pins"]]},
    ]  # fmt: skip
    for change in forgeries:
        forge(path, change)
        assert resolve().pins == honest.pins
    assert caplog.text.count("its content does not answer its question") == len(forgeries)


def test_a_cached_preflight_of_another_release_is_not_the_pairs(tmp_path, caplog):
    """The map's preflight of tf 2.18.0 + 1.1.0, cached with a valid checksum, whose set holds
    tensorflow 2.17.0: not taken for the pair (it would say the pair installs as that set)."""
    from datetime import UTC, datetime

    def release(name: str, version: str) -> pairmap.MapRelease:
        filename = f"{name.replace('-', '_')}-{version}-cp310-cp310-macosx_12_0_arm64.whl"
        wheel = pairmap.IndexWheel(
            name, version, filename, f"https://files.pythonhosted.org/{filename}", "ab" * 32, 1,
            uploaded=datetime(2024, 10, 1, tzinfo=UTC), python="3.10", macos="12.0",
        )  # fmt: skip
        return pairmap.MapRelease(version, {"3.10": wheel}, {"3.10": wheel})

    tf, metal = release("tensorflow", "2.18.0"), release("tensorflow-metal", "1.1.0")
    path, question = pairmap._preflight_entry(tf, metal, "3.10", tmp_path)
    answer = {"status": "installs", "exclude_newer": "2024-10-02T00:00:00Z", "missing": [], "sdists": []}
    honest = {**answer, "packages": ["numpy==2.0.2", "tensorflow==2.18.0", "tensorflow-metal==1.1.0"]}
    cache.store_json(path, question, honest)
    assert pairmap._cached_preflight(tf, metal, "3.10", tmp_path) == honest
    cache.store_json(
        path, question, {**answer, "packages": ["tensorflow==2.17.0", "tensorflow-metal==1.1.0"]}
    )
    assert pairmap._cached_preflight(tf, metal, "3.10", tmp_path) is None and not path.exists()
    assert "its content does not answer its question" in caplog.text
