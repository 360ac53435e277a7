"""Probe: does every device compute what it should? Each is judged against a float64 reference.

One small workload runs on every device TensorFlow lists (the CPU, and the GPU when one is
listed), in float32: single ops (matmul, conv2d, batch norm, softmax, two Adam updates) and the
first training steps of a small CNN. The same workload computed in float64 on the CPU is the
reference every device is judged against, with float32 tolerances (argued below), so a GPU is
never judged by the CPU's own float32 rounding, and the CPU's float32 is checked too.

Every input comes from numpy with a fixed seed, and the CNN's initial weights are made once in
numpy and copied to each device: no random op runs on a device. Metal's random numbers are not
the CPU's (tensorflow issue 56122), and older plugins lack the kernel of TensorFlow's random
generator state (``RngReadAndSkip``, tensorflow issue 53505), so weights initialised on each
device would differ before the first step, or fail to exist at all.

``--candidate-dtype float16`` computes the judged side in half precision: a real discrepancy
that the reference must catch (the tests show it does). Runs inside the provisioned environment
with only the standard library and TensorFlow (and its numpy), on Python 3.9 and TensorFlow 2.5
as on the newest; prints one line per device, then one JSON object on the last line of stdout.
"""

import argparse
import json
import time

import numpy

#: Largest error allowed for a single op, relative to the largest magnitude of its reference
#: result. float32 rounds to a unit roundoff u = 2**-24 ~ 6e-8. The worst-case bound of a sum of
#: n products is n * u * sum(|a| * |b|): for the 256-term dot products of the matmul with
#: standard normal inputs that is 256 * 6e-8 * 163 ~ 2.5e-3 absolute against a largest result of
#: ~70, i.e. 3.5e-5 relative; the conv2d's 144-term sums give 1.5e-5. Rounding errors of a real
#: kernel add up like a random walk and stay near sqrt(n) * u ~ 1e-6, so 1e-4 leaves 3x above
#: the worst case of any summation order (a GPU's tiled or Winograd kernels sum in other orders)
#: and 100x above the typical error. Half precision (u = 4.9e-4) exceeds it with one rounding of
#: the output alone: the float16 run fails every op.
OP_TOLERANCE = 1e-4
#: Training steps compound: each step's gradient is computed from weights that already carry the
#: previous steps' rounding, and five SGD steps at learning rate 0.05 multiply an error by at most
#: (1 + lr * L) ** 5 for a gradient Lipschitz constant L of a few units, i.e. ~2x to 10x: 1e-3
#: covers that above the op tolerance; the float16 run exceeds it by an order of magnitude.
TRAINING_TOLERANCE = 1e-3
TRAINING_RESULTS = ("training_losses", "trained_logits")
LEARNING_RATE = 0.05
SEED = 1234


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps to compare")
    parser.add_argument(
        "--candidate-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="compute every judged device in this dtype (float16 shows that a real discrepancy is caught)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def make_inputs(steps: int) -> dict:
    """Every input of the workload and the CNN's initial weights, from numpy's seeded generator.

    ``RandomState`` draws the same numbers in every numpy release, so a record from 2021 and one
    from today judged the same inputs.
    """
    rng = numpy.random.RandomState(SEED)

    def normal(*shape):
        return rng.standard_normal(shape)

    def glorot(*shape):
        fan_in, fan_out = numpy.prod(shape[:-1]), shape[-1]
        limit = numpy.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)

    return {
        "a": normal(256, 256),
        "b": normal(256, 256),
        "images": normal(8, 32, 32, 16),
        "kernel": normal(3, 3, 16, 32),
        "logits": normal(64, 100) * 4.0,
        "features": normal(64, 128) * 3.0 + 1.0,
        "x": rng.uniform(0.0, 1.0, (64, 16, 16, 3)),
        "y": rng.randint(0, 10, size=64).astype("int64"),
        "steps": steps,
        # The small CNN: conv 3x3 (3 -> 8), relu, conv 3x3 (8 -> 8), relu, dense (12 * 12 * 8 -> 10).
        "weights": [
            glorot(3, 3, 3, 8),
            rng.uniform(-0.1, 0.1, 8),
            glorot(3, 3, 8, 8),
            rng.uniform(-0.1, 0.1, 8),
            glorot(12 * 12 * 8, 10),
            rng.uniform(-0.1, 0.1, 10),
        ],
    }


