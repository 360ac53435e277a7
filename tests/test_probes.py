"""The probes on real TensorFlow (CPU here: no accelerator exists), run by the real runner.

agree: a healthy float32 run agrees with the float64 reference and a float16 run does not, so the
reference discriminates; the errors of the healthy run are not zero, so the comparison is not
between two bitwise-identical computations. speedup: without a GPU it says so at once; its
timing code still runs here for real, on the CPU. fit: a line per epoch reaches the terminal
while it runs, Keras' own progress bar when that is a terminal, and the logs keep everything.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pty
import subprocess
import threading

import pytest

from conftest import ROOT
from tfcompat.core.matrix import Row
from tfcompat.verify.provision import ProvisionError, provision
from tfcompat.verify.run import judge
from tfcompat.verify.runner import probe_script, run_probe

ROW = Row(number=1, python="3.11", tf="2.17.0", metal="none", supports=None)
OPS = ["matmul", "conv2d", "batch_norm", "softmax", "adam_update"]
TRAINING = ["training_losses", "trained_logits"]
QUICK_FIT = ["--data", "synthetic", "--model", "small", "--samples", "128", "--epochs", "2"]

#: The oldest environment the probes run in: TensorFlow 2.5 (Keras 2) on Python 3.9.
OLDEST = Row(number=1, python="3.9", tf="2.5.0", metal="none", supports=None)


def run(tf_python, name, args, timeout=300, **options):
    outcome = run_probe(tf_python, probe_script(name), args, timeout=timeout, **options)
    return judge(name, outcome, row=ROW, timeout=timeout)


@pytest.mark.slow
@pytest.mark.network
def test_float32_on_the_cpu_agrees_with_the_float64_reference(tf_python):
    result = run(tf_python, "agree", [])
    assert result["status"] == "ok", result["stderr_tail"]
    agree = result["result"]
    assert (agree["reference"], agree["candidate"], agree["candidate_dtype"]) == (
        "CPU float64",
        "CPU:0",
        "float32",
    )
    assert [(c["device"], c["name"]) for c in agree["comparisons"]] == [("/CPU:0", n) for n in OPS + TRAINING]
    for comparison in agree["comparisons"]:
        # float32 rounding is really there (the reference is not the candidate's own arithmetic)
        # and stays far below the tolerance.
        assert 0 < comparison["max_relative_error"] < comparison["tolerance"] / 10, comparison
    assert "agree: /CPU:0 float32 agrees with CPU float64" in result["stdout_tail"]


@pytest.mark.slow
@pytest.mark.network
def test_float16_is_caught_as_a_disagreement(tf_python):
    result = run(tf_python, "agree", ["--candidate-dtype", "float16"])
    assert result["status"] == "fail"
    errors = {c["name"]: c for c in result["result"]["comparisons"]}
    # Every single op and the trained model's logits fail; the losses alone stay within 1e-3,
    # which is why the logits after the steps are compared too.
    failing = OPS + ["trained_logits"]
    assert all(not errors[name]["agrees"] for name in failing), errors
    assert all(errors[name]["max_relative_error"] > errors[name]["tolerance"] for name in failing)
    assert result["signature"] == "disagrees with CPU float64: " + ", ".join(f"{n} on CPU:0" for n in failing)


@pytest.mark.slow
@pytest.mark.network
def test_speedup_without_a_gpu_is_skipped_with_the_reason(tf_python):
    result = run(tf_python, "speedup", ["--model", "small", "--batch-size", "32"])
    assert (result["status"], result["signature"]) == ("skipped", None)
    assert result["reason"] == "no GPU listed: there is nothing to compare the CPU with"
    speed = result["result"]
    assert (speed["model"], speed["batch_size"], speed["cpu"], speed["gpu"], speed["speedup"]) == (
        "small",
        32,
        None,
        None,
        None,
    )


@pytest.mark.slow
@pytest.mark.network
def test_speedup_times_the_steps_after_the_warm_up(tf_python):
    """The timing code the probe runs on a Mac, run here on the CPU: only the measured steps count."""
    code = (
        "import json, sys; sys.path.insert(0, 'probes')\n"
        "import speedup, tensorflow as tf\n"
        "args = speedup.parse_args(['--model', 'small', '--batch-size', '16', '--warmup', '2', '--steps', '5'])\n"
        "print(json.dumps(speedup.steps_per_second(tf, '/CPU:0', args)))\n"
    )
    done = subprocess.run(
        [str(tf_python), "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.splitlines()[-1])
    assert (measured["device"], measured["steps_measured"]) == ("/CPU:0", 5)
    assert measured["median_step_seconds"] > 0 and measured["steps_per_second"] > 0


@pytest.mark.slow
@pytest.mark.network
def test_fit_shows_a_line_per_epoch_and_keeps_everything_in_its_logs(tf_python, tmp_path):
    terminal = io.BytesIO()  # not a terminal: the probe writes into a pipe
    result = run(tf_python, "fit", QUICK_FIT, log_dir=tmp_path, echo=terminal)
    assert result["status"] == "ok", result["stderr_tail"]
    shown = terminal.getvalue().decode().splitlines()
    epochs = result["result"]["epochs"]
    assert shown == [
        f"fit: epoch {e['epoch']}/2: loss {e['loss']:.4f}, accuracy {e['accuracy']:.4f}, {e['seconds']:.1f} s"
        for e in epochs
    ]
    stdout = (tmp_path / "fit.stdout.txt").read_text()
    assert stdout.splitlines()[:2] == shown  # the log has them too, then the result line
    assert json.loads(stdout.splitlines()[-1]) == result["result"]
    assert stdout.endswith(result["stdout_tail"])
    stderr = (tmp_path / "fit.stderr.txt").read_text()
    assert stderr and stderr.endswith(result["stderr_tail"])


@pytest.mark.slow
@pytest.mark.network
def test_fit_at_a_terminal_shows_keras_own_progress_bar(tf_python, tmp_path):
    main, side = pty.openpty()  # a terminal the test reads, as a user's would show it
    shown = bytearray()
    reader = threading.Thread(target=_read_all, args=(main, shown), daemon=True)
    reader.start()
    with open(side, "wb", buffering=0) as terminal:
        result = run(tf_python, "fit", QUICK_FIT, log_dir=tmp_path, echo=terminal)
    reader.join(10)
    os.close(main)
    assert result["status"] == "ok", result["stderr_tail"]
    text = shown.decode(errors="replace")
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss" in text and "accuracy" in text
    assert "\b" in text or "\r" in text  # Keras redraws its bar in place: it saw a terminal
    assert '{"data"' not in text  # the result line is for the record, not the terminal
    logged = (tmp_path / "fit.stdout.txt").read_bytes()
    assert b"Epoch 1/2\n" in logged and b"\r\n" not in logged  # the probe's own newlines, kept
    assert json.loads(logged.splitlines()[-1]) == result["result"]


def test_probes_are_python_3_9_code():
    """The oldest rows run the probes on Python 3.9: no newer syntax, no zip(strict=)."""
    for path in sorted((ROOT / "probes").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Match), f"{path.name}:{node.lineno}: match needs Python 3.10"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip":
                assert not node.keywords, f"{path.name}:{node.lineno}: zip(strict=) needs Python 3.10"


@pytest.mark.slow
@pytest.mark.network
def test_the_probes_run_on_tensorflow_2_5_and_python_3_9():
    try:
        python = provision(OLDEST, timeout=900, log=lambda _: None).python
    except ProvisionError as exc:
        if exc.signature != "interpreter not found":
            raise
        pytest.skip(f"no Python 3.9 here: {exc}")
    outcomes = {
        name: judge(name, run_probe(python, probe_script(name), args, timeout=300), row=OLDEST, timeout=300)
        for name, args in [
            ("import", []),
            ("devices", []),
            ("fit", QUICK_FIT),
            ("agree", []),
            ("speedup", []),
        ]
    }
    assert outcomes["import"]["result"]["tensorflow"] == "2.5.0"
    assert [outcomes[name]["status"] for name in outcomes] == ["ok", "ok", "ok", "ok", "skipped"], {
        name: outcome["stderr_tail"][-1500:] for name, outcome in outcomes.items()
    }


def _read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            return
        if not data:
            return
        into += data
