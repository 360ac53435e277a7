"""The probes on real TensorFlow (CPU here: no accelerator exists), run by the real runner.

agree: a healthy float32 run agrees with the float64 reference and a float16 run does not, so the
reference discriminates; the errors of the healthy run are not zero, so the comparison is not
between two bitwise-identical computations. Every named check of a known failure passes on the
CPU, and each one fails, alone, with its name and sources in the signature, when the probe's
test-only ``--inject CHECK`` makes its candidate reproduce the bug's shape. speedup: without a
GPU it says so at once; its timing code still runs here for real, on the CPU, and a GPU more
than 5x slower is flagged. fit: a line per epoch reaches the terminal while it runs, Keras' own
progress bar when that is a terminal, the logs keep everything, and the record names its Keras.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import os
import pty
import re
import subprocess
import threading

import pytest

from helpers.paths import ROOT
from helpers.sessions import QUICK_FIT
from tfcompat.core.matrix import Row
from tfcompat.verify.provision import ProvisionError, provision
from tfcompat.verify.run import judge
from tfcompat.verify.runner import probe_script, run_probe

ROW = Row(number=1, python="3.11", tf="2.17.0", metal="none", supports=None)
OPS = ["matmul", "conv2d", "batch_norm", "softmax", "adam_update"]
TRAINING = ["training_losses", "trained_logits"]

#: agree's named checks in the order they run, with the public sources issue 23 gives for each
#: (the two without a public issue number carry the plugin they were reported with).
CHECKS = {
    "fused_dense_relu": ["tensorflow#62137", "tensorflow#92686"],
    "random_uniform": ["tensorflow#53505", "tensorflow#56122"],
    "mc_dropout": ["tf-keras#541"],
    "stateless_uniform_int": ["tensorflow#87972"],
    "batch_norm_5d": ["reported with plugin 1.1.0 on macOS 26"],
    "slice_update": ["reported with plugin 1.2.0"],
    "keras_fit": ["keras#21668", "tensorflow#92564"],
}
MODES = {name: ["fit"] if name == "keras_fit" else ["eager", "graph"] for name in CHECKS}
#: Per injected fault: the modes that must fail (no other check, no other mode) and the signature.
INJECTED = {
    "fused_dense_relu": (
        ["graph"],  # the bug's shape: eager mode stays right
        r"wrong numbers: fused Dense\+ReLU in graph mode on CPU:0, max error 0\.\d+, "
        r"tensorflow#62137, tensorflow#92686",
    ),
    "random_uniform": (
        ["eager", "graph"],
        r"random numbers repeat: successive tf\.random\.uniform draws in eager and graph mode on CPU:0, "
        r"draws 1 and 2 of 3 repeat in 100% of 4096 values, tensorflow#53505, tensorflow#56122",
    ),
    "mc_dropout": (
        ["eager", "graph"],
        r"random numbers repeat: Monte-Carlo dropout in eager and graph mode on CPU:0, "
        r"successive outputs drop the same units \(100% of 4096 alike\), tf-keras#541",
    ),
    "stateless_uniform_int": (
        ["eager", "graph"],
        r"op fails: integer tf\.random\.stateless_uniform in eager and graph mode on CPU:0, "
        r"missing GPU kernel: StatelessRandomUniformIntV2, tensorflow#87972",
    ),
    "batch_norm_5d": (
        ["eager", "graph"],
        r"op fails: 5-D FusedBatchNormV3 in eager and graph mode on CPU:0, "
        r"missing GPU kernel: FusedBatchNormV3, reported with plugin 1\.1\.0 on macOS 26",
    ),
    "slice_update": (
        ["eager", "graph"],
        r"op fails: keras\.ops\.slice_update in eager and graph mode on CPU:0, "
        r"missing GPU kernel: XlaDynamicUpdateSlice, reported with plugin 1\.2\.0",
    ),
    "keras_fit": (
        ["fit"],
        r"training diverges: Keras fit on CPU:0, final loss [\d.]+ vs 0\.\d+, "
        r"accuracy 0\.\d+ vs 0\.\d+ \(CPU float64\), keras#21668, tensorflow#92564",
    ),
}

#: The oldest environment the probes run in: TensorFlow 2.5 (Keras 2) on Python 3.9.
OLDEST = Row(number=1, python="3.9", tf="2.5.0", metal="none", supports=None)


def run(tf_python, name, args, timeout=300, **options):
    outcome = run_probe(tf_python, probe_script(name), args, timeout=timeout, **options)
    return judge(name, outcome, row=ROW, timeout=timeout)


@pytest.fixture(scope="module")
def healthy_agree(tf_python):
    """One real run of the agree probe as verify runs it (no option)."""
    return run_probe(tf_python, probe_script("agree"), [], timeout=300)


@pytest.mark.slow
@pytest.mark.network
def test_float32_on_the_cpu_agrees_with_the_float64_reference(healthy_agree):
    result = judge("agree", healthy_agree, row=ROW, timeout=300)
    assert result.status == "ok", result.stderr_tail
    agree = result.result
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
    assert "agree: /CPU:0 float32 agrees with CPU float64" in result.stdout_tail


@pytest.mark.slow
@pytest.mark.network
def test_every_named_check_passes_on_the_cpu_and_says_so(healthy_agree):
    result = judge("agree", healthy_agree, row=ROW, timeout=300)
    assert (result.status, result.signature) == ("ok", None), result.stderr_tail
    agree = result.result
    checks = agree["checks"]
    assert [(c["check"], c["device"], c["mode"]) for c in checks] == [
        (name, "/CPU:0", mode) for name in CHECKS for mode in MODES[name]
    ]
    for check in checks:
        assert (check["status"], check["failure"], check["sources"]) == ("pass", None, CHECKS[check["check"]])
        assert check["seconds"] >= 0 and check["finding"], check
    assert agree["checks_summary"] == "passed all 7 checks of known failures on CPU:0"
    assert "agree: passed all 7 checks of known failures on CPU:0" in result.stdout_tail
    assert agree["injected"] == []
    # The numbers behind the verdicts: float32 rounding is there, far inside the limits.
    measured = {(c["check"], c["mode"]): c["measured"] for c in checks}
    for mode in ("eager", "graph"):
        assert 0 < measured["fused_dense_relu", mode]["max_error"] < 1e-5
        assert measured["slice_update", mode]["max_error"] == 0  # copying numbers is exact
    fit = measured["keras_fit", "fit"]
    assert fit["final_loss"] != fit["reference_loss"]  # float32 against float64, not itself
    assert (
        abs(fit["final_loss"] - fit["reference_loss"]) < fit["loss_tolerance"] * fit["reference_loss"] / 100
    )
    assert fit["placed_on"].endswith("CPU:0")


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("check", list(INJECTED))
def test_an_injected_fault_turns_exactly_its_check_red(tf_python, check):
    """--inject CHECK: the check's own code path with the bug's shape (an activation applied
    before the bias in graph mode, a generator that repeats, a kernel that raises TensorFlow's
    "No registered ... OpKernel for 'GPU'", a learning rate that makes the loss diverge)."""
    result = run(tf_python, "agree", ["--inject", check])
    assert result.status == "fail", result.stderr_tail
    agree = result.result
    modes, signature = INJECTED[check]
    failed = [(c["check"], c["mode"]) for c in agree["checks"] if c["status"] != "pass"]
    assert failed == [(check, mode) for mode in modes]
    assert re.fullmatch(signature, result.signature), result.signature
    assert all(c["agrees"] for c in agree["comparisons"])  # the reference workload is untouched
    assert (agree["injected"], agree["agrees"]) == ([check], False)
    assert agree["checks_summary"] == f"failed 1 of 7 checks of known failures on CPU:0: {check}"
    if check == "keras_fit":  # both numbers, and a real divergence
        fit = next(c for c in agree["checks"] if c["check"] == check)["measured"]
        assert fit["final_loss"] > 100 * fit["reference_loss"]
        assert f"final loss {fit['final_loss']:.5g} vs {fit['reference_loss']:.5g}" in result.signature


@pytest.mark.slow
@pytest.mark.network
def test_the_judge_names_failed_checks_and_passes_skipped_ones(healthy_agree):
    """A check skipped here (its op or API does not exist in that TensorFlow or Keras, as
    keras.ops on TF 2.5) decides nothing; failures are grouped by check and device, their modes
    named together, the reference workload's disagreement after them. Edits of a real result."""

    def judged(edit):
        result = json.loads(json.dumps(healthy_agree.result))
        for check in result["checks"]:
            edit(check)
        return judge("agree", dataclasses.replace(healthy_agree, result=result), row=ROW, timeout=300)

    def skip_slice_update(check):
        if check["check"] == "slice_update":
            check.update(status="skipped", reason="keras.ops.slice_update does not exist in Keras 2.5.0")

    assert (judged(skip_slice_update).status, judged(skip_slice_update).signature) == ("ok", None)

    def gpu_fails(check):
        if check["check"] in ("fused_dense_relu", "random_uniform") and check["mode"] == "graph":
            check.update(device="/GPU:0", status="fail", failure="wrong numbers", finding="max error 0.31")

    outcome = judged(gpu_fails)
    assert (outcome.status, outcome.signature) == (
        "fail",
        "wrong numbers: fused Dense+ReLU in graph mode on GPU:0, max error 0.31, tensorflow#62137, "
        "tensorflow#92686; wrong numbers: successive tf.random.uniform draws in graph mode on GPU:0, "
        "max error 0.31, tensorflow#53505, tensorflow#56122",
    )


