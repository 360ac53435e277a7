"""Probe: Apple's tensorflow-metal verification, a full Keras fit, on the GPU when one is listed.

By default this is Apple's procedure: ResNet50 (weights=None, 32x32x3, 100 classes) trained on
CIFAR-100 for 5 epochs at batch size 64, sparse categorical cross-entropy, Adam. Where the
dataset cannot be downloaded, ``--data synthetic`` trains the same model on generated data of
the same shape. Runs inside the provisioned environment with only the standard library and
TensorFlow; prints one JSON object on the last line of stdout. A crash is not caught: the
traceback or the signal is the result.
"""

import argparse
import inspect
import json
import math
import sys
import time
import traceback

CIFAR100_TRAIN_SAMPLES = 50_000
#: How the probe says that CIFAR-100 could not be loaded; the suite reads it as "no verdict".
DATASET_FAILED = "fit: dataset download failed"
XLA_CHOICES = ("default", "legacy-optimizer", "off")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("cifar100", "synthetic"), default="cifar100")
    parser.add_argument(
        "--model",
        choices=("resnet50", "small"),
        default="resnet50",
        help="resnet50 is Apple's; small is a two-layer CNN for quick checks",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help=f"training images to use (default: all {CIFAR100_TRAIN_SAMPLES})",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001, help="Adam's learning rate")
    parser.add_argument(
        "--device",
        choices=("auto", "gpu", "cpu"),
        default="auto",
        help="auto: the first GPU when one is listed, else the CPU",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--xla",
        choices=XLA_CHOICES,
        default="default",
        help="default: Adam and compile as the user writes them; legacy-optimizer: "
        "tf.keras.optimizers.legacy.Adam; off: jit_compile=False for Adam and compile (the two "
        "workarounds for an optimizer that compiles with XLA, which tensorflow-metal cannot run)",
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.samples is not None and not 1 <= args.samples <= CIFAR100_TRAIN_SAMPLES:
        parser.error(f"--samples must be between 1 and {CIFAR100_TRAIN_SAMPLES}")
    return args


def load_data(tf, args):
    """Images (float32 in [0, 1], NHWC) and integer labels, ``args.samples`` of them."""
    samples = args.samples or CIFAR100_TRAIN_SAMPLES
    if args.data == "cifar100":
        try:
            (x, y), _ = tf.keras.datasets.cifar100.load_data()
        except Exception as exc:
            # No network, no certificates, a damaged download in ~/.keras: the machine's failure,
            # not the pair's (nothing of TensorFlow's runs here but Python and numpy). Said in a
            # line of its own that the suite reads as "no verdict", after the whole traceback.
            traceback.print_exc()
            raise SystemExit(f"{DATASET_FAILED}: {type(exc).__name__}: {exc}") from None
        return (x[:samples] / 255.0).astype("float32"), y[:samples]
    # numpy, not a TensorFlow random op: on a Mac an op outside a device scope runs on the GPU,
    # where older plugins lack the random generator's kernel (RngReadAndSkip).
    import numpy  # here, not at the top: the suite loads this file for its options, without numpy

    rng = numpy.random.RandomState(args.seed)
    x = rng.uniform(0.0, 1.0, (samples, 32, 32, 3)).astype("float32")
    y = rng.randint(0, 100, size=(samples, 1)).astype("int64")
    return x, y


def build_model(tf, name: str):
    if name == "resnet50":
        return tf.keras.applications.ResNet50(
            include_top=True, weights=None, input_shape=(32, 32, 3), classes=100
        )
    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(100, activation="softmax"),
        ]
    )


def seed_everything(tf, seed: int) -> None:
    """Seed Python, numpy and TensorFlow; ``set_random_seed`` only exists from TF 2.7."""
    if hasattr(tf.keras.utils, "set_random_seed"):
        tf.keras.utils.set_random_seed(seed)
        return
    import random

    import numpy

    random.seed(seed)
    numpy.random.seed(seed)
    tf.random.set_seed(seed)


def training_setup(tf, args):
    """The optimizer and the extra ``compile`` arguments for ``--xla``. ``off`` passes
    ``jit_compile=False`` wherever there is such a parameter (Keras 2.10's Adam and Keras 3's
    take none); Keras 3 has no legacy optimizers, so ``legacy-optimizer`` fails there with
    Keras's own error rather than quietly train another way."""
    if args.xla == "legacy-optimizer":
        return tf.keras.optimizers.legacy.Adam(learning_rate=args.learning_rate), {}
    adam = tf.keras.optimizers.Adam
    if args.xla == "off":

        def off(function) -> dict:
            return {"jit_compile": False} if "jit_compile" in inspect.signature(function).parameters else {}

        return adam(learning_rate=args.learning_rate, **off(adam)), off(tf.keras.Model.compile)
    return adam(learning_rate=args.learning_rate), {}


