"""The doctor on real environments: real virtual environments holding the real macOS wheels as a
Mac's pip lays them out (uv installs them here with ``--python-platform aarch64-apple-darwin``:
real files and dist-info, not runnable here), the map's real engine, and real tensorflow-cpu
where TensorFlow must import (the suite's ``tf_python``). The Mac-only parts (probes for the GPU,
``--fix``) run here as far as they can: the import probe with tensorflow-cpu, ``--fix`` refused.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import msgspec
import pytest

from helpers.paths import ROOT
from helpers.plugins import build_plugin
from tfcompat.core.macos import PLATFORM
from tfcompat.core.uvcall import uv_binary
from tfcompat.doctor import answer, checks
from tfcompat.doctor.cli import main
from tfcompat.doctor.environment import Distribution, Environment, find_python
from tfcompat.doctor.model import Diagnosis

PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def interpreter(version: str) -> str:
    """This Python for its own version; pyenv's for another, or the test is skipped."""
    if version == PYTHON:
        return sys.executable
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"no CPython {version} under {PYENV}")
    return str(found[-1])


def make_env(folder: Path, python: str, *requirements: str, deps: bool = True) -> Path:
    """A virtual environment holding ``requirements`` as a Mac's pip installs them."""
    uv = uv_binary()
    subprocess.run([uv, "venv", "-q", "--python", interpreter(python), str(folder)], check=True)
    if requirements:
        argv = [uv, "pip", "install", "-q", "--python", str(folder), "--python-platform", PLATFORM]
        subprocess.run([*argv, *(() if deps else ("--no-deps",)), *requirements], check=True, timeout=900)
    return folder