@pytest.mark.slow
@pytest.mark.network
def test_float16_is_caught_as_a_disagreement(tf_python):
    result = run(tf_python, "agree", ["--candidate-dtype", "float16"])
    assert result.status == "fail"
    errors = {c["name"]: c for c in result.result["comparisons"]}
    # Every single op and the trained model's logits fail; the losses alone stay within 1e-3,
    # which is why the logits after the steps are compared too.
    failing = OPS + ["trained_logits"]
    assert all(not errors[name]["agrees"] for name in failing), errors
    assert all(errors[name]["max_relative_error"] > errors[name]["tolerance"] for name in failing)
    assert result.signature == "disagrees with CPU float64: " + ", ".join(f"{n} on CPU:0" for n in failing)


#: The judgements of agree's checks on numbers made with numpy's seeded generator (numpy runs
#: in the TensorFlow environment): a healthy sample of each, then one per way it can be wrong.
_JUDGED = """
import json, sys; sys.path.insert(0, "probes")
import numpy, agree
rng = numpy.random.RandomState(0)
u = [rng.uniform(0, 1, 4096) for _ in range(3)]
def dropout(rate=0.5, scale=2.0):
    return [numpy.where(rng.uniform(0, 1, 4096) >= rate, scale, 0.0) for _ in range(3)]
same = dropout()[0]
ints = rng.randint(0, 10, 1000).astype("int32")
fit = {"losses": [2.1, 0.4352], "accuracy": [0.5, 0.922]}
def fitted(loss, accuracy):
    return agree.judge_fit({"losses": [2.0, loss], "accuracy": [0.5, accuracy]}, fit)
cases = {
    "uniform": agree.judge_uniform_draws(u),
    "uniform repeats": agree.judge_uniform_draws([u[0], u[0], u[2]]),
    "uniform mean": agree.judge_uniform_draws([d * 0.9 + 0.1 for d in u]),
    "uniform variance": agree.judge_uniform_draws([(d - 0.5) * 0.9 + 0.5 for d in u]),
    "uniform range": agree.judge_uniform_draws([u[0], u[1], numpy.append(u[2][:-1], 1.0)]),
    "uniform nan": agree.judge_uniform_draws([u[0], u[1], numpy.append(u[2][:-1], numpy.nan)]),
    "dropout": agree.judge_dropout(dropout(), 0.5),
    "dropout repeats": agree.judge_dropout([same, same, same], 0.5),
    "dropout kept": agree.judge_dropout(dropout(rate=0.3), 0.5),
    "dropout scale": agree.judge_dropout(dropout(scale=1.0), 0.5),
    "dropout nan": agree.judge_dropout(dropout(scale=numpy.nan), 0.5),
    "int": agree.judge_int_draws(ints, ints.copy(), "int32"),
    "int dtype": agree.judge_int_draws(ints, ints, "int64"),
    "int range": agree.judge_int_draws(numpy.append(ints[:-1], 10), numpy.append(ints[:-1], 10), "int32"),
    "int seed": agree.judge_int_draws(ints, ints[::-1], "int32"),
    "int mean": agree.judge_int_draws(ints // 2, ints // 2, "int32"),
    "fit": fitted(0.4353, 0.918),
    "fit loss": fitted(0.4452, 0.922),
    "fit accuracy": fitted(0.4352, 0.89),
    "fit nan": fitted(None, 0.922),
}
print(json.dumps({name: [c["status"], c.get("failure"), c["finding"]] for name, c in cases.items()}))
nan = agree._entry(agree.CHECKS[0], "/GPU:0", "graph", {"status": "fail", "measured": {"e": [numpy.nan, 1.0]}})
assert nan["measured"] == {"e": [None, 1.0]}, nan  # strict JSON: a NaN is recorded as null
entries = [{"check": "a", "status": "pass"}, {"check": "b", "status": "skipped"}, {"check": "c", "status": "pass"}]
print(json.dumps([
    agree.checks_summary(entries, ["/CPU:0", "/GPU:0"]),
    agree.checks_summary(entries + [{"check": "c", "status": "fail"}], ["/CPU:0"]),
]))
"""


