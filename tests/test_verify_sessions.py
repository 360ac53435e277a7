"""End to end on this machine: real nox sessions, real uv environments, real TensorFlow."""

from __future__ import annotations

import json
import re

import pytest

from helpers.matrix import write_matrix
from helpers.network import OFFLINE
from helpers.paths import PYTHON, TF_MAIN, TF_OTHER
from helpers.plugins import build_plugin
from helpers.sessions import run_nox
from tfcompat.core.matrix import load_matrix
from tfcompat.report import write_reports
from tfcompat.report.history import CLAIM_FAILS

FIT = ["--", "--data", "synthetic", "--samples", "64", "--epochs", "1", "--batch-size", "32"]


def records(reports):
    return [json.loads(p.read_text()) for p in sorted((reports / "sessions").glob("*.json"))]


MATRIX = [
    {"tf": TF_MAIN, "metal": "none"},
    {"tf": TF_OTHER, "metal": "none", "note": "control"},
    {"tf": TF_MAIN, "metal": "1.1.0", "supports": "yes"},
    {"tf": "9.9.9", "metal": "none"},
]


@pytest.mark.slow
@pytest.mark.network
def test_two_tensorflow_releases_verify_with_apples_model(tmp_path, matrix):
    """Apple's model (ResNet50) on one release, the small CNN on the other: on this machine's two
    CPU cores tracing ResNet50's first step alone takes about 50 s, and the point here is two
    releases provisioned and verified for real."""
    reports = tmp_path / "reports"
    done = run_nox("-s", f"verify(tf='{TF_MAIN}', metal='none')", *FIT, matrix=matrix.path, reports=reports)
    assert done.returncode == 0, done.stderr[-3000:]
    small = [*FIT, "--model", "small"]
    done = run_nox(
        "-s", f"verify(tf='{TF_OTHER}', metal='none')", *small, matrix=matrix.path, reports=reports
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = {record["row"]["tf"]: record for record in records(reports)}
    assert set(found) == {TF_MAIN, TF_OTHER}
    for tf, record in found.items():
        assert (record["schema"], record["kind"], record["verdict"]) == (2, "verify", "ok")
        assert record["row"]["python"] == PYTHON and record["host"]["os"] == "Linux"
        assert record["tools"]["uv"].startswith("uv ") and record["tools"]["nox"]
        assert f"tensorflow-cpu=={tf}" in record["provision"]["packages"]
        assert record["provision"]["exclude_newer"] is not None
        assert [record["probes"][name]["status"] for name in ("import", "devices", "fit")] == ["ok"] * 3
        assert record["probes"]["import"]["result"]["tensorflow"] == tf
        fit = record["probes"]["fit"]["result"]
        assert (fit["model"], fit["data"], fit["samples"], fit["device"]) == (
            "resnet50" if tf == TF_MAIN else "small",
            "synthetic",
            64,
            "/CPU:0",
        )
        assert len(fit["epochs"]) == 1 and fit["finite"] and fit["epochs"][0]["loss"] > 0
    # Resolved as of its release: TF 2.16.1 (March 2024) gets the Keras 3 and numpy of then.
    numpy = next(p for p in found[TF_OTHER]["provision"]["packages"] if p.startswith("numpy=="))
    assert numpy.startswith("numpy==1.")


@pytest.mark.slow
def test_plugin_row_is_not_run_here_and_writes_nothing(tmp_path, matrix):
    reports = tmp_path / "reports"
    done = run_nox(
        "-s", f"verify(tf='{TF_MAIN}', metal='1.1.0')", matrix=matrix.path, reports=reports, timeout=120
    )
    assert done.returncode == 0
    assert "not run here: tensorflow-metal has no wheels for Linux: verify needs macOS" in done.stderr
    assert not (reports / "sessions").exists()


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(1)
def test_plugin_that_fails_to_load_makes_the_session_red(tmp_path, matrix, tf_python):
    reports = tmp_path / "reports"
    library = build_plugin(tmp_path / "plugin", "undefined")
    done = run_nox(
        "-s",
        f"verify(tf='{TF_MAIN}', metal='none')",
        *FIT,
        matrix=matrix.path,
        reports=reports,
        env={"TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library)},
    )
    assert done.returncode == 1
    assert "fails: import: undefined symbol: tfcompat_missing_symbol" in done.stderr
    [record] = records(reports)
    assert record["verdict"] == "fail"
    assert record["probes"]["import"]["signature"] == "undefined symbol: tfcompat_missing_symbol"
    assert [record["probes"][name]["status"] for name in ("devices", "fit", "agree", "speedup")] == [
        "not_reached"
    ] * 4


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(9)
def test_release_that_does_not_exist_is_a_provisioning_error(tmp_path, matrix):
    reports = tmp_path / "reports"
    done = run_nox("-s", "verify(tf='9.9.9', metal='none')", matrix=matrix.path, reports=reports, timeout=300)
    assert done.returncode == 1
    assert "no verdict: uv pip: no such release: tensorflow-cpu==9.9.9" in done.stderr
    [record] = records(reports)
    assert record["verdict"] == "error" and record["probes"] == {}
    assert record["provision"]["signature"] == "no such release"


def test_bad_probe_option_stops_before_anything_runs(tmp_path, matrix):
    reports = tmp_path / "reports"
    done = run_nox(
        "-s",
        f"verify(tf='{TF_MAIN}', metal='none')",
        "--",
        "--epochs",
        "0",
        matrix=matrix.path,
        reports=reports,
        timeout=120,
    )
    assert done.returncode == 1
    assert "--epochs must be at least 1" in done.stderr
    assert "bad probe options after --: see python probes/fit.py --help" in done.stderr
    assert not (reports / "sessions").exists()


@pytest.mark.slow
@pytest.mark.network
def test_progress_reaches_the_terminal_and_every_probe_keeps_its_full_logs(verify_run):
    """The speed-up gets 1 s here, so it times out: a failed measurement, never a failed pair."""
    done, reports = verify_run.done, verify_run.reports
    [record] = records(reports)
    probes = record["probes"]
    assert [probes[name]["status"] for name in ("import", "devices", "fit", "agree", "speedup")] == [
        "ok",
        "ok",
        "ok",
        "ok",
        "fail",
    ]
    assert (probes["speedup"]["signature"], record["verdict"]) == ("timeout after 1 s", "ok")
    assert "probe speedup: fail in" in done.stderr and "timeout after 1 s" in done.stderr
    # Live: one line per epoch with loss, accuracy and seconds, and agree's verdict; no result lines.
    epochs = [line for line in done.stdout.splitlines() if line.startswith("fit: epoch ")]
    assert len(epochs) == 2 and all(
        re.fullmatch(r"fit: epoch \d/2: loss [\d.]+, accuracy [\d.]+, [\d.]+ s", e) for e in epochs
    )
    assert "agree: /CPU:0 float32 agrees with CPU float64" in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("{")]
    # Kept: the whole output of every probe beside the record, named in its section.
    sessions = reports / "sessions"
    [path] = sessions.glob("*.json")
    for name, probe in probes.items():
        logs = {stream: f"{path.stem}.logs/{name}.{stream}.txt" for stream in ("stdout", "stderr")}
        assert probe["logs"] == logs
        assert (sessions / logs["stdout"]).read_text().endswith(probe["stdout_tail"])
        assert (sessions / logs["stderr"]).read_text().endswith(probe["stderr_tail"])
    fit_log = (sessions / probes["fit"]["logs"]["stdout"]).read_text().splitlines()
    assert fit_log[:2] == epochs and json.loads(fit_log[-1]) == probes["fit"]["result"]


@pytest.mark.slow
@pytest.mark.network
def test_dataset_download_without_network_is_no_verdict_and_no_claim_flag(tmp_path, tf_python):
    """Apple's procedure offline: uv works from its cache (UV_OFFLINE), every download through a
    closed port, and no CIFAR-100 in ~/.keras (a fresh HOME)."""
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": TF_MAIN, "metal": "none"}])
    reports = tmp_path / "reports"
    offline = {"UV_OFFLINE": "1", "HOME": str(tmp_path / "home")}
    offline.update(OFFLINE)
    quick = ["--", "--model", "small", "--samples", "64", "--epochs", "1"]  # Apple's data, CIFAR-100
    done = run_nox(
        "-s",
        f"verify(tf='{TF_MAIN}', metal='none')",
        *quick,
        matrix=matrix,
        reports=reports,
        env=offline,
    )
    assert done.returncode != 0
    fix = (
        "dataset download failed: the CIFAR-100 download needs network; "
        "run with -- --data synthetic, or fix the network/certificates"
    )
    assert f"aborted: no verdict: {fix} (took" in done.stderr and "fails:" not in done.stderr
    [record] = records(reports)
    assert (record["verdict"], record["probes"]["fit"]["status"], record["probes"]["fit"]["reason"]) == (
        "error",
        "error",
        fix,
    )
    assert [record["probes"][name]["status"] for name in ("import", "devices", "agree", "speedup")] == [
        "ok",
        "ok",
        "not_reached",
        "not_reached",
    ]
    # The same record filed under a row whose plugin PyPI claims works (what a Mac's offline run
    # would be): no verdict, so no "claim against observation" flag.
    claimed = write_matrix(tmp_path / "claimed.toml", [{"tf": TF_MAIN, "metal": "1.1.0", "supports": "yes"}])
    path = next((reports / "sessions").glob("*.json"))
    path.write_text(json.dumps({**record, "row": {**record["row"], "metal": "1.1.0", "supports": "yes"}}))
    write_reports(load_matrix(claimed), reports)
    markdown = (reports / "compatibility.md").read_text()
    assert "Records skipped" not in markdown and CLAIM_FAILS not in markdown


def test_a_fit_on_the_cpu_is_refused_before_anything_runs(tmp_path, matrix):
    """verify judges training on the GPU wherever one is listed: --device cpu is for probes/fit.py by hand."""
    reports = tmp_path / "reports"
    session = f"verify(tf='{TF_MAIN}', metal='none')"
    done = run_nox("-s", session, "--", "--device", "cpu", matrix=matrix.path, reports=reports, timeout=120)
    assert done.returncode == 1
    assert "fit: --device cpu is for running probes/fit.py by hand: verify trains on the GPU" in done.stderr
    assert not (reports / "sessions").exists()
