"""Provisioning's answers to the environment it meets: real uv, real interpreters."""

from __future__ import annotations

import os
import time

import pytest

from tfcompat.core.matrix import Row
from tfcompat.core.uvcall import explain_error
from tfcompat.verify.provision import ProvisionError, find_interpreter, requirements_for


def test_pyenv_shim_of_an_unselected_version_is_named_with_the_fix(tmp_path, monkeypatch):
    # pyenv's shim for an installed but unselected version prints this and exits 127; uv then
    # fails hard instead of looking further. The shim here is a real executable doing just that.
    shim = tmp_path / "python3.7"
    shim.write_text('#!/bin/sh\necho "pyenv: python3.7: command not found" >&2\nexit 127\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    with pytest.raises(ProvisionError) as caught:
        find_interpreter("3.7", deadline=time.monotonic() + 60)
    assert caught.value.signature == "interpreter not found"
    assert str(caught.value) == (
        "Python 3.7: pyenv has it but its shim exits 127 because it is not selected; "
        "select it too, e.g. PYENV_VERSION=$(pyenv version-name):$(pyenv latest 3.7)"
    )


@pytest.mark.parametrize(
    ("system", "machine", "tf", "metal", "expected"),
    [
        ("Darwin", "arm64", "2.12.0", "0.8.0", ["tensorflow-macos==2.12.0", "tensorflow-metal==0.8.0"]),
        ("Darwin", "arm64", "2.13.0", "1.0.0", ["tensorflow==2.13.0", "tensorflow-metal==1.0.0"]),
        ("Darwin", "arm64", "2.19.0", "none", ["tensorflow==2.19.0"]),
        ("Darwin", "x86_64", "2.9.0", "0.5.0", ["tensorflow==2.9.0", "tensorflow-metal==0.5.0"]),
        ("Linux", "x86_64", "2.17.0", "none", ["tensorflow-cpu==2.17.0"]),
        ("Linux", "aarch64", "2.17.0", "none", ["tensorflow==2.17.0"]),
    ],
)
def test_distributions_per_platform(system, machine, tf, metal, expected):
    row = Row(number=1, python="3.10", tf=tf, metal=metal, supports=None if metal == "none" else "yes")
    assert requirements_for(row, system=system, machine=machine) == expected


def test_uv_errors_become_one_line_with_a_stable_signature():
    unsat = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because there is no version of tensorflow-cpu==9.9.9 and you require tensorflow-cpu==9.9.9, "
        "we can conclude that your requirements are unsatisfiable.\n"
    )
    assert explain_error(unsat) == ("no such release", "no such release: tensorflow-cpu==9.9.9")
    other = "error: Something new went wrong\n  cause: first\n  cause: the real reason\n"
    assert explain_error(other) == ("provisioning failed", "Something new went wrong; the real reason")


def test_the_pinned_uv_package_wins_over_another_uv_on_path(tmp_path):
    """Records name the uv the noxfile pins: a different ``uv`` first on PATH is not run."""
    import subprocess
    import sys

    from uv import find_uv_bin

    impostor = tmp_path / "uv"
    impostor.write_text("#!/bin/sh\necho 'uv 0.0.1 (impostor)'\n")
    impostor.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    code = "from tfcompat.core.uvcall import uv_binary; print(uv_binary())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == find_uv_bin() != str(impostor)