@pytest.fixture(scope="module")
def judged(tf_python):
    done = subprocess.run(
        [str(tf_python), "-c", _JUDGED], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cases, summaries = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    return cases, summaries


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize(
    ("case", "failure", "finding"),
    [
        ("uniform", None, r"3 draws differ \(at most 0\.\d\d% of values alike\)"),
        ("uniform repeats", "random numbers repeat", r"draws 1 and 2 of 3 repeat in 100% of 4096 values"),
        ("uniform mean", "wrong numbers", r"mean 0\.5[45]\d\d, expected 0\.5 \+- 0\.0271"),
        ("uniform variance", "wrong numbers", r"variance 0\.06\d\d, expected 0\.0833 \+- 0\.0070"),
        ("uniform range", "wrong numbers", r"values outside \[0, 1\): .* to 1"),
        ("uniform nan", "wrong numbers", r"non-finite values: 1 of 4096"),
        ("dropout", None, r"3 calls drop other units \(masks alike in 5\d% of places\)"),
        (
            "dropout repeats",
            "random numbers repeat",
            r"successive outputs drop the same units \(100% of 4096 alike\)",
        ),
        ("dropout kept", "wrong numbers", r"kept 7\d\.\d% of units, expected 50% \+- 4\.7%"),
        ("dropout scale", "wrong numbers", r"kept units scaled to 1 - 1, expected 2"),
        ("dropout nan", "wrong numbers", r"non-finite values: \d+ of 4096"),
        ("int", None, r"int32 in \[0, 10\), mean 4\.\d\d"),
        ("int dtype", "wrong numbers", r"dtype int64, expected int32"),
        ("int range", "wrong numbers", r"values 0 to 10, outside \[0, 10\)"),
        ("int seed", "wrong numbers", r"the same seed gave other values"),
        ("int mean", "wrong numbers", r"mean [12]\.\d+, expected 4\.5 \+- 0\.545"),
        ("fit", None, r"final loss 0\.4353 vs 0\.4352, accuracy 0\.918 vs 0\.922 \(CPU float64\)"),
        ("fit loss", "training diverges", r"final loss 0\.4452 vs 0\.4352, .*"),
        ("fit accuracy", "training diverges", r".*, accuracy 0\.89 vs 0\.922 \(CPU float64\)"),
        ("fit nan", "training diverges", r"final loss nan vs 0\.4352, .*"),
    ],
)
def test_each_judgement_of_random_numbers_and_training(judged, case, failure, finding):
    """Every way a check judges numbers, on numbers made to be wrong in that one way."""
    status, found_failure, found = judged[0][case]
    assert (status, found_failure) == ("pass" if failure is None else "fail", failure), found
    assert re.fullmatch(finding, found), found


@pytest.mark.slow
@pytest.mark.network
def test_the_summary_says_what_passed_failed_and_was_skipped(judged):
    assert judged[1] == [
        "passed 2 checks of known failures on CPU:0, GPU:0; skipped here: b",
        "failed 1 of 3 checks of known failures on CPU:0: c; skipped here: b",
    ]


@pytest.mark.slow
@pytest.mark.network
def test_slice_update_is_skipped_with_the_reason_where_keras_is_not_keras_3_on_tensorflow(tf_python):
    """KERAS_BACKEND=numpy, as a user may set it: Keras 3.4's numpy backend needs jax, which is
    not installed, so there is no keras.ops to judge, and the check says why."""
    code = (
        "import sys; sys.path.insert(0, 'probes'); import agree; print(agree.unavailable_slice_update(None))"
    )
    done = subprocess.run(
        [str(tf_python), "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "keras cannot be imported: ModuleNotFoundError: No module named 'jax'"


@pytest.mark.slow
@pytest.mark.network
def test_speedup_without_a_gpu_is_skipped_with_the_reason(tf_python):
    result = run(tf_python, "speedup", ["--model", "small", "--batch-size", "32"])
    assert (result.status, result.signature) == ("skipped", None)
    assert result.reason == "no GPU listed: there is nothing to compare the CPU with"
    speed = result.result
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
        "cpu = speedup.steps_per_second(tf, '/CPU:0', args)\n"
        "slow = dict(cpu, median_step_seconds=cpu['median_step_seconds'] * 6, "
        "steps_per_second=cpu['steps_per_second'] / 6)\n"
        "print(json.dumps([cpu, speedup.compare(cpu, cpu), speedup.compare(cpu, slow)]))\n"
    )
    done = subprocess.run(
        [str(tf_python), "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured, same, slow = json.loads(done.stdout.splitlines()[-1])
    assert (measured["device"], measured["steps_measured"]) == ("/CPU:0", 5)
    assert measured["median_step_seconds"] > 0 and measured["steps_per_second"] > 0
    # A GPU more than 5x slower than the CPU on the same steps is flagged with both step times.
    step = measured["median_step_seconds"]
    assert (same["speedup"], same["much_slower"]) == (1.0, False)
    assert (slow["speedup"], slow["much_slower"], slow["much_slower_factor"]) == (0.17, True, 5.0)
    assert (slow["cpu_step_seconds"], slow["gpu_step_seconds"]) == (step, step * 6)


@pytest.mark.slow
@pytest.mark.network
def test_fit_shows_a_line_per_epoch_and_keeps_everything_in_its_logs(tf_python, tmp_path):
    terminal = io.BytesIO()  # not a terminal: the probe writes into a pipe
    result = run(tf_python, "fit", QUICK_FIT, log_dir=tmp_path, echo=terminal)
    assert result.status == "ok", result.stderr_tail
    shown = terminal.getvalue().decode().splitlines()
    epochs = result.result["epochs"]
    assert shown == [
        f"fit: epoch {e['epoch']}/2: loss {e['loss']:.4f}, accuracy {e['accuracy']:.4f}, {e['seconds']:.1f} s"
        for e in epochs
    ]
    stdout = (tmp_path / "fit.stdout.txt").read_text()
    assert stdout.splitlines()[:2] == shown  # the log has them too, then the result line
    assert json.loads(stdout.splitlines()[-1]) == result.result
    assert stdout.endswith(result.stdout_tail)
    stderr = (tmp_path / "fit.stderr.txt").read_text()
    assert stderr and stderr.endswith(result.stderr_tail)
    # The Keras it trained with: TF 2.17's tf.keras is the keras package installed beside it.
    site = next(tf_python.parent.parent.glob("lib/python*/site-packages"))
    [keras] = [p.name.removesuffix(".dist-info").split("-")[1] for p in site.glob("keras-*.dist-info")]
    assert not list(site.glob("tf_keras-*.dist-info"))
    assert result.result["keras"] == {"tf.keras": f"keras {keras}", "keras": keras, "tf_keras": None}


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
    assert result.status == "ok", result.stderr_tail
    text = shown.decode(errors="replace")
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss" in text and "accuracy" in text
    assert "\b" in text or "\r" in text  # Keras redraws its bar in place: it saw a terminal
    assert '{"data"' not in text  # the result line is for the record, not the terminal
    logged = (tmp_path / "fit.stdout.txt").read_bytes()
    assert b"Epoch 1/2\n" in logged and b"\r\n" not in logged  # the probe's own newlines, kept
    assert json.loads(logged.splitlines()[-1]) == result.result


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
    assert outcomes["import"].result["tensorflow"] == "2.5.0"
    assert [outcomes[name].status for name in outcomes] == ["ok", "ok", "ok", "ok", "skipped"], {
        name: outcome.stderr_tail[-1500:] for name, outcome in outcomes.items()
    }
    # Keras 2.5 has no keras.ops: that check says so and decides nothing; the others pass.
    agree = outcomes["agree"].result
    skipped = {(c["check"], c["reason"]) for c in agree["checks"] if c["status"] == "skipped"}
    assert skipped == {
        ("slice_update", "keras.ops.slice_update does not exist in Keras 2.5.0 (Keras 3 has it)")
    }
    assert agree["checks_summary"] == "passed 6 checks of known failures on CPU:0; skipped here: slice_update"
    assert agree["keras"]["tf.keras"] == outcomes["fit"].result["keras"]["tf.keras"] == "tensorflow 2.5.0"


def _read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            return
        if not data:
            return
        into += data
