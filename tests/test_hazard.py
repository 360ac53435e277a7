"""The XLA training hazard on the real macOS arm64 wheels, one test per Keras generation.

Every pair is resolved by uv as of its release and its TensorFlow and Keras wheels are read
from PyPI (about 250 MB per TensorFlow release the first time, cached by sha256 afterwards).
What each test asserts was read in those wheels: Keras 2.11's default optimizer compiles its
update with ``tf.function(jit_compile=True)`` whenever a GPU is listed; Keras 2.12 adds
``tf_utils.can_jit_compile()``, false on Apple silicon; Keras 2.10's default Adam is the legacy
optimizer; Keras 3's ``compile(jit_compile="auto")`` asks ``model_supports_jit()``, false on an
Apple-silicon Mac with a GPU. The same wheels evaluated for another machine (a Linux box with a
CUDA GPU, an Intel Mac) show that the platform check, not the version, decides.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import msgspec
import pytest

from helpers.network import OFFLINE
from helpers.processes import run_python
from tfcompat.abi import macwheels
from tfcompat.core import config, record
from tfcompat.core.matrix import Row
from tfcompat.hazard import wheelsource, xla
from tfcompat.hazard.pyeval import Facts

ROOT = Path(__file__).resolve().parent.parent
LINUX_CUDA = Facts(system="Linux", processor="x86_64", machine="x86_64", gpus=1, pluggable=0)
INTEL_MAC = Facts(system="Darwin", processor="i386", machine="x86_64", gpus=1, pluggable=1)


def use_on(facts: Facts, *, tf: str, metal: str, python: str) -> xla.XlaUse:
    """Whether the pair's training path compiles with XLA on the machine ``facts`` describe."""
    cache = config.cache_dir()
    wheels = xla.WheelSet.of(tf=tf, metal=metal, python=python, cache=cache)
    with wheels.sources(cache) as sources:
        return xla.xla_use(sources, facts, missing=wheels.missing)


@pytest.mark.network
def test_keras_2_11_default_adam_compiles_with_xla_on_a_mac() -> None:
    """tensorflow issue 58988: 'could not find registered platform' in fit with TF 2.11."""
    section = xla.predict(tf="2.11.0", metal="0.7.0", python="3.10")
    assert (section["kind"], section["predicted"], section["keras"]) == ("xla", "fails", "keras 2.11.0")
    assert section["reason"].startswith(
        "the update step of the default Adam is compiled with XLA "
        "(keras/optimizers/optimizer_experimental/optimizer.py: _BaseOptimizer._update_step_xla, jit_compile=True)"
    )
    assert section["workaround"] == (
        "tf.keras.optimizers.legacy.Adam, or tf.keras.optimizers.Adam(..., jit_compile=False)"
    )
    msgspec.convert(section, record.Hazard)


@pytest.mark.network
def test_keras_2_11_without_a_gpu_does_not_compile() -> None:
    """Its optimizer turns XLA off when TensorFlow lists no GPU: TensorFlow alone trains."""
    section = xla.predict(tf="2.11.0", metal="none", python="3.10")
    assert section["predicted"] == "ok"
    assert section["reason"].endswith("and this Mac lists no GPU")


@pytest.mark.network
def test_keras_2_10_default_is_the_legacy_optimizer() -> None:
    section = xla.predict(tf="2.10.0", metal="0.6.0", python="3.10")
    assert (section["predicted"], section["keras"]) == ("ok", "keras 2.10.0")
    assert section["reason"] == "neither the default Adam nor the train step compiles with XLA by default"
    assert section["workaround"] is None
    use = use_on(LINUX_CUDA, tf="2.10.0", metal="0.6.0", python="3.10")
    assert not (use.optimizer or use.train_step or use.requested)  # not even where XLA works


@pytest.mark.network
def test_keras_2_12_falls_back_on_apple_silicon() -> None:
    section = xla.predict(tf="2.12.0", metal="0.8.0", python="3.10")
    assert (section["predicted"], section["keras"]) == ("ok", "keras 2.12.0")
    assert section["reason"] == (
        "XLA is on by default with a GPU (keras/optimizers/optimizer.py: _BaseOptimizer._update_step_xla, "
        "jit_compile=True), but turned off on macOS arm64"
    )
    # The same wheels on a Linux box with a CUDA GPU: can_jit_compile() is true there.
    assert use_on(LINUX_CUDA, tf="2.12.0", metal="0.8.0", python="3.10").optimizer is True


