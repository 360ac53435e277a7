"""A full disk, for real: small tmpfs file systems mounted for the test and filled to the last byte.

Records, the cache, environments and wheel downloads (reports: test_report_folder.py): each full disk is one line naming
the folder and the space needed, the session is red with no verdict, and what was written
before is untouched. Mounting needs root (as in CI's containers); elsewhere these tests skip
with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from helpers.matrix import write_matrix
from helpers.paths import PYTHON, TF_MAIN
from helpers.sessions import CONTROL, QUICK_FIT, record_dicts, run_nox
from tfcompat.abi import macwheels
from tfcompat.core import config, files
from tfcompat.core.matrix import Row
from tfcompat.core.record import new_record, now, write_record
from tfcompat.index import wheels
from tfcompat.predict import pairmap
from tfcompat.verify import provision


@pytest.fixture
def small_disk(tmp_path):
    """``mount(name, size)``: a new tmpfs of ``size`` (e.g. "1m") at ``tmp_path/name``."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system here (needs root): {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Write zeros into ``folder`` until the disk refuses even one more byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for block in (65536, 1):
            try:
                while os.write(fd, bytes(block)):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


#: A real host section of this machine's kind (the record model requires these fields).
HOST = {"os": "Linux", "os_version": "6.1", "machine": "x86_64", "python": "3.11.7"}


def a_record(folder: Path) -> Path:
    row = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
    record = new_record("verify", row, host=HOST, tools={}, started=now())
    record.update(verdict="error", finished=now(), provision={"status": "error", "error": "x"}, probes={})
    return write_record(record, folder)


@pytest.mark.fault(19)
def test_a_record_that_does_not_fit_is_one_line_and_earlier_records_stay(small_disk):
    sessions = small_disk("reports", "1m") / "sessions"
    earlier = a_record(sessions)
    fill(sessions.parent)
    before = snapshot(sessions)
    with pytest.raises(files.DiskFull) as caught:
        a_record(sessions)
    message = str(caught.value)
    assert message.startswith(
        f"the record could not be written: disk full: {sessions}: writing verify-py{PYTHON}-tf{TF_MAIN}-metalnone-"
    )
    assert message.endswith(" free") and " needs " in message and "\n" not in message
    assert snapshot(sessions) == before and earlier.is_file()  # no temporary file left either


@pytest.mark.fault(19)
def test_a_file_replaced_on_a_full_disk_keeps_its_old_content(small_disk):
    disk = small_disk("disk", "1m")
    path = disk / "compatibility.md"
    files.write_atomic(path, "old table\n")
    fill(disk)
    with pytest.raises(
        files.DiskFull, match=rf"^disk full: {disk}: writing compatibility.md needs 200 kB, 0 B free$"
    ):
        files.write_atomic(path, "x" * 200_000)
    assert path.read_text() == "old table\n" and sorted(p.name for p in disk.iterdir()) == [
        "compatibility.md",
        "filler",
    ]


@pytest.mark.fault(19)
def test_a_download_that_does_not_fit_is_one_line(small_disk, tmp_path, monkeypatch):
    tmp = small_disk("tmp", "1m")
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    wheel = tmp_path / "tensorflow-2.99.0-cp310-cp310-macosx_12_0_arm64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tensorflow/big.bin", hashlib.sha256().digest() * 100_000)  # 3.2 MB, stored
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    root = tmp_path / "cache"
    for size in (wheel.stat().st_size, 1):  # the size the index gave, then a size that lies
        ref = wheels.WheelRef("tensorflow", "2.99.0", wheel.name, wheel.as_uri(), digest, size)
        with pytest.raises(wheels.WheelError) as caught:
            macwheels.facts(ref, root=root)
        assert str(caught.value) == (
            f"disk full: {tmp}: reading {wheel.name} needs {files.size_text(wheel.stat().st_size)}, "
            f"{files.size_text(files.free_space(tmp))} free; TMPDIR moves the temporary folder to another disk"
        )
        assert list(tmp.iterdir()) == [] and not root.exists()


