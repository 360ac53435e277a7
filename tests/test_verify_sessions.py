"""End to end on this machine: real nox sessions, real uv environments, real TensorFlow."""

from __future__ import annotations

import json

import pytest

from conftest import PYTHON, TF_MAIN, TF_OTHER, build_plugin, run_nox, write_matrix

FIT = ["--", "--data", "synthetic", "--samples", "64", "--epochs", "1", "--batch-size", "32"]


def records(reports):
    return [json.loads(p.read_text()) for p in sorted((reports / "sessions").glob("*.json"))]


@pytest.fixture
def matrix(tmp_path):
    return write_matrix(
        tmp_path / "m.toml",
        [
            {"tf": TF_MAIN, "metal": "none"},
            {"tf": TF_OTHER, "metal": "none", "note": "control"},
            {"tf": TF_MAIN, "metal": "1.1.0", "supports": "yes"},
            {"tf": "9.9.9", "metal": "none"},
        ],
    )


@pytest.mark.slow
def test_two_tensorflow_releases_verify_with_apples_model(tmp_path, matrix):
    reports = tmp_path / "reports"
    sessions = [f"verify(tf='{TF_MAIN}', metal='none')", f"verify(tf='{TF_OTHER}', metal='none')"]
    done = run_nox("-s", *sessions, *FIT, matrix=matrix, reports=reports)
    assert done.returncode == 0, done.stderr[-3000:]
    found = {record["row"]["tf"]: record for record in records(reports)}
    assert set(found) == {TF_MAIN, TF_OTHER}
    for tf, record in found.items():
        assert (record["schema"], record["kind"], record["verdict"]) == (1, "verify", "ok")
        assert record["row"]["python"] == PYTHON and record["host"]["os"] == "Linux"
        assert record["tools"]["uv"].startswith("uv ") and record["tools"]["nox"]
        assert f"tensorflow-cpu=={tf}" in record["provision"]["packages"]
        assert record["provision"]["exclude_newer"] is not None
        assert [record["probes"][name]["status"] for name in ("import", "devices", "fit")] == ["ok"] * 3
        assert record["probes"]["import"]["result"]["tensorflow"] == tf
        fit = record["probes"]["fit"]["result"]
        assert (fit["model"], fit["data"], fit["samples"], fit["device"]) == (
            "resnet50",
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
        "-s", f"verify(tf='{TF_MAIN}', metal='1.1.0')", matrix=matrix, reports=reports, timeout=120
    )
    assert done.returncode == 0
    assert "not run here: tensorflow-metal has no wheels for Linux: verify needs macOS" in done.stderr
    assert not (reports / "sessions").exists()


@pytest.mark.slow
@pytest.mark.fault(1)
def test_plugin_that_fails_to_load_makes_the_session_red(tmp_path, matrix, tf_python):
    reports = tmp_path / "reports"
    library = build_plugin(tmp_path / "plugin", "undefined")
    done = run_nox(
        "-s",
        f"verify(tf='{TF_MAIN}', metal='none')",
        *FIT,
        matrix=matrix,
        reports=reports,
        env={"TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library)},
    )
    assert done.returncode == 1
    assert "fails: import: undefined symbol: tfcompat_missing_symbol" in done.stderr
    [record] = records(reports)
    assert record["verdict"] == "fail"
    assert record["probes"]["import"]["signature"] == "undefined symbol: tfcompat_missing_symbol"
    assert record["probes"]["devices"] == {"status": "not_reached"}
    assert record["probes"]["fit"] == {"status": "not_reached"}


@pytest.mark.slow
@pytest.mark.fault(9)
def test_release_that_does_not_exist_is_a_provisioning_error(tmp_path, matrix):
    reports = tmp_path / "reports"
    done = run_nox("-s", "verify(tf='9.9.9', metal='none')", matrix=matrix, reports=reports, timeout=300)
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
        matrix=matrix,
        reports=reports,
        timeout=120,
    )
    assert done.returncode == 1
    assert "--epochs must be at least 1" in done.stderr
    assert "bad probe options after --: see python probes/fit.py --help" in done.stderr
    assert not (reports / "sessions").exists()
