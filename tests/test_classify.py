"""Every failure shape of shared/reference/failures.md, classified from its real text.

What a Mac prints cannot be produced here, so each text below is copied from a public report of
a real run (source above it) and replayed by a real process: it writes the text to stderr and
exits (or aborts) as the real probe did, the real runner captures it, and ``verify.judge``
classifies it. The shapes that can happen here for real are tested for real elsewhere:
undefined symbol, missing library, segfault, abort with a reason (test_plugin_failures.py), NaN
loss (test_faults.py), GPU results that differ (test_probes.py, float16), dataset download and
certificates (test_judgements.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tfcompat.core.matrix import Row
from tfcompat.verify.run import judge
from tfcompat.verify.runner import run_probe

ROW = Row(number=1, python="3.10", tf="2.20.0", metal="1.2.0", supports="ambiguous")

#: An M1 MacBook Air, macOS 15.6.1, Python 3.10, pip: every pair of the matrix tried by hand.
SHAPELAYER = (
    "https://github.com/ShapeLayer/blog.jonghyeon.me/blob/648c1a19a2fb7fd2c78e4350b37e1ecbfc7ca940/"
    "_posts/2025-09-11-tensorflow-metal-compatibilities.md"
)
SITE = "/opt/miniconda3/envs/metal/lib/python3.10/site-packages"
SOLIB = (
    f"{SITE}/tensorflow-plugins/../_solib_darwin_arm64/_U@local_Uconfig_Utf_S_S_C_Upywrap_Utensorflow"
    "_Uinternal___Uexternal_Slocal_Uconfig_Utf/_pywrap_tensorflow_internal.so"
)
DLOPEN = f"tensorflow.python.framework.errors_impl.NotFoundError: dlopen({SITE}/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): "

# (source, text as reported, how the process ended, expected signature)
REAL_FAILURES = {
    # TF 2.20.0 with tensorflow-metal 1.2.0 (and 1.1.0): the install name of the library changed.
    "library not loaded": (
        SHAPELAYER,
        DLOPEN + "Library not loaded: @rpath/_pywrap_tensorflow_internal.so\n"
        f"  Referenced from: <D2EF42E3-3A7F-39DD-9982-FB6BCDC2853C> {SITE}/tensorflow-plugins/libmetal_plugin.dylib\n"
        f"  Reason: tried: '{SOLIB}' (no such file), '{SOLIB}' (no such file), "
        "'/opt/miniconda3/envs/metal/bin/../lib/_pywrap_tensorflow_internal.so' (no such file)\n",
        "exit",
        "library not loaded: @rpath/_pywrap_tensorflow_internal.so",
    ),
    # TF 2.19.0 (and 2.18.0) with tensorflow-metal 1.1.0.
    "two-level symbol": (
        SHAPELAYER,
        DLOPEN + "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii\n"
        f"  Referenced from: <D2EF42E3-3A7F-39DD-9982-FB6BCDC2853C> {SITE}/tensorflow-plugins/libmetal_plugin.dylib\n"
        f"  Expected in:     <300F849B-E9A8-3BDA-B8D9-C6617800789D> {SITE}/tensorflow/python/_pywrap_tensorflow_internal.so\n",
        "exit",
        "symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii",
    ),
    # TF 2.11.0 with tensorflow-metal 0.8.0.
    "flat-namespace C symbol": (
        SHAPELAYER,
        DLOPEN + "symbol not found in flat namespace '_TF_GetInputPropertiesList'\n",
        "exit",
        "flat-namespace symbol: _TF_GetInputPropertiesList",
    ),
    # TF 2.10.0 with tensorflow-metal 0.7.0: the same shape with a C++ symbol.
    "flat-namespace C++ symbol": (
        SHAPELAYER,
        DLOPEN
        + "symbol not found in flat namespace '__ZN3tsl8internal10LogMessage16VmoduleActivatedEPKci'\n",
        "exit",
        "flat-namespace symbol: __ZN3tsl8internal10LogMessage16VmoduleActivatedEPKci",
    ),
    # TF 2.11.0 with tensorflow-metal 0.7.0: imports, then fails in training (XLA op, no platform).
    "platform not registered": (
        SHAPELAYER,
        "W tensorflow/core/framework/op_kernel.cc:1830] OP_REQUIRES failed at xla_ops.cc:418 : "
        "NOT_FOUND: could not find registered platform with id: 0x106170d30\n"
        "tensorflow.python.framework.errors_impl.NotFoundError: Graph execution error:\n\n"
        "Detected at node 'StatefulPartitionedCall_212' defined at (most recent call last):\n\n"
        "Node: 'StatefulPartitionedCall_212'\n"
        "could not find registered platform with id: 0x106170d30\n"
        "\t [[{{node StatefulPartitionedCall_212}}]] [Op:__inference_train_function_23355]\n",
        "exit",
        "platform not registered",
    ),
    # A random augmentation layer on the Metal GPU of an older plugin.
    "missing GPU kernel": (
        "https://github.com/mrdbourke/tensorflow-deep-learning/issues/298",
        "NotFoundError: No registered 'RngReadAndSkip' OpKernel for 'GPU' devices compatible with node "
        "{{node RngReadAndSkip}}\n\t.  Registered:  device='CPU'\n [Op:RngReadAndSkip]\n",
        "exit",
        "missing GPU kernel: RngReadAndSkip",
    ),
    # An op placed on the Metal GPU explicitly, with no GPU kernel (tensorflow-metal, M1, TF 2.6).
    "no kernel for an explicit GPU placement": (
        "https://github.com/tensorflow/tensorflow/issues/53026",
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: Cannot assign a device for operation "
        "loader/GeneratorDataset: Could not satisfy explicit device specification '/device:GPU:0' because no "
        "supported kernel for GPU devices is available.\n",
        "exit",
        "missing GPU kernel",
    ),
    # Two plugins registering the Metal platform: TensorFlow aborts (M1 Max, Python 3.10).
    "platform registered twice": (
        "https://github.com/pleonard212/pix-plot/issues/268",
        "F tensorflow/c/experimental/stream_executor/stream_executor.cc:808] Non-OK-status: "
        "stream_executor::MultiPlatformManager::RegisterPlatform( std::move(cplatform)) status: INTERNAL: "
        'platform is already registered with name: "METAL"\n',
        "abort",
        "platform registered twice",
    ),
    # The Linux wording of a plugin's missing symbol (a TensorFlow plugin library loaded with load_library).
    "undefined symbol": (
        "https://github.com/bytedance/byteps/issues/98",
        "Traceback (most recent call last):\n"
        '  File "test/entry.py", line 11, in <module>\n'
        "    tf.load_library('/lib/libplugin.so')\n"
        '  File "/opt/conda/lib/python3.6/site-packages/tensorflow/python/framework/load_library.py", line 158, '
        "in load_library\n"
        "    py_tf.TF_LoadLibrary(lib)\n"
        "tensorflow.python.framework.errors_impl.NotFoundError: /lib/libplugin.so: undefined symbol: "
        "_ZTIN10tensorflow8OpKernelE\n",
        "exit",
        "undefined symbol: _ZTIN10tensorflow8OpKernelE",
    ),
}


def replay(tmp_path: Path, text: str, ending: str):
    """A real process that writes ``text`` to stderr and ends as the reported run did."""
    (tmp_path / "stderr.txt").write_text(text)
    end = "import os; os.abort()" if ending == "abort" else "sys.exit(1)"
    probe = tmp_path / "probe.py"
    probe.write_text(f"import sys\nsys.stderr.write(open({str(tmp_path / 'stderr.txt')!r}).read())\n{end}\n")
    return run_probe(Path(sys.executable), probe, [], timeout=60)


@pytest.mark.parametrize("shape", REAL_FAILURES)
def test_real_failure_text_gets_its_signature(tmp_path, shape):
    source, text, ending, signature = REAL_FAILURES[shape]
    run = replay(tmp_path, text, ending)
    result = judge("import", run, row=ROW, timeout=60)
    assert (result.status, result.signature) == ("fail", signature), source
    assert result.reason is None  # a failure of the pair, never "no verdict"
    if ending == "abort":
        assert result.signal == "SIGABRT"
    else:
        assert result.error == text.strip()
