"""Probe: does the accelerator compute the same numbers as the CPU? (float32 tolerances)

Runs one small deterministic workload twice and compares: single ops (matmul, conv2d, batch
norm, softmax, one Adam update) and the first training steps of a small model, all from fixed
seeds and data. With a GPU listed, the two runs are the GPU and the CPU in this process. With
no GPU, they are two real CPU configurations that must agree: oneDNN on (this process) and
oneDNN off (a child process of this same script, ``TF_ENABLE_ONEDNN_OPTS=0``), so the
comparison machinery is exercised for real on any machine. Runs inside the provisioned
environment with only the standard library and TensorFlow (and its numpy); prints one JSON
object on the last line of stdout.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import fit  # the sibling probe: one way to seed every generator
import numpy

#: Largest error allowed, relative to the largest magnitude of the reference result. float32
#: keeps ~7 digits; sums of a few hundred products and different kernel orders lose some.
OP_TOLERANCE = 1e-4
#: Training steps compound differences step after step: a looser bound.
TRAINING_TOLERANCE = 1e-3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps to compare")
    parser.add_argument(
        "--candidate-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="compute the candidate side in this dtype (float16 shows that a real discrepancy is caught)",
    )
    parser.add_argument("--dump", help=argparse.SUPPRESS)  # child mode: write results to this .npz
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def workload(tf, device: str, dtype: str, steps: int) -> dict:
    """Every result of the workload on ``device``, as numpy arrays keyed by name."""
    np_dtype = tf.dtypes.as_dtype(dtype)
    rng = tf.random.Generator.from_seed(1234)
    a, b = rng.normal((256, 256)), rng.normal((256, 256))
    images, kernel = rng.normal((8, 32, 32, 16)), rng.normal((3, 3, 16, 32))
    logits = rng.normal((64, 100)) * 4.0
    features = rng.normal((64, 128)) * 3.0 + 1.0
    x, y = rng.uniform((64, 16, 16, 3)), rng.uniform((64,), maxval=10, dtype=tf.int64)

    def cast(tensor):
        return tf.cast(tensor, np_dtype)

    def back(tensor):
        return tf.cast(tensor, tf.float32).numpy()

    results = {}
    with tf.device(device):
        results["matmul"] = back(tf.matmul(cast(a), cast(b)))
        results["conv2d"] = back(tf.nn.conv2d(cast(images), cast(kernel), strides=1, padding="SAME"))
        mean, variance = tf.nn.moments(cast(features), axes=[0])
        results["batch_norm"] = back(
            tf.nn.batch_normalization(cast(features), mean, variance, None, None, 1e-3)
        )
        results["softmax"] = back(tf.nn.softmax(cast(logits)))
        variable = tf.Variable(cast(a))
        optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)
        optimizer.apply_gradients([(cast(b), variable)])
        results["adam_update"] = back(variable)
        results["training_steps"] = _train(tf, x, y, steps, dtype)
    return results


def _train(tf, x, y, steps: int, dtype: str):
    """Losses of the first ``steps`` steps of a small CNN from fixed initial weights."""
    fit.seed_everything(tf, 7)
    layers = tf.keras.layers
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(16, 16, 3), dtype=dtype),
            layers.Conv2D(8, 3, activation="relu", dtype=dtype),
            layers.Flatten(dtype=dtype),
            layers.Dense(10, dtype=dtype),
        ]
    )
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.05)
    losses = []
    inputs = tf.cast(x, dtype)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = loss(y, tf.cast(model(inputs), tf.float32))
        gradients = tape.gradient(value, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        losses.append(float(value))
    return numpy.array(losses, dtype="float32")


def compare(reference: dict, candidate: dict) -> list:
    """Per result: the largest error relative to the reference's largest magnitude, and the verdict."""
    comparisons = []
    for name, expected in reference.items():
        got = candidate[name]
        scale = float(numpy.max(numpy.abs(expected))) or 1.0
        error = float(numpy.max(numpy.abs(got.astype("float64") - expected.astype("float64")))) / scale
        tolerance = TRAINING_TOLERANCE if name == "training_steps" else OP_TOLERANCE
        finite = bool(numpy.all(numpy.isfinite(got)))
        comparisons.append(
            {
                "name": name,
                "max_relative_error": error if finite else None,
                "tolerance": tolerance,
                "agrees": finite and error <= tolerance,
            }
        )
    return comparisons


def main() -> None:
    args = parse_args()
    if not args.dump:
        # oneDNN is read once, at import: pin it on here so that the child's "off" differs.
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    import tensorflow as tf

    if args.dump:
        numpy.savez(args.dump, **workload(tf, "/CPU:0", "float32", args.steps))
        return
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        reference_name, candidate_name = "CPU", "GPU:0"
        reference = workload(tf, "/CPU:0", "float32", args.steps)
        candidate = workload(tf, "/GPU:0", args.candidate_dtype, args.steps)
    else:
        reference_name, candidate_name = "CPU, oneDNN off", "CPU, oneDNN on"
        reference = _onednn_off_results(args.steps)
        candidate = workload(tf, "/CPU:0", args.candidate_dtype, args.steps)
    comparisons = compare(reference, candidate)
    result = {
        "reference": reference_name,
        "candidate": candidate_name,
        "candidate_dtype": args.candidate_dtype,
        "comparisons": comparisons,
        "agrees": all(c["agrees"] for c in comparisons),
    }
    print(json.dumps(result, allow_nan=False))


def _onednn_off_results(steps: int) -> dict:
    """The workload computed by a child of this script with oneDNN off (read at TF import)."""
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "reference.npz")
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
        argv = [sys.executable, os.path.abspath(__file__), "--steps", str(steps), "--dump", dump]
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        with numpy.load(dump) as data:
            return {name: data[name] for name in data.files}


if __name__ == "__main__":
    main()