def doctor(*argv: str) -> tuple[int, Diagnosis, str]:
    """The doctor in this process: (exit code, the diagnosis from its --json, its stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json"], out=out, err=err)
    return code, msgspec.json.decode(out.getvalue(), type=Diagnosis), err.getvalue()


def text_of(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out, err=io.StringIO()), out.getvalue()


def lines(diagnosis: Diagnosis, check: str) -> list[str]:
    return [f"{f.severity} {f.mark} {f.text}" for f in diagnosis.findings if f.check == check]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime: what "nothing changed" compares."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """The issue's cases, each built once (uv's cache makes a rebuild a few seconds)."""
    root = tmp_path_factory.mktemp("doctor-envs")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            folder = root / name
            if name == "apple":  # Apple's instructions today: nothing pinned
                built[name] = make_env(folder, PYTHON, "tensorflow", "tensorflow-metal")
            elif name == "2.18":
                built[name] = make_env(folder, PYTHON, "tensorflow==2.18.0", "tensorflow-metal==1.1.0")
            elif name == "healthy":
                built[name] = make_env(folder, PYTHON, "tensorflow==2.19.1", "tensorflow-metal==1.2.0")
            elif name == "2.9":  # TF 2.9 declares no numpy bound: today's resolver gives numpy 2
                built[name] = make_env(folder, "3.10", "tensorflow-macos==2.9.0", "tensorflow-metal==0.5.0")
            elif name == "3.13":  # pip install tensorflow tensorflow-metal installs nothing on 3.13
                built[name] = make_env(folder, "3.13")
            elif name == "empty":
                built[name] = make_env(folder, PYTHON)
            elif name == "plugin-only":
                built[name] = make_env(folder, PYTHON, "tensorflow-metal==1.2.0", deps=False)
            elif name == "leftover":  # tensorflow-macos 2.16.2 (a 2 kB stub) left by an older pair
                built[name] = make_env(
                    folder,
                    PYTHON,
                    "tensorflow==2.19.1",
                    "tensorflow-metal==1.2.0",
                    "tensorflow-macos==2.16.2",
                    deps=False,
                )
        return built[name]

    return get


# The cases


@pytest.mark.slow
@pytest.mark.network
def test_apples_unpinned_install_does_not_load_and_the_fix_is_the_recommended_pair(envs):
    env = envs("apple")
    code, diagnosis, _ = doctor(str(env))
    assert (code, diagnosis.status, diagnosis.pair.tf, diagnosis.pair.metal) == (
        1,
        "problem",
        "2.21.0",
        "1.2.0",
    )
    load = lines(diagnosis, "load")
    assert (
        load[0].startswith("problem ❌ ")
        and "Library not loaded: @rpath/_pywrap_tensorflow_internal.so" in load[0]
    )
    assert (
        "a path fix would meet next: Symbol not found: __ZN10tensorflow28_AttrValue_default_instance_E"
        in load[1]
    )
    fix = diagnosis.fix
    assert (fix.recommendation.pair.tf, fix.recommendation.pair.metal) == ("2.19.1", "1.2.0")
    python = str(env / "bin" / "python3")
    assert fix.commands[-1] == [
        python,
        "-m",
        "pip",
        "install",
        "tensorflow==2.19.1",
        "tensorflow-metal==1.2.0",
    ]
    assert fix.commands[0] == [python, "-m", "ensurepip"]  # uv made the venv: no pip in it
    assert not fix.new_environment


@pytest.mark.slow
@pytest.mark.network
def test_tf_2_18_with_plugin_1_1_fails_to_load_in_dylds_words(envs):
    code, diagnosis, _ = doctor(str(envs("2.18")))
    assert code == 1
    assert any(
        "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii" in line for line in lines(diagnosis, "load")
    )
    assert diagnosis.fix.recommendation.pair.tf == "2.19.1"


@pytest.mark.slow
@pytest.mark.network
def test_a_healthy_pair_exits_0_with_no_fix_and_changes_nothing(envs):
    env = envs("healthy")
    before = tree(env)
    code, diagnosis, _ = doctor(str(env))
    assert (code, diagnosis.status, diagnosis.fix) == (0, "healthy", None)
    assert lines(diagnosis, "load") == [
        "ok ✅ tensorflow-metal 1.2.0 next to TensorFlow 2.19.1: the plugin loads"
    ]
    assert lines(diagnosis, "hazard")[0].startswith("ok ✅ no training hazard")
    assert [f.check for f in diagnosis.findings if f.severity == "problem"] == []
    assert tree(env) == before  # read only: not even bytecode


@pytest.mark.slow
@pytest.mark.network
def test_the_macos_floors_are_judged_against_the_macos_named(envs):
    env = str(envs("healthy"))
    code, diagnosis, _ = doctor(env, "--macos", "15.3")
    assert code == 0 and lines(diagnosis, "floors")[0].startswith("ok ✅ installs and loads on macOS 15.3")
    code, diagnosis, _ = doctor(env, "--macos", "11.6")
    assert code == 1
    assert lines(diagnosis, "floors") == ["problem ❌ on macOS 11.6: the wheels need macOS 12.0 to install"]


@pytest.mark.slow
@pytest.mark.network
def test_tf_2_9_with_numpy_2_is_the_numpy_trap_against_its_release_set(envs):
    code, diagnosis, _ = doctor(str(envs("2.9")))
    assert code == 1
    (numpy,) = lines(diagnosis, "numpy")
    assert numpy.startswith("problem ❌ numpy 2.") and "whose release had numpy 1." in numpy
    assert lines(diagnosis, "protobuf")[0].startswith("problem ❌ protobuf ")
    # The fix moves to the recommended pair and takes away tensorflow-macos, which 2.19.1 does not use.
    assert ["-m", "pip", "uninstall", "-y", "tensorflow-macos"] == diagnosis.fix.commands[-2][1:]
    assert diagnosis.fix.recommendation.python == "3.10"


@pytest.mark.slow
@pytest.mark.network
def test_python_3_13_has_no_pair_and_the_fix_is_a_new_environment(envs):
    code, diagnosis, _ = doctor(str(envs("3.13")))
    assert code == 1
    assert lines(diagnosis, "python")[0].startswith(
        "problem ❌ no tensorflow-metal release has a macOS arm64 wheel for Python 3.13"
    )
    fix = diagnosis.fix
    assert fix.new_environment and fix.recommendation.python == "3.12"
    # The report's steps for a Python with no pair: uv brings the interpreter a fresh Mac lacks.
    assert fix.commands[:2] == [
        ["uv", "python", "install", "3.12"],
        ["uv", "venv", "--seed", "--python", "3.12", "tf-metal"],
    ]
    assert fix.commands[2][:4] == ["tf-metal/bin/python", "-m", "pip", "install"]


@pytest.mark.slow
@pytest.mark.network
def test_no_tensorflow_at_all_is_one_line_naming_what_was_read_and_the_fix_installs_the_pair(envs):
    env = envs("empty")
    code, text = text_of(str(env))
    assert code == 1 and "Traceback" not in text
    line = next(line for line in text.splitlines() if "no TensorFlow and no tensorflow-metal" in line)
    assert str(env / "lib") in line  # names the site-packages it read
    code, diagnosis, _ = doctor(str(env))
    assert diagnosis.fix.commands[-1][-2:] == ["tensorflow==2.19.1", "tensorflow-metal==1.2.0"]


@pytest.mark.slow
@pytest.mark.network
def test_a_plugin_without_tensorflow_and_a_leftover_tensorflow_macos(envs):
    code, diagnosis, _ = doctor(str(envs("plugin-only")))
    assert code == 1 and lines(diagnosis, "tensorflow")[0].startswith(
        "problem ❌ tensorflow-metal 1.2.0 is installed with no TensorFlow at all"
    )
    code, diagnosis, _ = doctor(str(envs("leftover")))
    assert code == 1
    assert lines(diagnosis, "leftover") == [
        "problem ❌ tensorflow-macos 2.16.2 is left behind next to tensorflow 2.19.1: both write the "
        "tensorflow package, and whichever was installed last wins"
    ]
    assert ["pip", "uninstall", "-y", "tensorflow-macos"] == diagnosis.fix.commands[-2][2:]


@pytest.mark.slow
@pytest.mark.network
def test_a_requirement_tensorflow_declares_and_a_second_dist_info_are_problems(envs, tmp_path):
    env = tmp_path / "env"
    shutil.copytree(envs("healthy"), env, symlinks=True)
    site = next(env.glob("lib/python3.*/site-packages"))
    numpy = next(site.glob("numpy-*.dist-info"))
    # numpy upgraded past TensorFlow 2.19's cap (numpy<2.2), the old dist-info left beside it.
    newer = site / "numpy-2.3.5.dist-info"
    shutil.copytree(numpy, newer)
    metadata = (newer / "METADATA").read_text()
    (newer / "METADATA").write_text(
        metadata.replace(f"Version: {numpy.name.removesuffix('.dist-info').split('-')[1]}", "Version: 2.3.5")
    )
    shutil.rmtree(numpy)
    code, diagnosis, _ = doctor(str(env))
    assert code == 1
    assert lines(diagnosis, "numpy") == [
        "problem ❌ numpy 2.3.5 does not satisfy tensorflow 2.19.1's requirement numpy<2.2.0,>=1.26.0"
    ]
    shutil.copytree(newer, site / "numpy-2.1.3.dist-info")
    (site / "numpy-2.1.3.dist-info" / "METADATA").write_text(metadata)
    _, diagnosis, _ = doctor(str(env))
    assert lines(diagnosis, "duplicate")[0].startswith("problem ❌ numpy is installed 2 times")


def test_an_installed_release_the_index_lacks_cannot_be_judged_as_healthy():
    dist = Distribution(name="tensorflow", version="2.99.0", metadata="METADATA")
    env = Environment(Path("python"), "3.11.7", "CPython", "/x", True, [], {"tensorflow": dist})
    known = answer.Answers(tf_releases={"2.19.1": object()}, metal_releases={"1.2.0": object()})
    assert [f.severity for f in checks.on_index(env, known)] == ["unknown"]


# The Mac-only part, as far as it runs here


@pytest.mark.slow
@pytest.mark.network  # tf_python: a real TensorFlow environment from PyPI
def test_the_import_probe_runs_in_the_environment_with_a_real_tensorflow(tf_python):
    env = tf_python.parent.parent
    code, diagnosis, _ = doctor(str(env), "--probes", "yes")
    probes = {probe.probe: probe for probe in diagnosis.probes}
    assert probes["import"].status == "ok" and probes["import"].detail.startswith("TensorFlow 2.17.0 imports")
    assert probes["devices"].detail == "no GPU listed (TensorFlow alone: the CPU)"
    # tensorflow-cpu without the plugin: the CPU only, a problem found (exit 1), seen and read.
    assert code == 1 and lines(diagnosis, "plugin")[0].startswith(
        "problem ❌ tensorflow-cpu 2.17.0 without tensorflow-metal"
    )


@pytest.mark.slow
@pytest.mark.network  # tf_python: a real TensorFlow environment from PyPI
def test_a_plugin_that_fails_to_load_is_seen_by_the_import_probe(tf_python, tmp_path, monkeypatch):
    plugin = build_plugin(tmp_path / "plugin", "undefined")
    monkeypatch.setenv("TF_PLUGGABLE_DEVICE_LIBRARY_PATH", str(plugin))
    _, diagnosis, _ = doctor(str(tf_python.parent.parent), "--probes", "yes")
    assert lines(diagnosis, "probe import") == [
        "problem ❌ import probe in this environment: undefined symbol: tfcompat_missing_symbol"
    ]
    assert [probe.status for probe in diagnosis.probes] == ["fail", "not_run"]


def test_fix_off_a_mac_is_refused_in_one_line_and_changes_nothing(tmp_path):
    env = make_env(tmp_path / "env", PYTHON)
    before = tree(env)
    code, text = text_of(str(env), "--fix")
    assert code == 2 and text.strip().splitlines()[-1].startswith("cannot tell: --fix runs only on a Mac")
    assert tree(env) == before


# Bad input: one line each, naming what was read; exit 2; never a traceback


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    text = tmp_path / "notes.txt"
    text.write_text("not a program\n")
    text.chmod(0o755)
    failing = tmp_path / "python-that-fails"
    failing.write_text("#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n")
    failing.chmod(0o755)
    folder = tmp_path / "folder"
    folder.mkdir()
    return {
        "missing": (str(tmp_path / "nothing"), "nothing: no such file or folder"),
        "not a Python": (str(text), "notes.txt: not a Python that runs"),
        "cannot run": (str(failing), "cannot run (exit code 1: Fatal Python error: init_fs_encoding)"),
        "a folder that is no environment": (
            str(folder),
            "folder: not a Python or a virtual environment's folder",
        ),
    }


@pytest.mark.parametrize("case", ["missing", "not a Python", "cannot run", "a folder that is no environment"])
def test_a_bad_python_is_one_line_and_exit_2(tmp_path, case):
    given, words = _bad_inputs(tmp_path)[case]
    code, text = text_of(given)
    (line,) = text.strip().splitlines()
    assert code == 2 and line.startswith("cannot tell: ") and line.endswith(" (exit 2)")
    assert words in line


@pytest.mark.parametrize("case", ["not PEP 440", "a FIFO", "a folder"])
def test_unreadable_metadata_is_one_line_naming_the_file_and_exit_2(tmp_path, case):
    env = make_env(tmp_path / "env", PYTHON)
    site = next(env.glob("lib/python3.*/site-packages"))
    metadata = site / "numpy-2.0.0.dist-info" / "METADATA"
    metadata.parent.mkdir()
    if case == "not PEP 440":
        metadata.write_text("Metadata-Version: 2.1\nName: numpy\nVersion: two point oh\n")
    elif case == "a FIFO":
        os.mkfifo(metadata)  # a plain open would wait for a writer for ever
    else:
        metadata.mkdir()
    code, text = text_of(str(env))
    (line,) = text.strip().splitlines()
    assert code == 2 and line.startswith(f"cannot tell: {metadata}: ")
    assert {
        "not PEP 440": "'two point oh' is not PEP 440",
        "a FIFO": "not a regular file",
        "a folder": "not a regular file",
    }[case] in line


def test_a_bad_macos_option_is_one_line():
    code, text = text_of("--macos", "fifteen")
    assert (code, text.strip()) == (
        2,
        "cannot tell: --macos 'fifteen': not a macOS version (e.g. 15.3) (exit 2)",
    )


def test_the_default_is_the_callers_environment_not_the_suites(tmp_path, monkeypatch):
    env = make_env(tmp_path / "env", PYTHON)
    # What python3 noxfile.py keeps before uv run replaces VIRTUAL_ENV and PATH.
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    monkeypatch.setenv("TFCOMPAT_CALLER_VIRTUAL_ENV", str(env))
    monkeypatch.setenv("TFCOMPAT_CALLER_PATH", "/usr/bin")
    assert find_python(None) == env / "bin" / "python3"
    monkeypatch.setenv("TFCOMPAT_CALLER_VIRTUAL_ENV", "")
    monkeypatch.setenv("TFCOMPAT_CALLER_PATH", str(env / "bin"))
    assert find_python(None) == env / "bin" / "python3"


# Exit codes through nox, JSON against its schema


@pytest.mark.slow
@pytest.mark.network
def test_python3_noxfile_py_gives_the_doctors_exit_codes(envs, tmp_path):
    """``python3 noxfile.py -s doctor``: 0 healthy (successful), 1 a problem (failed), 2 cannot
    tell (aborted, and the process exits 2). The hand-over to uv is skipped: this test's Python
    has the locked dependencies already."""
    env = {**os.environ, "TFCOMPAT_HANDED_OVER": str(os.getpid())}
    outcomes = {}
    for name, target in (
        ("healthy", envs("healthy")),
        ("problem", envs("apple")),
        ("unknown", tmp_path / "none"),
    ):
        done = subprocess.run(
            [sys.executable, str(ROOT / "noxfile.py"), "-s", "doctor", "--", str(target)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )
        outcomes[name] = (done.returncode, done.stderr.strip().splitlines()[-1])
    assert outcomes["healthy"][0] == 0 and outcomes["healthy"][1].startswith(
        "nox > Session doctor was successful"
    )
    assert outcomes["problem"] == (1, "nox > Session doctor failed.")
    assert outcomes["unknown"][0] == 2
    assert outcomes["unknown"][1].startswith("nox > Session doctor aborted: doctor: cannot tell (exit 2)")


@pytest.mark.slow
@pytest.mark.network
def test_json_follows_its_published_schema(envs):
    out = io.StringIO()
    main([str(envs("apple")), "--json"], out=out, err=io.StringIO())
    schema = json.loads((ROOT / "schemas" / "doctor.schema.json").read_text())
    jsonschema.validate(json.loads(out.getvalue()), schema)