@pytest.mark.network
def test_keras_3_turns_auto_jit_off_on_apple_silicon() -> None:
    section = xla.predict(tf="2.17.0", metal="1.1.0", python="3.10")
    assert (section["predicted"], section["keras"]) == ("ok", "keras 3.4.1")
    assert section["reason"] == (
        "XLA is on by default with a GPU (Model.compile(jit_compile='auto')), but turned off on macOS arm64"
    )
    use = use_on(Facts(), tf="2.17.0", metal="1.1.0", python="3.10")
    assert (use.optimizer, use.train_step, use.requested) == (False, False, True)
    # On an Intel Mac the Apple-silicon check does not apply, and the answer depends on the
    # model's layers (``supports_jit``), which the probe builds at run time.
    with pytest.raises(xla.HazardError, match=r"^keras 3\.4\.1: cannot tell whether the train step uses XLA"):
        use_on(INTEL_MAC, tf="2.17.0", metal="1.1.0", python="3.10")


@pytest.mark.network
def test_tf_2_5_uses_the_keras_it_bundles() -> None:
    """Before 2.6, tf.keras is tensorflow/python/keras inside the TensorFlow wheel."""
    section = xla.predict(tf="2.5.0", metal="0.1.2", python="3.9")
    assert (section["predicted"], section["keras"]) == (
        "ok",
        "tensorflow-macos 2.5.0 (tensorflow.python.keras)",
    )


@pytest.mark.network
def test_tf_2_16_and_later_wire_tf_keras_by_the_installed_keras() -> None:
    """TensorFlow's KerasLazyLoader: Keras 3 unless TF_USE_LEGACY_KERAS asks for tf-keras,
    which this set does not install."""
    cache = config.cache_dir()
    wheels = xla.WheelSet.of(tf="2.17.0", metal="1.1.0", python="3.10", cache=cache)
    assert "tf_keras" in wheels.missing
    legacy = Facts(environ={"TF_USE_LEGACY_KERAS": "1"})
    with wheels.sources(cache) as sources, pytest.raises(xla.HazardError, match="tf.keras"):
        xla.xla_use(sources, legacy, missing=wheels.missing)


@pytest.mark.network
def test_warm_answer_needs_no_network() -> None:
    expected = xla.predict(tf="2.11.0", metal="0.7.0", python="3.10")
    done = _predict_in_subprocess("2.11.0", "0.7.0", "3.10", env=OFFLINE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected


def test_no_network_and_empty_cache(tmp_path: Path) -> None:
    env = {
        **OFFLINE,
        "TFCOMPAT_CACHE": str(tmp_path),
        "UV_CACHE_DIR": str(tmp_path / "uv"),
        "UV_HTTP_RETRIES": "0",
    }
    done = _predict_in_subprocess("2.11.0", "0.7.0", "3.10", env=env)
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message
    # uv asks for both packages at once: either can be the one it names.
    assert re.match(
        r"tensorflow 2\.11\.0 \+ tensorflow-metal 0\.7\.0, Python 3\.10: network unreachable: "
        r"cannot get https://pypi\.org/simple/tensorflow-(macos|metal)/; connect to the index once",
        message,
    ), message


@pytest.mark.network
def test_no_wheel_for_this_python() -> None:
    with pytest.raises(xla.HazardError) as caught:
        xla.predict(tf="2.11.0", metal="0.7.0", python="3.12")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "tensorflow 2.11.0 + tensorflow-metal 0.7.0, Python 3.12: No solution found when resolving dependencies: "
        "Because tensorflow-macos==2.11.0 has no wheels with a matching Python ABI tag"
    )