def workload(tf, device: str, dtype: str, inputs: dict) -> dict:
    """Every result of the workload computed on ``device`` in ``dtype``, as float64 numpy arrays."""

    def const(name):
        return tf.constant(inputs[name].astype(dtype))

    def back(tensor):
        return numpy.asarray(tensor.numpy(), dtype="float64")

    results = {}
    with tf.device(device):
        results["matmul"] = back(tf.matmul(const("a"), const("b")))
        results["conv2d"] = back(tf.nn.conv2d(const("images"), const("kernel"), strides=1, padding="SAME"))
        features = const("features")
        mean, variance = tf.nn.moments(features, axes=[0])
        results["batch_norm"] = back(tf.nn.batch_normalization(features, mean, variance, None, None, 1e-3))
        results["softmax"] = back(tf.nn.softmax(const("logits")))
        results["adam_update"] = back(_adam_steps(tf, const("a"), const("b"), dtype))
        results.update(_train(tf, inputs, dtype))
    return results


def _adam_steps(tf, first, second, dtype: str):
    """A variable from zeros after two Adam updates (gradients ``first`` then ``second``).

    From zeros the result is the update itself, so the comparison is not diluted by a large
    starting value; two steps make the moments matter (one step is only lr * sign(gradient)).
    """
    variable = tf.Variable(tf.zeros(first.shape, dtype=dtype))
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)
    for gradient in (first, second):
        optimizer.apply_gradients([(gradient, variable)])
    return variable


def _train(tf, inputs: dict, dtype: str) -> dict:
    """The losses of the first steps of plain SGD on the small CNN, and its logits after them.

    Written with TensorFlow ops rather than Keras layers so that it means the same thing from
    TF 2.5 (Keras 2) to Keras 3, and so that the weights are exactly the numpy ones.
    """
    weights = [tf.Variable(w.astype(dtype)) for w in inputs["weights"]]
    x = tf.constant(inputs["x"].astype(dtype))
    y = tf.constant(inputs["y"])

    def logits_of(images):
        kernel1, bias1, kernel2, bias2, dense, bias3 = weights
        hidden = tf.nn.relu(tf.nn.conv2d(images, kernel1, strides=1, padding="VALID") + bias1)
        hidden = tf.nn.relu(tf.nn.conv2d(hidden, kernel2, strides=1, padding="VALID") + bias2)
        return tf.matmul(tf.reshape(hidden, (hidden.shape[0], -1)), dense) + bias3

    losses = []
    for _ in range(inputs["steps"]):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits_of(x)))
        gradients = tape.gradient(loss, weights)
        for weight, gradient in zip(weights, gradients):
            weight.assign_sub(LEARNING_RATE * gradient)
        losses.append(loss.numpy())
    return {
        "training_losses": numpy.asarray(losses, dtype="float64"),
        "trained_logits": numpy.asarray(logits_of(x).numpy(), dtype="float64"),
    }


def compare(reference: dict, candidate: dict, device: str) -> list:
    """Per result: the largest error relative to the reference's largest magnitude, and the verdict."""
    comparisons = []
    for name, expected in reference.items():
        got = candidate[name]
        scale = float(numpy.max(numpy.abs(expected))) or 1.0
        finite = bool(numpy.all(numpy.isfinite(got)))
        error = float(numpy.max(numpy.abs(got - expected))) / scale if finite else None
        tolerance = TRAINING_TOLERANCE if name in TRAINING_RESULTS else OP_TOLERANCE
        comparisons.append(
            {
                "device": device,
                "name": name,
                "max_relative_error": error,
                "tolerance": tolerance,
                "agrees": finite and error <= tolerance,
            }
        )
    return comparisons


def _summary(device: str, dtype: str, judged: list) -> str:
    """One line for the terminal: the device's verdict and its worst result against its tolerance."""

    def share(comparison):
        error = comparison["max_relative_error"]
        return float("inf") if error is None else error / comparison["tolerance"]

    worst = max(judged, key=share)
    error = worst["max_relative_error"]
    shown = "non-finite" if error is None else f"{error:.1e}"
    verdict = "agrees" if all(c["agrees"] for c in judged) else "DISAGREES"
    worst_part = f"worst {worst['name']} {shown} (tolerance {worst['tolerance']:.0e})"
    return f"agree: {device} {dtype} {verdict} with CPU float64; {worst_part}"


def main() -> None:
    args = parse_args()
    import tensorflow as tf

    started = time.perf_counter()
    inputs = make_inputs(args.steps)
    reference = workload(tf, "/CPU:0", "float64", inputs)
    devices = ["/CPU:0"] + ["/GPU:0" for _ in tf.config.list_physical_devices("GPU")[:1]]
    comparisons = []
    for device in devices:
        judged = compare(reference, workload(tf, device, args.candidate_dtype, inputs), device)
        comparisons += judged
        print(_summary(device, args.candidate_dtype, judged), flush=True)
    result = {
        "reference": "CPU float64",
        "candidate": ", ".join(device.lstrip("/") for device in devices),
        "candidate_dtype": args.candidate_dtype,
        "comparisons": comparisons,
        "agrees": all(c["agrees"] for c in comparisons),
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
