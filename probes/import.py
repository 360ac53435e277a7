"""Probe: import TensorFlow; print its versions and the plugin libraries it loads.

Runs inside the provisioned environment with only the standard library and TensorFlow.
An import failure is not caught: its traceback (or the signal that killed the process) is
the result, and the runner classifies it. Prints one JSON object on the last line of stdout.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    started = time.perf_counter()
    import tensorflow as tf

    seconds = time.perf_counter() - started
    # TensorFlow dlopens every library in site-packages/tensorflow-plugins/ at import, and every
    # path in TF_PLUGGABLE_DEVICE_LIBRARY_PATH: list both, they are what this import loaded.
    plugin_dir = Path(tf.__file__).resolve().parent.parent / "tensorflow-plugins"
    plugins = sorted(p.name for p in plugin_dir.iterdir()) if plugin_dir.is_dir() else []
    extra = [p for p in os.environ.get("TF_PLUGGABLE_DEVICE_LIBRARY_PATH", "").split(os.pathsep) if p]
    try:
        import keras

        keras_version = keras.__version__
    except ImportError:
        keras_version = None
    result = {
        "tensorflow": tf.__version__,
        "keras": keras_version,
        "python": platform.python_version(),
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "plugin_dir": str(plugin_dir),
        "plugins": plugins,
        "extra_plugin_paths": extra,
        "import_seconds": round(seconds, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
