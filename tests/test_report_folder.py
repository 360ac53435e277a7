"""Nothing in the reports folder breaks the report: a FIFO, a link to /dev/zero or out of the
folder, a device, a huge file, text that is not valid Unicode, a full disk. Each is made for real
here (a real FIFO, real links, a real device node and a real full tmpfs where this user may make
them), and each test checks that the report still tells what the good records say."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from helpers.records import MAC_15, PROBES_OK, verify_record
from helpers.report import report
from helpers.sessions import run_nox
from tfcompat.core.record import record_stem, write_record
from tfcompat.report import ReportError, write_reports
from tfcompat.report.read import MAX_RECORD_BYTES

MATRIX = '[defaults]\npython = "3.10"\n[[row]]\ntf = "2.17.0"\nmetal = "1.1.0"\nsupports = "yes"\n'
STARTED = "2026-11-02T10:00:00.000000+00:00"
OUTPUTS = ("compatibility.md", "compatibility.html", "compatibility.json")


@pytest.fixture
def folder(tmp_path, matrix) -> Path:
    """A reports folder holding one good record."""
    folder = tmp_path / "reports"
    write_record(verify_record(matrix.rows[0], STARTED, MAC_15, PROBES_OK), folder / "sessions")
    return folder


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging: the FIFO test's whole point is that the report does not block."""

    def expired(*_):
        raise TimeoutError(f"the report blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def skipped(out) -> dict[str, str]:
    return {item["name"]: item["reason"] for item in out.data["skipped"]}


def verified(out) -> str:
    return out.data["tables"][0]["rows"][0]["values"]["verify"]["text"]


@pytest.mark.fault(13)
def test_a_fifo_named_like_a_record_does_not_hang_the_report(matrix, folder):
    os.mkfifo(folder / "sessions" / "x.json")
    with deadline(60):
        out = report(matrix, folder)
    assert skipped(out) == {"sessions/x.json": "not a regular file (a FIFO, device or folder): not read"}
    assert verified(out) == "✅"


@pytest.mark.fault(13)
def test_links_never_lead_out_of_the_folder(matrix, folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    outside = write_record(
        verify_record(matrix.rows[0], "2026-11-03T10:00:00+00:00", MAC_15, PROBES_OK), elsewhere
    )
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "theirs.json").symlink_to(outside)
    inside = next((folder / "sessions").glob("verify-*.json"))
    (folder / "again.json").symlink_to(inside)  # inside the folder: read, once
    with deadline(60):
        out = report(matrix, folder)
    leads_out = "a link that leads out of the folder: not followed"
    assert skipped(out) == {"theirs.json": leads_out, "zero.json": leads_out}
    assert out.data["record_count"] == 1


@pytest.mark.fault(13)
@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_in_the_folder_is_not_read(matrix, folder):
    os.mknod(folder / "null.json", stat.S_IFCHR | 0o644, os.makedev(1, 3))  # /dev/null's numbers
    os.mknod(folder / "zero.json", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero's
    with deadline(60):
        out = report(matrix, folder)
    reason = "not a regular file (a FIFO, device or folder): not read"
    assert skipped(out) == {"null.json": reason, "zero.json": reason}


@pytest.mark.fault(13)
def test_a_record_over_the_size_cap_is_not_read(matrix, folder):
    with open(folder / "huge.json", "wb") as handle:
        handle.truncate(MAX_RECORD_BYTES + 1)  # sparse: the size is real, the disk is not used
    out = report(matrix, folder)
    assert skipped(out) == {"huge.json": "larger than 32 MiB: not read"}


@pytest.mark.fault(15)
@pytest.mark.parametrize(
    ("spoil", "shown"),
    [
        # A lone surrogate escape: valid JSON, but no UTF-8 can encode it.
        (lambda text: text.replace("Apple M2 Pro", "Apple M2 \\udcff Pro").encode(), "Apple M2 \ufffd Pro"),
        # Bytes that are not UTF-8 at all.
        (
            lambda text: text.replace("Apple M2 Pro", "Apple M2 @@ Pro").encode().replace(b"@@", b"\xff"),
            "Apple M2 \ufffd Pro",
        ),
    ],
    ids=["lone surrogate", "invalid UTF-8"],
)
def test_text_that_cannot_be_encoded_is_replaced_and_shown_as_such(matrix, folder, spoil, shown):
    path = next((folder / "sessions").glob("verify-*.json"))
    path.write_bytes(spoil(path.read_text()))
    out = report(matrix, folder)
    assert [machine["label"] for machine in out.data["machines"]][0] == f"{shown} · macOS 15.6.1"
    assert out.data["repaired"] == [
        {"name": f"sessions/{path.name}", "reason": "text that is not valid Unicode was replaced with \ufffd"}
    ]
    assert shown in out.html and verified(out) == "✅"


@pytest.mark.fault(15)
def test_a_file_name_that_is_not_utf8_is_listed_with_the_replacement(matrix, folder):
    name = os.fsencode(folder) + b"/bad-\xff.json"
    with open(name, "wb") as handle:
        handle.write(b"[]")
    out = report(matrix, folder)
    assert skipped(out) == {"bad-\ufffd.json": "not a tfcompat record (no schema/kind)"}


def test_outputs_are_readable_as_the_umask_says(matrix, folder):
    previous = os.umask(0o022)
    try:
        write_reports(matrix, folder)
    finally:
        os.umask(previous)
    for path in [*(folder / name for name in OUTPUTS), *(folder / "locks").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_an_output_that_is_a_link_is_replaced_not_written_through(matrix, folder, tmp_path):
    target = tmp_path / "someone-elses.md"
    target.write_text("keep me")
    (folder / "compatibility.md").symlink_to(target)
    write_reports(matrix, folder)
    assert target.read_text() == "keep me"
    assert not (folder / "compatibility.md").is_symlink()


def test_a_locks_folder_that_leads_out_is_refused_and_keeps_the_old_set(matrix, folder, tmp_path):
    write_reports(matrix, folder)
    before = {name: (folder / name).read_bytes() for name in OUTPUTS}
    for lock in (folder / "locks").iterdir():
        lock.unlink()
    (folder / "locks").rmdir()
    (tmp_path / "out").mkdir()
    (folder / "locks").symlink_to(tmp_path / "out")
    write_record(verify_record(matrix.rows[0], "2026-11-05T10:00:00+00:00", MAC_15, PROBES_OK), folder)
    with pytest.raises(ReportError, match=r"^cannot write the report in .*: locks is not a folder"):
        write_reports(matrix, folder)
    assert list((tmp_path / "out").iterdir()) == []
    assert {name: (folder / name).read_bytes() for name in OUTPUTS} == before


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB tmpfs: what a full disk is (root only; elsewhere the test says why it skips)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()


@pytest.mark.fault(8)
def test_a_full_disk_leaves_the_old_set_and_one_line(matrix, small_disk, tmp_path):
    folder = small_disk / "reports"
    write_record(verify_record(matrix.rows[0], STARTED, MAC_15, PROBES_OK), folder / "sessions")
    write_reports(matrix, folder)
    before = {name: (folder / name).read_bytes() for name in OUTPUTS}
    write_record(verify_record(matrix.rows[0], "2026-11-05T10:00:00+00:00", MAC_15, PROBES_OK), folder)
    fill(small_disk)

    with pytest.raises(ReportError) as caught:
        write_reports(matrix, folder)
    assert re.fullmatch(
        rf"cannot write the report in {re.escape(str(folder))}: disk full: it needs \d[\d.]* [kM]B, 0 B free; "
        r"the previous compatibility\.\* are unchanged",
        str(caught.value),
    )
    assert {name: (folder / name).read_bytes() for name in OUTPUTS} == before
    assert not [path for path in folder.rglob(".tmp-*")]

    # The session says so in one line, with no traceback.
    matrix_file = tmp_path / "expected.toml"
    done = run_nox("-s", "report", matrix=matrix_file, reports=folder, timeout=300)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        f"nox > Session report aborted: cannot write the report in {folder}: disk full: it needs "
    )
    assert "Traceback" not in done.stderr
    assert json.loads(before["compatibility.json"]) == json.loads(
        (folder / "compatibility.json").read_bytes()
    )


def test_probe_logs_are_linked_only_inside_the_folder(matrix, tmp_path):
    folder = tmp_path / "reports"
    record = verify_record(matrix.rows[0], STARTED, MAC_15, PROBES_OK)
    stem = record_stem(record)
    record["probes"]["fit"]["logs"] = {
        "stdout": f"{stem}.logs/fit.stdout.txt",
        "stderr": "../../../etc/passwd",
    }
    record["probes"]["import"]["logs"] = {"stdout": f"{stem}.logs/import.stdout.txt"}  # a link: not followed
    write_record(record, folder / "sessions")
    logs = folder / "sessions" / f"{stem}.logs"
    logs.mkdir()
    (logs / "fit.stdout.txt").write_text("Epoch 1/5 ...")
    (logs / "import.stdout.txt").symlink_to("/etc/hostname")
    out = report(matrix, folder)
    assert out.data["tables"][0]["rows"][0]["logs"] == [
        {"text": "fit stdout", "href": f"./sessions/{stem}.logs/fit.stdout.txt"}
    ]
    assert f'<a href="./sessions/{stem}.logs/fit.stdout.txt">fit stdout</a>' in out.html
