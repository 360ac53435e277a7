"""Real plugin-load failures: C libraries built here, loaded by real TensorFlow at import.

On Linux, TensorFlow dlopens every path in TF_PLUGGABLE_DEVICE_LIBRARY_PATH at import, exactly as
it dlopens tensorflow-plugins/libmetal_plugin.dylib on a Mac; the runner passes the environment
through, so these are the failures a wrong tensorflow-metal causes, made with the loader's own
wording.
"""

from __future__ import annotations

import os

import pytest

from helpers.plugins import build_plugin
from helpers.processes import processes_mapping
from tfcompat.core.matrix import Row
from tfcompat.verify.run import judge
from tfcompat.verify.runner import probe_script, run_probe

ROW = Row(number=1, python="3.11", tf="2.17.0", metal="none", supports=None)

pytestmark = [pytest.mark.network]  # a real TensorFlow environment from PyPI


def import_with_plugin(tf_python, library, *, timeout=120.0):
    env = {**os.environ, "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library)}
    run = run_probe(tf_python, probe_script("import"), [], timeout=timeout, env=env)
    return run, judge("import", run, row=ROW, timeout=timeout)


@pytest.mark.slow
def test_import_without_plugin_is_ok(tf_python):
    run, result = import_with_plugin(tf_python, "")
    assert result.status == "ok", result.stderr_tail
    assert result.result["tensorflow"] == "2.17.0"


@pytest.mark.slow
@pytest.mark.fault(1)
def test_undefined_symbol_is_classified_with_the_symbol(tf_python, tmp_path):
    run, result = import_with_plugin(tf_python, build_plugin(tmp_path, "undefined"))
    assert (result.status, result.returncode) == ("fail", 1)
    assert result.signature == "undefined symbol: tfcompat_missing_symbol"
    assert "NotFoundError" in result.error and result.error.startswith("Traceback")


@pytest.mark.slow
@pytest.mark.fault(2)
def test_missing_dependency_names_the_library(tf_python, tmp_path):
    run, result = import_with_plugin(tf_python, build_plugin(tmp_path, "dependency"))
    assert result.status == "fail"
    assert result.signature == "cannot open shared object: libtfcompatdep.so"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "number", "name"),
    [
        pytest.param("segfault", 11, "SIGSEGV", marks=pytest.mark.fault(3)),
        pytest.param("abort", 6, "SIGABRT", marks=pytest.mark.fault(4)),
    ],
)
def test_crash_at_import_is_a_signal_with_the_faulthandler_stack(tf_python, tmp_path, kind, number, name):
    run, result = import_with_plugin(tf_python, build_plugin(tmp_path, kind))
    assert (result.returncode, result.signal) == (-number, name)
    assert result.signature == f"signal {number} ({name})"
    assert result.error.startswith("Fatal Python error")
    assert "import.py" in result.error  # the Python stack faulthandler printed


@pytest.mark.slow
@pytest.mark.fault(5)
def test_hang_at_import_times_out_and_leaves_no_process(tf_python, tmp_path):
    library = build_plugin(tmp_path, "hang")
    run, result = import_with_plugin(tf_python, library, timeout=15)
    assert result.status == "fail" and result.timed_out
    assert result.signature == "timeout after 15 s"
    assert result.returncode is None
    assert processes_mapping(library) == []


@pytest.mark.slow
@pytest.mark.fault(4)
def test_abort_with_a_known_reason_is_named_by_the_reason(tf_python, tmp_path):
    run, result = import_with_plugin(tf_python, build_plugin(tmp_path, "registered_twice"))
    assert result.signal == "SIGABRT"
    assert result.signature == "platform registered twice"
