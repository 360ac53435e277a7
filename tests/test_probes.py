"""The correctness and speed-up probes on real TensorFlow (CPU here: no accelerator exists)."""

from __future__ import annotations

import pytest

from tfcompat.matrix import Row
from tfcompat.runner import probe_script, run_probe
from tfcompat.verify import judge

ROW = Row(number=1, python="3.11", tf="2.17.0", metal="none", supports=None)
OPS = ["matmul", "conv2d", "batch_norm", "softmax", "adam_update", "training_steps"]


def run(tf_python, name, args, timeout=120):
    outcome = run_probe(tf_python, probe_script(name), args, timeout=timeout)
    return judge(name, outcome, row=ROW, timeout=timeout)


@pytest.mark.slow
def test_two_cpu_configurations_agree_within_float32_tolerance(tf_python):
    result = run(tf_python, "agree", [])
    assert result["status"] == "ok", result["stderr_tail"]
    agree = result["result"]
    assert (agree["reference"], agree["candidate"]) == ("CPU, oneDNN off", "CPU, oneDNN on")
    assert [c["name"] for c in agree["comparisons"]] == OPS
    assert all(c["max_relative_error"] <= c["tolerance"] for c in agree["comparisons"])
    assert result["seconds"] < 60


@pytest.mark.slow
def test_float16_against_float32_is_caught_as_a_disagreement(tf_python):
    result = run(tf_python, "agree", ["--candidate-dtype", "float16"])
    assert result["status"] == "fail"
    comparisons = result["result"]["comparisons"]
    assert all(not c["agrees"] and c["max_relative_error"] > c["tolerance"] for c in comparisons)
    assert result["signature"] == "disagrees with CPU, oneDNN off: " + ", ".join(OPS)


@pytest.mark.slow
def test_speedup_measures_the_cpu_and_says_there_is_no_gpu(tf_python):
    result = run(tf_python, "speedup", ["--model", "small", "--batch-size", "32"])
    assert result["status"] == "ok", result["stderr_tail"]
    speed = result["result"]
    assert (speed["model"], speed["batch_size"], speed["gpu"], speed["speedup"]) == ("small", 32, None, None)
    assert speed["cpu"]["steps_per_second"] > 0
    assert speed["cpu"]["median_step_seconds"] == pytest.approx(
        1 / speed["cpu"]["steps_per_second"], rel=1e-2
    )