@pytest.mark.fault(19)
@pytest.mark.parametrize("full", ["TFCOMPAT_CACHE", "UV_CACHE_DIR"])
def test_an_environment_on_a_full_disk_is_one_line(small_disk, sample, monkeypatch, full):
    """The environments' folder full (uv cannot even make the venv), or uv's own cache full
    (uv cannot unpack the wheel): the line names the folder that is full."""
    disk = small_disk("disk", "1m")
    fill(disk)
    monkeypatch.setenv(full, str(disk))
    with pytest.raises(provision.ProvisionError) as caught:
        sample()
    message = str(caught.value)
    assert caught.value.signature == "disk full" and "\n" not in message
    if full == "TFCOMPAT_CACHE":
        assert message.startswith(f"disk full: {disk / 'envs'}: uv venv needs more, ")
        assert message.endswith(
            " free; an environment takes up to about 1.5 GB (less where uv hard-links from its cache on that disk)"
        )
    else:  # uv's cache is needed from the first step on
        assert message.startswith(f"disk full: {disk}") and message.endswith(": uv venv needs more, 0 B free")


@pytest.mark.network
@pytest.mark.fault(19)
def test_an_abi_record_that_does_not_fit_is_no_verdict(small_disk, tmp_path):
    # The engine's answers for the pair, in the suite's cache: the session has only its record to write.
    pairmap.predict(tf=["2.17.0"], metal=["1.1.0"], log=lambda _: None)
    reports = small_disk("reports", "1m")
    earlier = a_record(reports / "sessions")
    fill(reports)
    matrix = write_matrix(
        tmp_path / "m.toml", [{"python": "3.10", "tf": "2.17.0", "metal": "1.1.0", "supports": "yes"}]
    )
    done = run_nox("-s", "abi(python='3.10', tf='2.17.0', metal='1.1.0')", matrix=matrix, reports=reports)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        f"no verdict: the record could not be written: disk full: {reports / 'sessions'}: writing abi-"
        in done.stderr
    )
    assert [path.name for path in (reports / "sessions").iterdir()] == [earlier.name]


def _control_session(tmp_path: Path, cache: Path):
    """The control row's real verify session with ``cache`` as its cache; it must end with no
    verdict, in one line, without a traceback."""
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": TF_MAIN, "metal": "none"}])
    env = {"TFCOMPAT_CACHE": str(cache)}
    done = run_nox("-s", CONTROL, "--", *QUICK_FIT, matrix=matrix, reports=tmp_path / "reports", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    return done


def _assert_disk_full_record(reports: Path) -> None:
    [record] = record_dicts(reports)
    assert (record["verdict"], record["provision"]["signature"], record["probes"]) == (
        "error",
        "disk full",
        {},
    )


@pytest.mark.network
@pytest.mark.fault(19)
def test_a_full_cache_is_no_verdict(small_disk, tmp_path):
    cache = small_disk("cache", "1m")
    fill(cache)
    done = _control_session(tmp_path, cache)
    assert f"no verdict: disk full: {cache / 'release'}: writing " in done.stderr
    _assert_disk_full_record(tmp_path / "reports")


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(19)
def test_an_environment_that_does_not_fit_is_no_verdict(small_disk, tmp_path, tf_python):
    """The cache holds the resolution (copied from the suite's), so only the install needs room."""
    cache = small_disk("cache", "48m")
    for kind in ("release", "resolve"):
        shutil.copytree(config.cache_dir() / kind, cache / kind)
    done = _control_session(tmp_path, cache)
    [line] = [line for line in done.stderr.splitlines() if "no verdict" in line]
    assert f"no verdict: disk full: {cache / 'envs'}: uv pip needs more, " in line
    assert (
        "free; an environment takes up to about 1.5 GB (less where uv hard-links from its cache on that disk)"
        in line
    )
    _assert_disk_full_record(tmp_path / "reports")
