"""Files the suite writes: the umask's mode, symlinks kept, orphans of killed runs removed,
configured folders checked at start. Real processes killed with SIGKILL, real nox runs."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import tomlkit

from helpers.index import LocalIndex, Response, recorded_index
from helpers.matrix import write_matrix
from helpers.paths import PYTHON, ROOT
from helpers.sessions import run_nox
from tfcompat.core import cache, config, files
from tfcompat.core.matrix import Row, load_matrix
from tfcompat.core.record import new_record, now, write_record
from tfcompat.index import wheels
from tfcompat.report import write_reports
from tfcompat.upkeep import claims

# Modes: what the umask says, for every kind of file


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    files.file_mode.cache_clear()
    yield request.param
    os.umask(old)
    files.file_mode.cache_clear()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


#: A real host section of this machine's kind (the record model requires these fields).
HOST = {"os": "Linux", "os_version": "6.1", "machine": "x86_64", "python": "3.11.7"}


def a_record(tmp_path: Path) -> Path:
    row = Row(number=1, python=PYTHON, tf="2.17.0", metal="none", supports=None)
    record = new_record("verify", row, host=HOST, tools={}, started=now())
    record.update(verdict="error", finished=now(), provision={"status": "error", "error": "x"}, probes={})
    return write_record(record, tmp_path / "reports" / "sessions")


@pytest.mark.fault(22)
def test_every_file_gets_the_umasks_mode(tmp_path, umask, monkeypatch):
    expected = 0o666 & ~umask
    record = a_record(tmp_path)
    cache.store(tmp_path / "cache" / "entry.json", {"q": 1}, b"{}")
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": "2.17.0", "metal": "none"}])
    os.chmod(matrix, 0o600)  # a rewritten matrix gets the umask's mode too
    claims.write_matrix(matrix, tomlkit.parse(matrix.read_text()))
    reports = write_reports(load_matrix(matrix), tmp_path / "reports")
    written = [record, tmp_path / "cache" / "entry.json", matrix, *reports]
    assert {path.name: oct(mode(path)) for path in written} == {path.name: oct(expected) for path in written}


@pytest.mark.fault(22)
def test_a_symlinked_matrix_is_edited_at_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = write_matrix(
        tmp_path / "real" / "expected.toml", [{"tf": "2.17.0", "metal": "1.1.0", "supports": "no"}]
    )
    (tmp_path / "links").mkdir()
    hop = tmp_path / "links" / "hop.toml"
    hop.symlink_to(os.path.relpath(target, hop.parent))
    link = tmp_path / "expected.toml"
    link.symlink_to(hop)  # a chain: link -> hop -> target
    document = tomlkit.parse(link.read_text())
    document["row"][0]["supports"] = "yes"
    claims.write_matrix(link, document)
    assert link.is_symlink() and hop.is_symlink() and os.readlink(link) == str(hop)
    assert 'supports = "yes"' in target.read_text() and mode(target) == files.file_mode()
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "expected.toml",
        "expected.toml",
        "hop.toml",
        "links",
        "real",
    ]


@pytest.mark.fault(22)
def test_claims_write_through_a_symlinked_matrix_in_a_real_nox_run(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    target = write_matrix(
        tmp_path / "real" / "expected.toml", [{"tf": "2.17.0", "metal": "1.1.0", "supports": "no"}]
    )
    link = tmp_path / "expected.toml"
    link.symlink_to(target)
    with recorded_index(tmp_path / "cache", monkeypatch):
        done = run_nox("-s", "claims", "--", "--write", matrix=link, reports=tmp_path / "reports")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and 'supports = "yes"' in target.read_text()


# Orphans of killed runs: temporaries live in folders that carry their owner's pid, token and lock


def slow_body():
    """A 200 MB body, 64 kB every 10 ms: a download that is still running when it is killed."""
    for _ in range(200_000_000 // 65536):
        yield bytes(65536)
        time.sleep(0.01)


def _python(code: str, tmpdir: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, **kwargs)


def _wait_for(condition, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.fault(20)
def test_a_download_killed_with_sigkill_is_removed_by_the_next_run(tmp_path):
    server = LocalIndex()
    server.routes["/slow.whl"] = Response(body=slow_body, length=200_000_000)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    ref = wheels.WheelRef(
        "tensorflow", "2.99.0", "tensorflow-2.99.0-cp310-cp310-macosx_12_0_arm64.whl",
        f"{server.url}/slow.whl", "0" * 64, 200_000_000,
    )  # fmt: skip
    code = (
        "import pathlib\nfrom tfcompat.abi import macwheels\nfrom tfcompat.index import wheels\n"
        f"macwheels.facts(wheels.WheelRef(**{ref.__dict__!r}), root=pathlib.Path({str(tmp_path / 'cache')!r}))\n"
    )
    try:
        killed = _python(code, tmpdir)
        downloads = lambda: list(tmpdir.glob(f"tfcompat-wheel-{killed.pid}-*/*.whl"))  # noqa: E731
        _wait_for(lambda: downloads() and downloads()[0].stat().st_size > 2_000_000)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait() == -signal.SIGKILL
    finally:
        server.close()
    [orphan] = tmpdir.glob("tfcompat-wheel-*")
    assert downloads()[0].stat().st_size > 2_000_000  # the killed run could not clean up
    # The next run: a real abi read of another (small, local) wheel.
    wheel = tmp_path / "tensorflow_metal-9.9.9-cp310-cp310-macosx_12_0_arm64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tensorflow_metal-9.9.9.dist-info/METADATA", "Name: tensorflow-metal\n")
    small = wheels.WheelRef(
        "tensorflow-metal",
        "9.9.9",
        wheel.name,
        wheel.as_uri(),
        hashlib.sha256(wheel.read_bytes()).hexdigest(),
        1,
    )
    nxt = _python(
        "import pathlib\nfrom tfcompat.abi import macwheels\nfrom tfcompat.index import wheels\n"
        f"macwheels.facts(wheels.WheelRef(**{small.__dict__!r}), root=pathlib.Path({str(tmp_path / 'cache')!r}))\n",
        tmpdir,
    )
    assert nxt.wait(timeout=120) == 0
    assert not orphan.exists() and not list(tmpdir.iterdir())


@pytest.mark.fault(20)
def test_a_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    folder = tmp_path / "sessions"
    holder = (
        "import pathlib, sys, time\nfrom tfcompat.core import files\n"
        f"with files._temporary_file(pathlib.Path({str(folder)!r}), '.json') as (handle, tmp):\n"
        "    handle.write(b'{' * 1000); handle.flush(); print(tmp.parent.name, flush=True); time.sleep(600)\n"
    )
    folder.mkdir()
    killed = _python(holder, tmp_path, stdout=subprocess.PIPE, text=True)
    living = _python(holder, tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        orphan, live = folder / killed.stdout.readline().strip(), folder / living.stdout.readline().strip()
        assert orphan.name.startswith(f".tmp-{killed.pid}-") and live.name.startswith(f".tmp-{living.pid}-")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert orphan.exists()
        done = subprocess.run(
            [sys.executable, "-c", f"from tfcompat.core import files; import pathlib; files.write_atomic(pathlib.Path({str(folder / 'a.json')!r}), '{{}}')"],
            cwd=ROOT, check=False, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert not orphan.exists() and live.exists(), "only the file whose owner is gone is removed"
        assert sorted(p.name for p in folder.iterdir()) == sorted(["a.json", live.name])
    finally:
        living.kill()
        living.wait()


def _owned_by(folder: Path, pid: int) -> Path:
    """A folder of temporaries as ``files.owned_folder`` makes it, for the process ``pid``."""
    token = "0123456789abcdef"
    path = folder / f".tmp-{pid}-{token}"
    path.mkdir()
    (path / files.MARKER).write_text(f"tfcompat {pid} {token}\n")
    (path / "payload.json").write_text("{")
    return path


def test_a_live_owners_file_is_kept_before_it_is_locked(tmp_path):
    """Between giving its folder the marker and locking it, the owner is alive: its pid says so."""
    owner = subprocess.Popen(["sleep", "600"])
    try:
        path = _owned_by(tmp_path, owner.pid)
        assert files.sweep(tmp_path) == [] and path.exists()
    finally:
        owner.kill()
        owner.wait()
    assert files.sweep(tmp_path) == [path]


def test_a_dead_pid_whose_lock_is_held_is_kept(tmp_path):
    """A process in another pid namespace (a container sharing the folder) looks dead by pid."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = _owned_by(tmp_path, gone.pid)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert files.sweep(tmp_path) == [] and path.exists()
    finally:
        os.close(fd)
    assert files.sweep(tmp_path) == [path] and not path.exists()


