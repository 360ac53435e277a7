"""Install commands that work today, from real resolutions of the index (uv, macOS arm64).

Today's versions move with new releases, so the tests assert majors and pins, not today's
exact versions. Evidence for the pins, tried on Linux with tensorflow-cpu (the same Python
code and generated protobuf modules as the macOS wheels) when this was written:
- TF 2.9.0 as resolved today (numpy 2.2.6, protobuf 7.36.2): ``import tensorflow`` fails with
  protobuf's "Descriptors cannot be created directly";
- with ``"protobuf<4"`` alone (numpy 2.2.6, protobuf 3.20.3): fails in ``dtypes.py`` with
  "Unable to convert function return value to a Python type" (numpy 2's C API);
- with ``"numpy<2" "protobuf<4"`` (1.26.4, 3.20.3): imports and computes;
- TF 2.20.0 with today's protobuf 7.36.2 (released with 6.31.1): imports, fits, saves a model,
  so a protobuf 6 release gets no pin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from helpers.network import OFFLINE
from tfcompat.core import macos, record
from tfcompat.resolve import installcmd, macresolve

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.network
def test_tf_2_9_needs_numpy_and_protobuf_below_their_next_majors() -> None:
    section = installcmd.install_command(tf="2.9.0", metal="0.5.0", python="3.10")
    assert section["pins"] == ["numpy<2", "protobuf<4"]
    assert section["command"] == (
        'python -m pip install "tensorflow-macos==2.9.0" "tensorflow-metal==0.5.0" "numpy<2" "protobuf<4"'
    )
    assert section["works"] is True
    numpy_reason, protobuf_reason = section["reason"].split("; ")
    assert (
        numpy_reason.startswith("today pip takes numpy 2.") and ", the release had 1.22.4 (" in numpy_reason
    )
    assert (
        protobuf_reason.startswith("today pip takes protobuf ")
        and ", the release had 3.20.1 (" in protobuf_reason
    )
    msgspec.convert(section, record.InstallCommand)


@pytest.mark.network
def test_the_pinned_command_installs_from_wheels() -> None:
    """What the command prints is what was resolved: the pins hold, from binary wheels."""
    section = installcmd.install_command(tf="2.9.0", metal="0.5.0", python="3.10")
    reqs = macos.requirements("2.9.0", "0.5.0") + section["pins"]
    pins = macresolve.resolve(reqs, python="3.10", exclude_newer=None, binary_only=True)
    assert macresolve.find(pins, "numpy").version.startswith("1.")
    assert macresolve.find(pins, "protobuf").version.startswith("3.")
    assert all(pin.is_wheel for pin in pins)


@pytest.mark.network
def test_tf_2_17_needs_nothing() -> None:
    """TF 2.17 pins numpy<2 and protobuf<5 itself; Keras stays on 3."""
    section = installcmd.install_command(tf="2.17.0", metal="1.1.0", python="3.10")
    keras = section.pop("keras")
    assert section == {
        "command": 'python -m pip install "tensorflow==2.17.0" "tensorflow-metal==1.1.0"',
        "pins": [],
        "reason": None,
        "works": True,
    }
    # The Keras today's command brings, named for the answer: Keras 3, as TF 2.17 asks.
    assert keras.startswith("keras 3.")


@pytest.mark.network
def test_a_protobuf_6_release_is_not_pinned() -> None:
    """TF 2.20 was released with protobuf 6 and works with today's 7 (see the module notes)."""
    section = installcmd.install_command(tf="2.20.0", metal="1.2.0", python="3.10")
    assert not any(pin.startswith("protobuf") for pin in section["pins"])


@pytest.mark.network
def test_release_set_with_no_solution_then_still_gives_the_majors() -> None:
    """TF 2.7 on Python 3.9: no libclang for macOS arm64 at its release, so the release set is
    taken for numpy, protobuf and keras only; today it installs, with both pins."""
    section = installcmd.install_command(tf="2.7.0", metal="0.3.0", python="3.9")
    assert (section["pins"], section["works"]) == (["numpy<2", "protobuf<4"], True)


@pytest.mark.network
def test_a_pair_no_wheels_install_says_so() -> None:
    """tensorflow-macos 2.5 requires numpy 1.19, which has no macOS arm64 wheel at all."""
    section = installcmd.install_command(tf="2.5.0", metal="0.1.2", python="3.9")
    assert section["works"] is False
    assert section["pins"] == []
    assert section["reason"].startswith("no set of wheels installs it today: ")
    assert "numpy>=1.19.2,<=1.19.5 has no usable wheels" in section["reason"]
    assert "\n" not in section["reason"]


@pytest.mark.network
def test_a_pure_python_sdist_the_release_built_is_allowed_today_too() -> None:
    """TF 2.12.0 on Python 3.8 needs jax, which has no wheel for 3.8 at all: pip builds its
    pure-Python sdist, as the map's preflight does (its ``sdists``). Today's check allows the
    same for those distributions, and nothing else."""
    asked = {"tf": "2.12.0", "metal": "0.8.0", "python": "3.8"}
    assert installcmd.install_command(**asked, sdists=("jax",))["works"] is True
    strict = installcmd.install_command(**asked)
    assert strict["works"] is False and "jax" in strict["reason"]


def test_command_quotes_every_argument() -> None:
    assert installcmd.command(["tensorflow==2.13.0", "tensorflow-metal==1.0.0"], ["numpy<2"]) == (
        'python -m pip install "tensorflow==2.13.0" "tensorflow-metal==1.0.0" "numpy<2"'
    )
    assert macos.requirements("2.12.0", "0.8.0") == [
        "tensorflow-macos==2.12.0",
        "tensorflow-metal==0.8.0",
    ]
    assert macos.requirements("2.13.0", "none") == ["tensorflow==2.13.0"]


def test_no_network_is_no_answer(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tfcompat.resolve import installcmd\n"
        "try:\n"
        "    installcmd.install_command(tf='2.9.0', metal='0.5.0', python='3.10')\n"
        "except installcmd.InstallError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    env = {
        **os.environ,
        **OFFLINE,
        "TFCOMPAT_CACHE": str(tmp_path),
        "UV_CACHE_DIR": str(tmp_path / "uv"),
        "UV_HTTP_RETRIES": "0",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message
    # uv asks for both packages at once: either can be the one it names.
    assert re.match(
        r'python -m pip install "tensorflow-macos==2\.9\.0" "tensorflow-metal==0\.5\.0" \(macOS arm64, Python 3\.10\): '
        r"no answer: network unreachable: cannot get https://pypi\.org/simple/tensorflow-(macos|metal)/; "
        r"connect to the index once",
        message,
    ), message
