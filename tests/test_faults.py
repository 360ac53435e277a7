"""The fault catalogue (issue 5): real processes and files; each fault classified, nothing lost.

Faults 1 - 4 are in test_plugin_failures.py, 9 in test_verify_sessions.py, 14 in
test_matrix.py; the run's summary lists them all.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from helpers.paths import PYTHON, ROOT, TF_MAIN
from helpers.plugins import build_plugin
from helpers.processes import pid_gone, processes_mapping
from helpers.sessions import CONTROL, QUICK_FIT, run_nox
from tfcompat.core.host import host_info
from tfcompat.core.matrix import Row
from tfcompat.core.record import Record, RecordError, load_record, new_record, write_record
from tfcompat.verify.run import judge
from tfcompat.verify.runner import TAIL_BYTES, run_probe

ROW = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
RECORD_NAME = re.compile(
    r"verify-py3\.\d+-tf[0-9a-z.]+-metal(none|[0-9a-z.]+)-\d{8}T\d{6}-[0-9a-f]{8}(-\d+)?\.json"
)


MATRIX = [{"tf": TF_MAIN, "metal": "none"}, {"tf": "2.5.0", "metal": "none"}]


def a_record() -> dict:
    """A verify record of this host that fits the record model."""
    record = new_record("verify", ROW, host=host_info(), tools={}, started="2026-01-01T00:00:00+00:00")
    return {**record, "provision": {"status": "ok"}, "probes": {}, "verdict": "ok"}


def sessions(reports: Path) -> list[Path]:
    """The record files in the reports folder (each verify record has its ``.logs`` folder beside it)."""
    return sorted((reports / "sessions").glob("*.json"))


def everything(reports: Path) -> list[Path]:
    """Every file and folder in the sessions folder, hidden ones included."""
    folder = reports / "sessions"
    return sorted(folder.iterdir()) if folder.exists() else []


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(body)
    return path


@pytest.mark.fault(5)
def test_hang_kills_the_whole_process_group(tmp_path):
    probe = script(
        tmp_path,
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print('child', child.pid, file=sys.stderr, flush=True)\n"
        "time.sleep(300)\n",
    )
    run = run_probe(Path(sys.executable), probe, [], timeout=2)
    result = judge("import", run, row=ROW, timeout=2)
    assert result.timed_out and result.signature == "timeout after 2 s"
    child = int(re.search(r"child (\d+)", run.stderr_tail).group(1))
    assert pid_gone(child), f"the probe's child {child} outlived the timeout"


def test_pid_gone_tells_a_running_process_from_an_ended_one():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert not pid_gone(sleeper.pid, within=0.5)
    finally:
        sleeper.kill()
    assert pid_gone(sleeper.pid)  # a zombie until waited for, and ended all the same
    sleeper.wait()
    assert pid_gone(sleeper.pid)


@pytest.mark.fault(6)
def test_probe_that_prints_no_json(tmp_path):
    run = run_probe(Path(sys.executable), script(tmp_path, "print('hello, not JSON')\n"), [], timeout=30)
    result = judge("devices", run, row=ROW, timeout=30)
    assert (result.status, result.signature) == ("fail", "probe produced no result")
    assert result.stdout_tail == "hello, not JSON\n"


#: Run in a fresh interpreter: ``ru_maxrss`` is a high-water mark, so in the test process an earlier
#: test's allocation would hide any growth. Prints the growth (KiB) and what the runner kept.
_MEASURE_RUNNER = """
import json, os, platform, resource, sys
from pathlib import Path
from tfcompat.verify.runner import run_probe
probe, logs, echo = sys.argv[1:]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(os.devnull, "wb") as devnull:
    run = run_probe(Path(sys.executable), Path(probe), [], timeout=120,
                    log_dir=Path(logs) if logs else None, echo=devnull if echo else None)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_kib": grown // 1024 if platform.system() == "Darwin" else grown,
                  "tail": run.stdout_tail, "result": run.result}))