# Configured folders, checked at start


@pytest.mark.fault(21)
@pytest.mark.parametrize("variable", ["TFCOMPAT_REPORTS", "TFCOMPAT_CACHE"])
def test_a_configured_folder_that_is_a_file_is_one_line(tmp_path, monkeypatch, variable):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    monkeypatch.setenv(variable, str(path))
    monkeypatch.setenv(
        "TFCOMPAT_REPORTS" if variable == "TFCOMPAT_CACHE" else "TFCOMPAT_CACHE", str(tmp_path / "ok")
    )
    what = "reports folder" if variable == "TFCOMPAT_REPORTS" else "cache folder"
    assert config.check_folders() == [
        f"the {what} {path} is a file, not a folder: set {variable} to a folder you can write to"
    ]
    monkeypatch.setenv(variable, str(path / "below"))
    assert config.check_folders() == [
        f"the {what} {path / 'below'} cannot be made: {path} is a file, not a folder: "
        f"set {variable} to a folder you can write to"
    ]


@pytest.mark.fault(21)
def test_the_matrix_folder_is_checked_for_the_writing_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCOMPAT_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TFCOMPAT_EXPECTED", str(tmp_path / "file" / "expected.toml"))
    assert config.check_folders() == []
    [problem] = config.check_folders(matrix=True)
    assert problem.startswith(f"the matrix file's folder {tmp_path / 'file'} is a file")