@pytest.mark.network
@pytest.mark.slow
def test_abi_record_carries_the_hazard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tfcompat.predict.row import run_abi

    monkeypatch.setenv("TFCOMPAT_REPORTS", str(tmp_path))
    lines: list[str] = []
    row = Row(number=1, python="3.10", tf="2.11.0", metal="0.7.0", supports=None)
    _, path = run_abi(row, log=lines.append)
    written = record.load_record(path)
    assert written.abi.hazard.predicted == "fails"
    assert written.abi.hazard.workaround.startswith("tf.keras.optimizers.legacy.Adam")
    assert any(line.startswith("hazard: training predicted fails with keras 2.11.0: ") for line in lines)


@pytest.mark.slow
@pytest.mark.network  # a real TensorFlow environment from PyPI
def test_probe_runs_the_fit_with_the_workarounds(tf_python: Path) -> None:
    """probes/fit.py --xla: a Mac can verify the default and the workaround. Here on
    tensorflow-cpu with Keras 3, which has no jit_compile on Adam and no legacy optimizers."""
    quick = ["--data", "synthetic", "--model", "small", "--samples", "64", "--epochs", "1"]
    off = _fit(tf_python, *quick, "--xla", "off")
    assert off.returncode == 0, off.stderr[-2000:]
    result = json.loads(off.stdout.splitlines()[-1])
    assert (result["xla"], result["model_jit_compile"], result["finite"]) == ("off", False, True)
    legacy = _fit(tf_python, *quick, "--xla", "legacy-optimizer")
    assert legacy.returncode == 1
    assert "`keras.optimizers.legacy` is not supported in Keras 3" in legacy.stderr


def _fit(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), str(ROOT / "probes" / "fit.py"), *args], capture_output=True, text=True, timeout=600
    )


def _predict_in_subprocess(tf: str, metal: str, python: str, *, env: dict) -> subprocess.CompletedProcess:
    """``xla.predict`` in a fresh interpreter: prints the section as JSON, or the one-line
    error and exits 3."""
    code = (
        "import json, sys\n"
        "from tfcompat.hazard import xla\n"
        "try:\n"
        f"    print(json.dumps(xla.predict(tf={tf!r}, metal={metal!r}, python={python!r})))\n"
        "except xla.HazardError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    return run_python(code, env=env)


def test_an_abi_record_without_a_hazard_answer_says_no_prediction(tmp_path: Path, monkeypatch) -> None:
    """No network and nothing cached: the record's hazard says "no prediction" and why, never ok."""
    from tfcompat.predict.row import run_abi

    for name, value in {**OFFLINE, "UV_CACHE_DIR": str(tmp_path / "uv"), "UV_HTTP_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TFCOMPAT_REPORTS", str(tmp_path / "reports"))
    lines: list[str] = []
    row = Row(number=1, python="3.10", tf="2.11.0", metal="0.7.0", supports=None)
    _, path = run_abi(row, log=lines.append)
    written = record.load_record(path)
    # Neither a load verdict nor a word on training: no verdict, with the reason; never ok.
    assert (written.verdict, written.abi.verdict) == ("error", None)
    assert written.abi.hazard is None or written.abi.hazard.predicted is None
    assert "cannot reach the package index" in written.abi.error
    assert any(line.startswith("abi: no prediction: ") for line in lines)


@pytest.mark.network
def test_sources_are_read_by_range_without_the_whole_wheel(tmp_path: Path, monkeypatch) -> None:
    """A TensorFlow wheel is 200 - 600 MB and the hazard reads a few of its ``.py`` members: they
    come by range requests (its central directory and those members), never the whole wheel.
    (A server without ranges, ``file://`` in test_pyeval.py, still gets the download.)"""

    def whole_wheel(*_args, **_kwargs):
        raise AssertionError("the whole wheel was downloaded")

    monkeypatch.setattr(wheelsource, "download", whole_wheel)
    [ref] = macwheels.resolve([("tensorflow-macos", "2.11.0")], python="3.10", root=tmp_path / "abi")
    with wheelsource.SourceSet([ref], root=tmp_path / "sources") as sources:
        assert sources.module_path("tensorflow") == "tensorflow/__init__.py"
        text = sources.read("tensorflow/__init__.py")
    assert "from tensorflow.python" in text
