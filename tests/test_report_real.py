"""The report from records the real suite makes here (conftest's ``real_records``): ``nox -s abi``
on a small matrix (the real macOS wheels), a control row verified for real with tensorflow-cpu
and a shortened fit, and a map record built with the model."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from helpers.paths import PYTHON, TF_MAIN
from helpers.records import map_record
from helpers.report import report
from tfcompat.core.matrix import load_matrix
from tfcompat.core.record import load_record, write_record
from tfcompat.core.uvcall import uv_binary
from tfcompat.report.install import lock_text

ANY_MAC = "Any Apple-silicon Mac (predicted from the wheels; nothing run)"


@pytest.fixture
def real(real_records, tmp_path):
    """The matrix and a copy of the shared folder of real records (conftest's ``real_records``),
    for this test to report into."""
    folder = shutil.copytree(real_records.reports, tmp_path / "real")
    return load_matrix(real_records.matrix), folder


@pytest.mark.slow
@pytest.mark.network
def test_real_records_give_the_answer_the_marks_and_the_grid(real):
    matrix, folder = real
    out = report(matrix, folder, host_os="Linux")
    linux = out.data["tables"][0]
    assert out.label(linux["machine"]).startswith("Linux x86_64")
    control = out.row(0, PYTHON, TF_MAIN, "none")
    assert control["values"]["verify"]["text"] == "✅"
    # shortened: never the words of Apple's procedure
    assert (control["evidence"]["mark"], control["evidence"]["words"]) == ("✅", "shortened fit")
    assert control["evidence"]["label"] == (
        "works: verified on a physical machine (CPU), shortened fit: synthetic data, small model, 64 samples, 2 epochs, batch 32"
    )
    # The real abi: 2.17.0 + 1.1.0 loads; 2.18.0 + 1.1.0 fails on LogMessage, the name shown readable.
    loads = out.row(0, PYTHON, TF_MAIN, "1.1.0")["evidence"]
    assert (loads["mark"], loads["words"]) == ("✅", "predicted")
    failing = out.row(0, PYTHON, "2.18.0", "1.1.0")["evidence"]
    note = out.footnote(failing["footnotes"][0])
    assert (failing["mark"], failing["words"], note["text"]) == (
        "❌",
        "predicted: does not load",
        "predicted: Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii",
    )
    assert [
        "__ZN3tsl8internal10LogMessageC1EPKcii",
        "tsl::internal::LogMessage::LogMessage(char const*, int, int)",
    ] in note["names"]
    assert out.footnote(out.row(0, PYTHON, TF_MAIN, "1.1.0")["values"]["import"]["footnotes"][0])["text"] == (
        "not run here: tensorflow-metal has no wheels for Linux"
    )
    # The answer, for any Mac: the newest pair predicted to load, and the exact command.
    answer = out.answer(ANY_MAC, PYTHON)
    assert (answer["pair"]["tf"], answer["pair"]["metal"], answer["pair"]["evidence"]["mark"]) == (
        TF_MAIN,
        "1.1.0",
        "✅",
    )
    assert answer["install"] == f'python -m pip install "tensorflow=={TF_MAIN}" "tensorflow-metal==1.1.0"'
    grid = out.grid(ANY_MAC, PYTHON)
    assert [row["tf"] for row in grid["rows"]] == ["2.18.0", TF_MAIN] and grid["metal"] == ["none", "1.1.0"]


@pytest.mark.slow
@pytest.mark.network
def test_with_the_map_every_release_is_in_the_grid(real, tmp_path):
    matrix, folder = real
    write_record(map_record("2026-11-01T09:00:00.000000+00:00"), folder / "map")  # built with the model
    out = report(matrix, folder, host_os="Linux")
    grid = out.grid(ANY_MAC, PYTHON)
    assert (len(grid["rows"]), len(grid["metal"])) == (26, 17)
    # The real abi record is newer than the map's cell: it decides, and agrees with it.
    assert out.cell(ANY_MAC, PYTHON, "2.18.0", "1.1.0")[0]["source"].startswith("abi record sessions/abi-")


@pytest.mark.slow
@pytest.mark.network
def test_the_lock_of_a_real_run_is_what_uv_pip_sync_installs(real, tmp_path):
    _, folder = real
    path = next((folder / "sessions").glob("verify-*.json"))
    record = load_record(path)
    text = lock_text(record, name=path.name, machine="Linux")
    lock = tmp_path / "lock.txt"
    lock.write_text(text)
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert f"tensorflow-cpu=={TF_MAIN}" in pins and len(pins) == len(record.provision.packages)
    venv = tmp_path / "venv"
    seeded = [uv_binary(), "venv", "-q", "--seed", "--python", sys.executable, str(venv)]
    subprocess.run(seeded, check=True)  # --seed: with pip, for pip's own reading of the lock
    done = subprocess.run(
        [
            uv_binary(),
            "pip",
            "sync",
            "--dry-run",
            "--offline",
            "--python",
            str(venv / "bin" / "python"),
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Would install {len(pins)} packages" in done.stderr
    would = {line.strip()[2:] for line in done.stderr.splitlines() if line.strip().startswith("+ ")}
    assert would == set(pins)
    pip = subprocess.run(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "--no-deps",
            "--quiet",
            "--report",
            "-",
            "-r",
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # No index here: pip parses every line as a requirement, then finds no distribution to fetch.
    assert "No matching distribution found for" in pip.stderr and "Invalid requirement" not in pip.stderr