@pytest.mark.fault(21)
@pytest.mark.parametrize(
    ("variable", "session"),
    [("TFCOMPAT_REPORTS", "report"), ("TFCOMPAT_CACHE", "abi(tf='2.17.0', metal='1.1.0')")],
)
def test_a_nox_session_with_a_configured_file_ends_in_one_line(tmp_path, variable, session):
    path = tmp_path / "a-file"
    path.write_text("x")
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": "2.17.0", "metal": "1.1.0", "supports": "yes"}])
    env = {variable: str(path)}
    reports = path if variable == "TFCOMPAT_REPORTS" else tmp_path / "reports"
    done = run_nox("-s", session, matrix=matrix, reports=reports, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"is a file, not a folder: set {variable} to a folder you can write to" in done.stderr


@pytest.mark.fault(21)
def test_without_the_start_check_a_file_as_cache_is_still_one_line(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "a-file"))
    from tfcompat.verify.provision import ProvisionError, provision

    with pytest.raises(ProvisionError) as caught:
        provision(
            Row(number=1, python=PYTHON, tf="2.17.0", metal="none", supports=None), timeout=300, log=print
        )
    assert (caught.value.signature, str(caught.value)) == (
        "cache unusable",
        f"the cache folder {tmp_path / 'a-file'} is a file, not a folder: set TFCOMPAT_CACHE to a folder you can write to",
    )


@pytest.mark.fault(21)
def test_a_read_only_folder_is_named(read_only_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("TFCOMPAT_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("TFCOMPAT_CACHE", str(read_only_folder))
    assert config.check_folders() == [
        f"the cache folder {read_only_folder} is not writable: set TFCOMPAT_CACHE to a folder you can write to"
    ]


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only file system (a tmpfs mounted ``ro``): not writable even for root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only file system here: {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_temporary_names_are_never_a_users_file():
    assert [bool(files._OWNED.fullmatch(name)) for name in (
        ".tmp-123-0123456789abcdef", "tfcompat-wheel-42-0123456789abcdef", "tfcompat-backup-2024-12-07",
        ".tmp-123-abc.json", "tfcompat-wheel-602f5x78", "report.json",
    )] == [True, True, False, False, False, False]  # fmt: skip