"""


@pytest.mark.fault(6)
@pytest.mark.parametrize("copied", [False, True], ids=["to a file", "to a file and the terminal"])
def test_probe_that_prints_100_mb_keeps_memory_bounded(tmp_path, copied):
    probe = script(
        tmp_path,
        "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(100 * 1024):\n    sys.stdout.write(line)\n",
    )
    logs = tmp_path / "logs"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE_RUNNER,
            str(probe),
            str(logs) if copied else "",
            "1" if copied else "",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    assert measured["result"] is None
    assert measured["tail"].startswith(f"[... {100 * 1024 * 1024 - TAIL_BYTES} earlier bytes cut ...]")
    assert len(measured["tail"]) < TAIL_BYTES + 100
    assert measured["grown_kib"] < 20 * 1024, f"the runner grew by {measured['grown_kib']} KiB reading 100 MB"
    if copied:
        assert (logs / "probe.stdout.txt").stat().st_size == 100 * 1024 * 1024  # all of it, in the log


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(7)
def test_loss_that_goes_nan_fails_the_pair(tmp_path, matrix, tf_python):
    reports = tmp_path / "reports"
    done = run_nox(
        "-s", CONTROL, "--", *QUICK_FIT, "--learning-rate", "inf", matrix=matrix.path, reports=reports
    )
    assert done.returncode == 1
    assert "fails: fit: non-finite loss" in done.stderr
    [path] = sessions(reports)
    record = load_record(path)  # strict JSON: no NaN or Infinity in the file
    assert record.verdict == "fail"
    assert record.probes["fit"].result["epochs"][0]["loss"] is None


@pytest.mark.slow
@pytest.mark.fault(8)
def test_no_network_is_a_provisioning_error_and_keeps_earlier_records(tmp_path, matrix):
    reports = tmp_path / "reports"
    earlier = write_record(a_record(), reports / "sessions")
    before = earlier.read_bytes()
    offline = {
        "TFCOMPAT_CACHE": str(tmp_path / "empty-cache"),  # nothing resolved yet: the index is needed
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens on the discard port
        "UV_HTTP_RETRIES": "0",
    }
    done = run_nox("-s", CONTROL, matrix=matrix.path, reports=reports, env=offline, timeout=300)
    assert done.returncode == 1
    assert "no verdict: uv pip: network unreachable: cannot get http://127.0.0.1:9/simple/" in done.stderr
    assert earlier.read_bytes() == before
    [new] = [load_record(p) for p in sessions(reports) if p != earlier]
    assert (new.verdict, new.provision.signature) == ("error", "index unreachable")


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(10)
def test_no_wheel_for_this_python_names_the_missing_tag(tmp_path, matrix):
    reports = tmp_path / "reports"
    done = run_nox("-s", "verify(tf='2.5.0', metal='none')", matrix=matrix.path, reports=reports, timeout=300)
    assert done.returncode == 1
    tag = f"cp{PYTHON.replace('.', '')}"
    assert f"no verdict: uv pip: tensorflow-cpu==2.5.0 has no wheel for {tag} (Python ABI tag)" in done.stderr
    [path] = sessions(reports)
    assert load_record(path).provision.signature == "no matching wheel"


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(11)
@pytest.mark.parametrize("how", ["SIGTERM to nox", "Ctrl-C (SIGINT to the process group)"])
def test_interrupted_session_leaves_nothing_behind(tmp_path, matrix, tf_python, how):
    reports = tmp_path / "reports"
    library = build_plugin(tmp_path / "plugin", "hang")
    env = {
        **os.environ,
        "TFCOMPAT_EXPECTED": str(matrix.path),
        "TFCOMPAT_REPORTS": str(reports),
        "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library),
    }
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", CONTROL]
    nox = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A shell that runs this suite in the background ignores SIGINT, and a child inherits
        # that: nox must get Ctrl-C as a terminal would send it, whatever started the tests.
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 120
    while not processes_mapping(library) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mapping(library), "the probe never loaded the hanging plugin"
    if how.startswith("SIGTERM"):
        nox.send_signal(signal.SIGTERM)
    else:
        os.killpg(nox.pid, signal.SIGINT)
    nox.communicate(timeout=30)
    assert nox.returncode != 0
    assert processes_mapping(library) == []
    assert everything(reports) == []  # no record of an interrupted run, no logs, no temporary file

    done = run_nox("-s", CONTROL, "--", *QUICK_FIT, matrix=matrix.path, reports=reports)
    assert done.returncode == 0, done.stderr[-2000:]
    [record] = sessions(reports)
    assert load_record(record).verdict == "ok"
    assert everything(reports) == [record, record.with_suffix(".logs")]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(12)
def test_two_sessions_at_once_both_write_their_record(tmp_path, matrix, tf_python):
    reports = tmp_path / "reports"
    env = {**os.environ, "TFCOMPAT_EXPECTED": str(matrix.path), "TFCOMPAT_REPORTS": str(reports)}
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", CONTROL, "--", *QUICK_FIT]
    runs = [
        subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr[-2000:]
    records = [load_record(p) for p in sessions(reports)]
    assert len(records) == 2 and len({r.id for r in records}) == 2
    assert all(r.verdict == "ok" for r in records)


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _write_same_record_many_times(folder: str, record: dict, count: int) -> None:
    for _ in range(count):
        write_record(record, Path(folder))


@pytest.mark.fault(12)
def test_records_with_the_same_name_never_overwrite_each_other(tmp_path):
    record = a_record()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_same_record_many_times, args=(str(tmp_path), record, 20))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    files = sorted(tmp_path.iterdir())
    assert len(files) == 40 and all(RECORD_NAME.fullmatch(f.name) for f in files)
    assert all(load_record(f) == msgspec.convert(record, Record) for f in files)


@pytest.mark.fault(15)
def test_crafted_version_never_reaches_a_shell(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[row]]\ntf = "$(touch pwned)"\nmetal = "none"\n')
    error = "tfcompat: m.toml: row 1: key 'tf': '$(touch pwned)' is not a valid version"
    listed = run_nox("-l", matrix=matrix, reports=tmp_path / "reports", timeout=120)
    assert listed.stderr.strip() == error  # the list still works: a broken matrix stops only its sessions
    done = run_nox("-s", "report", matrix=matrix, reports=tmp_path / "reports", timeout=120)
    assert done.returncode != 0 and error in done.stderr
    assert not (ROOT / "pwned").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(15)
def test_crafted_error_text_is_kept_verbatim_and_runs_nothing(tmp_path, matrix, tf_python):
    reports = tmp_path / "reports"
    folder = tmp_path / "a;$(touch pwned)`touch pwned2`<script>&"
    library = build_plugin(folder, "undefined")
    done = run_nox(
        "-s",
        CONTROL,
        matrix=matrix.path,
        reports=reports,
        env={"TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library)},
    )
    assert done.returncode == 1
    [path] = sessions(reports)
    assert RECORD_NAME.fullmatch(path.name) and path.parent == reports / "sessions"
    error = load_record(path).probes["import"].error
    assert f"{library}: undefined symbol: tfcompat_missing_symbol" in error
    assert not list(ROOT.glob("pwned*")) and not list(tmp_path.glob("pwned*"))


@pytest.mark.fault(15)
def test_no_shell_anywhere():
    sources = [*ROOT.glob("tfcompat/*.py"), *ROOT.glob("probes/*.py"), ROOT / "noxfile.py"]
    offenders = [str(p) for p in sources if "shell=True" in p.read_text() or "os.system(" in p.read_text()]
    assert offenders == []


@pytest.mark.fault(13)
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"schema": 2, "kind": "verify", "id": ' + b"9" * 5000 + b"}", "Number out of range"),
        (b"[" * 100_000, "nested deeper than 64 levels: not read"),
        (b"\xff\xfe not utf-8", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
    ids=["5000-digit integer", "deep nesting", "not UTF-8", "empty"],
)
def test_hostile_json_is_a_one_line_record_error(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(RecordError) as caught:
        load_record(path)
    message = str(caught.value)
    assert message.startswith(f"bad.json: {reason}") and "\n" not in message