def keras_versions(tf) -> dict:
    """The Keras this run trained with, and the Keras packages installed beside TensorFlow.

    ``tf.keras`` is TensorFlow's own Keras up to TF 2.5, the ``keras`` package (Keras 2) up to
    2.15, Keras 3 from 2.16, and ``tf_keras`` (Keras 2) where ``TF_USE_LEGACY_KERAS=1`` asks for
    it: which one trained matters (Keras 3's optimizers and metrics are other code).
    """
    from importlib import metadata

    def installed(*names):
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    package = tf.keras.Model.__module__.split(".")[0]  # "keras", "tf_keras" or "tensorflow"
    return {
        "tf.keras": f"{package} {getattr(tf.keras, '__version__', '?')}",
        "keras": installed("keras", "keras-nightly"),  # TF 2.5 - 2.6 install keras-nightly
        "tf_keras": installed("tf-keras", "tf_keras"),
    }


def variable_device(variable) -> str:
    """Where a variable lives; Keras 3 wraps the tf.Variable in ``.value``."""
    return getattr(variable, "device", None) or getattr(getattr(variable, "value", None), "device", "")


def epoch_line(entry: dict, epochs: int) -> str:
    """``fit: epoch 2/5: loss 4.1234, accuracy 0.0712, 52.0 s``."""

    def shown(value):
        return "nan" if value is None else f"{value:.4f}"

    return (
        f"fit: epoch {entry['epoch']}/{epochs}: loss {shown(entry['loss'])}, "
        f"accuracy {shown(entry['accuracy'])}, {entry['seconds']:.1f} s"
    )


def finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def main() -> None:
    args = parse_args()
    import tensorflow as tf

    seed_everything(tf, args.seed)
    gpus = tf.config.list_physical_devices("GPU")
    if args.device == "gpu" and not gpus:
        raise SystemExit("fit: --device gpu, but TensorFlow lists no GPU")
    device = "/GPU:0" if gpus and args.device != "cpu" else "/CPU:0"

    x, y = load_data(tf, args)
    epochs = []
    # Keras' own progress bar where stdout is a terminal (the suite gives the probe one when its
    # own output is a terminal); in a log file it would be noise.
    progress_bar = sys.stdout.isatty()

    class EpochLog(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            entry = {
                "epoch": epoch + 1,
                "loss": finite_or_none(logs.get("loss", math.nan)),
                "accuracy": finite_or_none(logs.get("accuracy", math.nan)),
                "seconds": round(time.perf_counter() - self.started, 3),
            }
            epochs.append(entry)
            if not progress_bar:
                # One line per epoch, as it ends, for whoever watches the run (the suite shows it
                # live); Keras' own bar says as much where there is one.
                print(epoch_line(entry, args.epochs), flush=True)

    started = time.perf_counter()
    with tf.device(device):
        model = build_model(tf, args.model)
        optimizer, compile_options = training_setup(tf, args)
        model.compile(
            optimizer=optimizer,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=False),
            metrics=["accuracy"],
            **compile_options,
        )
        # TerminateOnNaN: once the loss is NaN the rest of the run proves nothing; stop early.
        model.fit(
            x,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            verbose=1 if progress_bar else 0,
            callbacks=[EpochLog(), tf.keras.callbacks.TerminateOnNaN()],
        )
    result = {
        "data": args.data,
        "model": args.model,
        "samples": int(len(x)),
        "epochs_requested": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": finite_or_none(args.learning_rate),
        "device": device,
        "xla": args.xla,
        "optimizer": type(optimizer).__module__ + "." + type(optimizer).__name__,
        "optimizer_jit_compile": getattr(optimizer, "jit_compile", None),
        "model_jit_compile": getattr(model, "jit_compile", getattr(model, "_jit_compile", None)),
        "gpus": [gpu.name for gpu in gpus],
        "keras": keras_versions(tf),
        "placed_on": variable_device(model.trainable_variables[0]),
        "epochs": epochs,
        "finite": bool(epochs) and all(e["loss"] is not None for e in epochs),
        # Recorded, not judged: on generated labels a loss need not fall much in a short run.
        "loss_fell": len(epochs) > 1
        and None not in (epochs[0]["loss"], epochs[-1]["loss"])
        and epochs[-1]["loss"] < epochs[0]["loss"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
