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
as on the newest; prints one line per device and per check, then one JSON object on the last
line of stdout.

Then the named checks (``CHECKS``): one per failure shape that people met on Metal GPUs and
reported publicly, each judged on every listed device against a float64 reference made with
numpy (or the same Keras fit in float64 on the CPU) or against a stated property, each naming
its public sources in the code and in the result. ``--inject CHECK`` is for the suite's tests
only: it makes that check's candidate reproduce the shape of its bug (an activation applied
wrongly in graph mode, a generator that repeats, a kernel that raises "No registered ...
OpKernel for 'GPU'", a loss that diverges) through the check's own code path, to prove that the
check fails when the bug is there. A result made with it says so (``injected``).
"""

import argparse
import json
import time

import fit  # the sibling probe: one definition of the optimizer set-up and of the Keras versions
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
        help="compute the reference workload on every judged device in this dtype (float16 shows "
        "that a real discrepancy is caught); the named checks always run in float32",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        choices=[check["name"] for check in CHECKS],
        metavar="CHECK",
        help="for the suite's tests only: make CHECK's candidate reproduce its bug (repeatable); "
        f"one of {', '.join(check['name'] for check in CHECKS)}",
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


# The named checks: one per failure shape people met on Metal GPUs. Each check runs on every
# listed device, in eager and graph mode where its bug depends on the mode, and says which public
# reports it stands for. A check's function returns its judged outcome; an exception from
# TensorFlow inside it is the "op fails" outcome (the harness, ``run_check``, catches it).

#: How far a statistic of random numbers may stray before it counts as wrong: 6 standard
#: deviations of its sampling distribution (a false alarm about once in 5e8 judgements).
SIGMAS = 6.0
#: Successive random draws agreeing in more than this share of their places repeat. Two
#: independent float32 uniform draws agree in about 4096 * 2**-23 = 0.0005 of 4096 places.
REPEAT_SHARE = 0.01
DRAW_SIZE = 4096
DRAWS = 3
DROPOUT_RATE = 0.5
#: Two independent dropout masks at rate 0.5 agree in 50% of places, with a standard deviation
#: of sqrt(0.25 / 4096) = 0.8%: 60% is 12 of them above. Tensorflow issue 541's masks agreed in all.
MASK_AGREEMENT = 0.6
INT_RANGE = (0, 10)
INT_DRAW = 1000
#: The Keras fit of the training check: sizes, steps, and how far it may end from the float64 fit.
FIT_SAMPLES, FIT_FEATURES, FIT_HIDDEN, FIT_CLASSES = 512, 32, 64, 10
FIT_BATCH, FIT_EPOCHS, FIT_LEARNING_RATE = 64, 5, 0.01
#: float32 ends this fit within 3.4e-7 of float64's loss (relative) and with the same accuracy on
#: this machine; float16's loss ends NaN. 1% of the loss and 2 points of accuracy (10 of 512
#: samples) leave room for a GPU's summation order; keras issue 21668's loss was off by 1000x,
#: tensorflow issue 92564's accuracy by several points.
FIT_LOSS_TOLERANCE = 0.01
FIT_ACCURACY_TOLERANCE = 0.02
#: ``--inject keras_fit``: the candidate trains with this many times the learning rate, a real
#: divergence through Keras' own fit (final loss 2353 against 0.435 here, accuracy 0.71 against 0.92).
FIT_DIVERGENT_FACTOR = 1000.0


class Context:
    """What the checks share: TensorFlow, their numpy inputs, and references made once."""

    def __init__(self, tf):
        self.tf = tf
        rng = numpy.random.RandomState(SEED + 1)
        self.inputs = {
            # Shapes inside those of the Apple developer-forum report on the fused kernel
            # (batch 4 - 200, inner dimension 512 - 8192, output 128 - 2048).
            "dense_x": rng.standard_normal((64, 512)),
            "dense_kernel": rng.standard_normal((512, 128)) / numpy.sqrt(512),
            "dense_bias": rng.standard_normal(128),
            "bn_x": rng.standard_normal((2, 4, 4, 4, 8)) * 3.0 + 1.0,
            "bn_scale": rng.uniform(0.5, 1.5, 8),
            "bn_offset": rng.uniform(-0.5, 0.5, 8),
            "slice_updates": rng.standard_normal((3, 4)),
            "fit_x": rng.standard_normal((FIT_SAMPLES, FIT_FEATURES)),
            "fit_teacher": rng.standard_normal((FIT_FEATURES, FIT_CLASSES)),
            "fit_noise": rng.standard_normal((FIT_SAMPLES, FIT_CLASSES)),
            "fit_weights": [
                _glorot(rng, FIT_FEATURES, FIT_HIDDEN),
                numpy.zeros(FIT_HIDDEN),
                _glorot(rng, FIT_HIDDEN, FIT_CLASSES),
                numpy.zeros(FIT_CLASSES),
            ],
        }
        # Labels a small model can learn: a noisy linear teacher's choice among the classes.
        teacher = self.inputs["fit_x"] @ self.inputs["fit_teacher"] + 0.5 * self.inputs["fit_noise"]
        self.inputs["fit_y"] = numpy.argmax(teacher, axis=1).astype("int64")
        self.references = {}

    def reference(self, name, make):
        """``make()`` once: references are computed once and never with a fault injected."""
        if name not in self.references:
            started = time.perf_counter()
            self.references[name] = (make(), round(time.perf_counter() - started, 3))
        return self.references[name]


def _glorot(rng, fan_in, fan_out):
    limit = numpy.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def _relative_error(got, expected) -> float:
    """The largest difference relative to the largest magnitude of the reference (as ``compare``)."""
    got = numpy.asarray(got, dtype="float64")
    if got.shape != expected.shape or not numpy.all(numpy.isfinite(got)):
        return float("inf")
    scale = float(numpy.max(numpy.abs(expected))) or 1.0
    return float(numpy.max(numpy.abs(got - expected))) / scale


def _within(error: float, limit: float) -> dict:
    """A wrong-numbers outcome: ``max error E`` against its limit."""
    shown = "non-finite or misshapen" if error == float("inf") else f"{error:.2g}"
    outcome = {"measured": {"max_error": None if error == float("inf") else error, "limit": limit}}
    if error <= limit:
        bound = f"limit {limit:.0e}" if limit else "exact"
        return dict(outcome, status="pass", finding=f"max error {shown} ({bound})")
    return dict(outcome, status="fail", failure="wrong numbers", finding=f"max error {shown}")


def _missing_kernel(tf, op: str):
    """The error a plugin without ``op``'s kernel raises, worded as TensorFlow words it
    (tensorflow issue 53505: ``No registered 'RngReadAndSkip' OpKernel for 'GPU' devices ...``).
    Only ``--inject`` raises it."""
    return tf.errors.NotFoundError(
        None,
        None,
        f"No registered '{op}' OpKernel for 'GPU' devices compatible with node {{{{node {op}}}}}\n"
        "\t.  Registered:  device='CPU'\n"
        f" [Op:{op}]",
    )


def _modal(tf, mode: str, function):
    """``function`` as written (eager) or traced into a graph by ``tf.function``."""
    return tf.function(function) if mode == "graph" else function


def check_fused_dense_relu(ctx, device, mode, injected):
    """Dense + ReLU as users write it, against numpy in float64.

    In graph mode the Metal plugin runs MatMul -> BiasAdd -> Relu as one fused kernel, whose
    results are wrong by whole units while eager mode is right (tensorflow issues 62137 and
    92686, TF 2.14 - 2.16 with plugins 1.1.0 - 1.2.0; an Apple developer-forum thread pins it
    on the fused kernel, and finds ``tf.nn.relu(x @ w + b)`` (AddV2) right). Both forms people
    write are computed: Keras' ``Dense(activation="relu")`` (tf.nn.bias_add in Keras 2, an add in
    Keras 3) and ``tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))``, the fused pattern itself.
    Injected: in graph mode the activation is applied before the bias is added.
    """
    tf, inputs = ctx.tf, ctx.inputs
    x, kernel, bias = inputs["dense_x"], inputs["dense_kernel"], inputs["dense_bias"]
    expected = numpy.maximum(x @ kernel + bias, 0.0)
    with tf.device(device):
        layer = tf.keras.layers.Dense(
            kernel.shape[1], activation="relu", kernel_initializer="zeros", bias_initializer="zeros"
        )
        layer.build((None, kernel.shape[0]))
        layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
        w, b = tf.constant(kernel.astype("float32")), tf.constant(bias.astype("float32"))

        def forms(t):
            if injected and mode == "graph":
                fused = tf.nn.bias_add(tf.nn.relu(tf.matmul(t, w)), b)  # the fault: ReLU before the bias
            else:
                fused = tf.nn.relu(tf.nn.bias_add(tf.matmul(t, w), b))
            return layer(t), fused

        keras_form, fused_form = _modal(tf, mode, forms)(tf.constant(x.astype("float32")))
    errors = [_relative_error(keras_form.numpy(), expected), _relative_error(fused_form.numpy(), expected)]
    outcome = _within(max(errors), OP_TOLERANCE)
    outcome["measured"].update(keras_dense=errors[0], matmul_bias_add_relu=errors[1])
    return outcome


def judge_uniform_draws(draws) -> dict:
    """Successive draws of U[0, 1) must differ, stay in [0, 1), and have mean 1/2 and variance 1/12."""
    n = draws[0].size
    mean_limit = SIGMAS * numpy.sqrt(1.0 / 12.0 / n)
    # The sample variance of U[0, 1) varies by sqrt((mu4 - sigma^4) / n), mu4 = 1/80, sigma^4 = 1/144.
    variance_limit = SIGMAS * numpy.sqrt((1.0 / 80.0 - 1.0 / 144.0) / n)
    repeats = [
        (i + 1, j + 1, float(numpy.mean(draws[i] == draws[j])))
        for i in range(len(draws))
        for j in range(i + 1, len(draws))
    ]
    means = [float(numpy.mean(d)) for d in draws]
    variances = [float(numpy.var(d)) for d in draws]
    measured = {
        "draws": len(draws),
        "size": n,
        "largest_share_repeated": max(share for _, _, share in repeats),
        "means": means,
        "mean_limit": mean_limit,
        "variances": variances,
        "variance_limit": variance_limit,
    }
    repeated = [(i, j, share) for i, j, share in repeats if share > REPEAT_SHARE]
    if repeated:
        i, j, share = repeated[0]
        finding = f"draws {i} and {j} of {len(draws)} repeat in {share:.0%} of {n} values"
        return {
            "status": "fail",
            "failure": "random numbers repeat",
            "finding": finding,
            "measured": measured,
        }
    for d, mean, variance in zip(draws, means, variances):
        if not numpy.all(numpy.isfinite(d)):
            finding = f"non-finite values: {int(numpy.sum(~numpy.isfinite(d)))} of {n}"
        elif d.min() < 0.0 or d.max() >= 1.0:
            finding = f"values outside [0, 1): {d.min():.3g} to {d.max():.3g}"
        elif abs(mean - 0.5) > mean_limit:
            finding = f"mean {mean:.4f}, expected 0.5 +- {mean_limit:.4f}"
        elif abs(variance - 1.0 / 12.0) > variance_limit:
            finding = f"variance {variance:.4f}, expected 0.0833 +- {variance_limit:.4f}"
        else:
            continue
        return {"status": "fail", "failure": "wrong numbers", "finding": finding, "measured": measured}
    finding = f"{len(draws)} draws differ (at most {measured['largest_share_repeated']:.2%} of values alike)"
    return {"status": "pass", "finding": finding, "measured": measured}


def check_random_uniform(ctx, device, mode, injected):
    """Successive ``tf.random.uniform`` calls must give new numbers with the right mean and
    variance. With plugins 0.3.0 - 0.4.0 they returned the same values on every call, after a
    minor macOS update (tensorflow issues 53505 and 56122). Injected: a generator that repeats
    (a stateless draw with a fixed seed)."""
    tf = ctx.tf

    def draw():
        if injected:
            return tf.random.stateless_uniform([DRAW_SIZE], seed=[1, 2])  # the fault: the same seed each call
        return tf.random.uniform([DRAW_SIZE])

    with tf.device(device):
        function = _modal(tf, mode, draw)
        draws = [numpy.asarray(function().numpy(), dtype="float64") for _ in range(DRAWS)]
    return judge_uniform_draws(draws)


def check_mc_dropout(ctx, device, mode, injected):
    """Monte-Carlo dropout: a Keras ``Dropout`` layer called with ``training=True`` must drop
    other units on each call (tf-keras issue 541: identical outputs on an M1). Judged on ones:
    each output keeps about ``1 - rate`` of them, scaled by ``1 / (1 - rate)``, the rest zero, and
    successive masks agree only by chance. Injected: a mask drawn with a fixed seed."""
    tf = ctx.tf
    scale = 1.0 / (1.0 - DROPOUT_RATE)  # what Keras multiplies the kept units by
    with tf.device(device):
        layer = tf.keras.layers.Dropout(DROPOUT_RATE)
        ones = tf.constant(numpy.ones((1, DRAW_SIZE), dtype="float32"))

        def call(t):
            if injected:  # the fault: the same units dropped on every call
                keep = tf.random.stateless_uniform(tf.shape(t), seed=[1, 2]) >= DROPOUT_RATE
                return tf.where(keep, t * scale, tf.zeros_like(t))
            return layer(t, training=True)

        function = _modal(tf, mode, call)
        outputs = [numpy.asarray(function(ones).numpy(), dtype="float64").ravel() for _ in range(DRAWS)]
    return judge_dropout(outputs, DROPOUT_RATE)


def judge_dropout(outputs, rate: float) -> dict:
    """Dropout of ones: masks that differ from call to call, ``1 - rate`` of units kept (within
    ``SIGMAS``), each kept one scaled to ``1 / (1 - rate)``, the rest zero."""
    scale = 1.0 / (1.0 - rate)
    size = outputs[0].size
    kept_limit = SIGMAS * numpy.sqrt(rate * (1 - rate) / size)
    kept = [float(numpy.mean(out != 0.0)) for out in outputs]
    agreement = max(
        float(numpy.mean((outputs[i] != 0.0) == (outputs[j] != 0.0)))
        for i in range(len(outputs))
        for j in range(i + 1, len(outputs))
    )
    measured = {"kept": kept, "kept_limit": kept_limit, "largest_mask_agreement": agreement}
    if agreement > MASK_AGREEMENT:
        finding = f"successive outputs drop the same units ({agreement:.0%} of {size} alike)"
        return {
            "status": "fail",
            "failure": "random numbers repeat",
            "finding": finding,
            "measured": measured,
        }
    for out, share in zip(outputs, kept):
        values = out[out != 0.0]
        if not numpy.all(numpy.isfinite(out)):
            finding = f"non-finite values: {int(numpy.sum(~numpy.isfinite(out)))} of {size}"
        elif abs(share - (1 - rate)) > kept_limit:
            finding = f"kept {share:.1%} of units, expected {1 - rate:.0%} +- {kept_limit:.1%}"
        elif values.size and float(numpy.max(numpy.abs(values - scale))) > 1e-6 * scale:
            finding = f"kept units scaled to {values.min():.4g} - {values.max():.4g}, expected {scale:g}"
        else:
            continue
        return {"status": "fail", "failure": "wrong numbers", "finding": finding, "measured": measured}
    finding = f"{len(outputs)} calls drop other units (masks alike in {agreement:.0%} of places)"
    return {"status": "pass", "finding": finding, "measured": measured}


def check_stateless_uniform_int(ctx, device, mode, injected):
    """Integer ``tf.random.stateless_uniform`` (minval and maxval given) must run wherever it runs
    on the CPU: with plugin 1.2.0 it raises (tensorflow issue 87972, the example of its own
    documentation). Judged by its contract: int32 values in [minval, maxval), the same values
    for the same seed, and spread over the range. Injected: the kernel raises "No registered
    'StatelessRandomUniformIntV2' OpKernel for 'GPU' devices"."""
    tf = ctx.tf
    low, high = INT_RANGE

    def draw():
        if injected:
            raise _missing_kernel(tf, "StatelessRandomUniformIntV2")
        return tf.random.stateless_uniform(
            [INT_DRAW], seed=[2, 3], minval=tf.constant(low), maxval=tf.constant(high), dtype=tf.int32
        )

    with tf.device(device):
        function = _modal(tf, mode, draw)
        first, second = function(), function()
    return judge_int_draws(first.numpy(), second.numpy(), first.dtype.name)


def judge_int_draws(values, again, dtype: str) -> dict:
    """Two stateless integer draws with one seed: int32, in ``INT_RANGE``, equal, and spread
    over the range (the mean within ``SIGMAS`` of the uniform's)."""
    low, high = INT_RANGE
    mean_limit = SIGMAS * numpy.sqrt(((high - low) ** 2 - 1) / 12.0 / values.size)
    mean = float(numpy.mean(values))
    measured = {"dtype": dtype, "min": int(values.min()), "max": int(values.max()), "mean": mean}
    if dtype != "int32":
        finding = f"dtype {dtype}, expected int32"
    elif values.min() < low or values.max() >= high:
        finding = f"values {values.min()} to {values.max()}, outside [{low}, {high})"
    elif not numpy.array_equal(values, again):
        finding = "the same seed gave other values"
    elif abs(mean - (low + high - 1) / 2.0) > mean_limit:
        finding = f"mean {mean:.3f}, expected {(low + high - 1) / 2.0} +- {mean_limit:.3f}"
    else:
        return {
            "status": "pass",
            "finding": f"int32 in [{low}, {high}), mean {mean:.2f}",
            "measured": measured,
        }
    return {"status": "fail", "failure": "wrong numbers", "finding": finding, "measured": measured}


def _fused_batch_norm_5d(tf, x, scale, offset):
    """``FusedBatchNormV3`` on a 5-D NDHWC batch in training mode: the output (Keras' 3-D
    BatchNormalization runs it)."""
    empty = tf.constant([], dtype=tf.float32)
    return tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=scale,
        offset=offset,
        mean=empty,
        variance=empty,
        epsilon=1e-3,
        exponential_avg_factor=1.0,
        data_format="NDHWC",
        is_training=True,
    )[0]


def _bn_tensors(ctx):
    inputs = ctx.inputs
    return [ctx.tf.constant(inputs[name].astype("float32")) for name in ("bn_x", "bn_scale", "bn_offset")]


def unavailable_batch_norm_5d(ctx):
    """Why 5-D FusedBatchNormV3 cannot be checked here: the CPU (float32) cannot run it either."""
    tf = ctx.tf
    if not hasattr(tf.raw_ops, "FusedBatchNormV3"):
        return "tf.raw_ops.FusedBatchNormV3 does not exist in this TensorFlow"
    try:
        with tf.device("/CPU:0"):
            _fused_batch_norm_5d(tf, *_bn_tensors(ctx))
    except Exception as exc:
        return f"5-D FusedBatchNormV3 fails on the CPU too in this TensorFlow: {_first_line(exc)}"
    return None


def check_batch_norm_5d(ctx, device, mode, injected):
    """``FusedBatchNormV3`` with 5-D input (NDHWC, what 3-D convolutions feed batch norm) must
    run on the GPU where it runs on the CPU: it fails with plugin 1.1.0 on macOS 26 (as this
    project's issue 23 reports it; no public tracker number found). Judged against numpy in
    float64.
    Injected: the kernel raises "No registered 'FusedBatchNormV3' OpKernel for 'GPU' devices"."""
    tf, inputs = ctx.tf, ctx.inputs
    x = inputs["bn_x"]
    axes = (0, 1, 2, 3)
    normalised = (x - x.mean(axis=axes)) / numpy.sqrt(x.var(axis=axes) + 1e-3)
    expected = normalised * inputs["bn_scale"] + inputs["bn_offset"]

    def run(*tensors):
        if injected:
            raise _missing_kernel(tf, "FusedBatchNormV3")
        return _fused_batch_norm_5d(tf, *tensors)

    with tf.device(device):
        got = _modal(tf, mode, run)(*_bn_tensors(ctx))
    return _within(_relative_error(got.numpy(), expected), OP_TOLERANCE)


def _keras_3():
    """Keras 3 with the TensorFlow backend, else the reason it is not there."""
    try:
        import keras
    except Exception as exc:
        return None, f"keras cannot be imported: {_first_line(exc)}"
    version = getattr(keras, "__version__", "?")
    if not hasattr(keras, "ops") or not hasattr(keras.ops, "slice_update"):
        return None, f"keras.ops.slice_update does not exist in Keras {version} (Keras 3 has it)"
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return None, f"Keras {version} runs on {backend}, not TensorFlow"
    return keras, None


def unavailable_slice_update(ctx):
    return _keras_3()[1]


def check_slice_update(ctx, device, mode, injected):
    """``keras.ops.slice_update`` (Keras 3 on TensorFlow runs it as XlaDynamicUpdateSlice) must
    run on the GPU where it runs on the CPU: it fails with plugin 1.2.0 (as this project's issue
    23 reports it; no public tracker number found). Copying numbers is exact: judged against numpy
    with no tolerance. Injected: the kernel raises "No registered 'XlaDynamicUpdateSlice'
    OpKernel for 'GPU' devices"."""
    tf = ctx.tf
    keras, _ = _keras_3()
    updates = ctx.inputs["slice_updates"].astype("float32")
    start = (2, 3)
    expected = numpy.zeros((8, 8))
    expected[start[0] : start[0] + updates.shape[0], start[1] : start[1] + updates.shape[1]] = updates

    def run(base, patch):
        if injected:
            raise _missing_kernel(tf, "XlaDynamicUpdateSlice")
        return keras.ops.slice_update(base, start, patch)

    with tf.device(device):
        got = _modal(tf, mode, run)(tf.constant(numpy.zeros((8, 8), dtype="float32")), tf.constant(updates))
    return _within(_relative_error(numpy.asarray(got), expected), 0.0)


def _keras_fit(tf, inputs, device: str, dtype: str, learning_rate: float) -> dict:
    """A small classifier trained with Keras' own compile and fit on numpy data from numpy
    initial weights (no random op: no initializer runs, no shuffling, no dropout). Adam, with
    ``jit_compile=False`` where Keras takes it: XLA is the fit probe's question, not this one's."""
    layers = tf.keras.layers
    with tf.device(device):
        model = tf.keras.Sequential(
            [
                tf.keras.Input(shape=(FIT_FEATURES,), dtype=dtype),
                layers.Dense(FIT_HIDDEN, activation="relu", dtype=dtype, kernel_initializer="zeros"),
                layers.Dense(FIT_CLASSES, activation="softmax", dtype=dtype, kernel_initializer="zeros"),
            ]
        )
        model.set_weights([w.astype(dtype) for w in inputs["fit_weights"]])
        setup = argparse.Namespace(xla="off", learning_rate=learning_rate)
        optimizer, compile_options = fit.training_setup(tf, setup)
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            **compile_options,
        )
        history = model.fit(
            inputs["fit_x"].astype(dtype),
            inputs["fit_y"],
            batch_size=FIT_BATCH,
            epochs=FIT_EPOCHS,
            shuffle=False,
            verbose=0,
        ).history
    return {
        "losses": [fit.finite_or_none(loss) for loss in history["loss"]],
        "accuracy": [fit.finite_or_none(a) for a in history["accuracy"]],
        "placed_on": fit.variable_device(model.trainable_variables[0]),
    }


def check_keras_fit(ctx, device, mode, injected):
    """Training that goes wrong without crashing: Keras' fit on the device must end where the
    same fit in float64 on the CPU ends (same data, same initial weights made in numpy). Loss in
    the tens of thousands while accuracy looked fine with Keras >= 3.7 on TF 2.16 + 1.2.0 (keras
    issue 21668); accuracy several points below the CPU's on the same seed (tensorflow issue
    92564). Injected: the candidate's learning rate is 1000x, a loss that diverges."""
    tf = ctx.tf
    reference, reference_seconds = ctx.reference(
        "keras_fit", lambda: _keras_fit(tf, ctx.inputs, "/CPU:0", "float64", FIT_LEARNING_RATE)
    )
    rate = FIT_LEARNING_RATE * (FIT_DIVERGENT_FACTOR if injected else 1.0)
    got = _keras_fit(tf, ctx.inputs, device, "float32", rate)
    outcome = judge_fit(got, reference)
    outcome["measured"].update(placed_on=got["placed_on"], reference_seconds=reference_seconds)
    return outcome


def judge_fit(got: dict, reference: dict) -> dict:
    """A fit's final loss and accuracy against the reference fit's: finite, the loss within
    ``FIT_LOSS_TOLERANCE`` of it (relative), the accuracy within ``FIT_ACCURACY_TOLERANCE``."""
    loss, accuracy = got["losses"][-1], got["accuracy"][-1]
    ref_loss, ref_accuracy = reference["losses"][-1], reference["accuracy"][-1]
    measured = {
        "final_loss": loss,
        "final_accuracy": accuracy,
        "reference_loss": ref_loss,
        "reference_accuracy": ref_accuracy,
        "loss_tolerance": FIT_LOSS_TOLERANCE,
        "accuracy_tolerance": FIT_ACCURACY_TOLERANCE,
        "losses": got["losses"],
        "reference_losses": reference["losses"],
    }

    def shown(value, digits):
        return "nan" if value is None else f"{value:.{digits}g}"

    finding = (
        f"final loss {shown(loss, 5)} vs {shown(ref_loss, 5)}, "
        f"accuracy {shown(accuracy, 3)} vs {shown(ref_accuracy, 3)} (CPU float64)"
    )
    diverged = (
        None in (loss, accuracy)
        or abs(loss - ref_loss) > FIT_LOSS_TOLERANCE * abs(ref_loss)
        or abs(accuracy - ref_accuracy) > FIT_ACCURACY_TOLERANCE
    )
    if diverged:
        return {"status": "fail", "failure": "training diverges", "finding": finding, "measured": measured}
    return {"status": "pass", "finding": finding, "measured": measured}


#: The named checks, in the order they run. ``sources``: the public reports of the failure shape
#: (tensorflow/tensorflow, keras-team/keras and keras-team/tf-keras issue numbers), or, for the
#: two without a public issue number, the plugin and macOS they were reported with.
CHECKS = (
    {
        "name": "fused_dense_relu",
        "title": "fused Dense+ReLU",
        "sources": ["tensorflow#62137", "tensorflow#92686"],
        "modes": ("eager", "graph"),
        "run": check_fused_dense_relu,
    },
    {
        "name": "random_uniform",
        "title": "successive tf.random.uniform draws",
        "sources": ["tensorflow#53505", "tensorflow#56122"],
        "modes": ("eager", "graph"),
        "run": check_random_uniform,
    },
    {
        "name": "mc_dropout",
        "title": "Monte-Carlo dropout",
        "sources": ["tf-keras#541"],
        "modes": ("eager", "graph"),
        "run": check_mc_dropout,
    },
    {
        "name": "stateless_uniform_int",
        "title": "integer tf.random.stateless_uniform",
        "sources": ["tensorflow#87972"],
        "modes": ("eager", "graph"),
        "run": check_stateless_uniform_int,
    },
    {
        "name": "batch_norm_5d",
        "title": "5-D FusedBatchNormV3",
        "sources": ["reported with plugin 1.1.0 on macOS 26"],
        "modes": ("eager", "graph"),
        "run": check_batch_norm_5d,
        "unavailable": unavailable_batch_norm_5d,
    },
    {
        "name": "slice_update",
        "title": "keras.ops.slice_update",
        "sources": ["reported with plugin 1.2.0"],
        "modes": ("eager", "graph"),
        "run": check_slice_update,
        "unavailable": unavailable_slice_update,
    },
    {
        "name": "keras_fit",
        "title": "Keras fit",
        "sources": ["keras#21668", "tensorflow#92564"],
        "modes": ("fit",),
        "run": check_keras_fit,
    },
)


def _first_line(exc) -> str:
    """``NotFoundError: No registered ...``: the exception's type and its message's first line."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0].strip() if lines else ''}".strip()


def run_check(check, ctx, device: str, mode: str, injected: bool) -> dict:
    """One check on one device in one mode, timed; an exception from the op is its outcome."""
    started = time.perf_counter()
    try:
        outcome = check["run"](ctx, device, mode, injected)
    except Exception as exc:
        # An op that raises (a missing kernel, a failed launch): the pair fails this check. Its
        # text is kept whole (bounded) for the record, where the suite names the failure.
        outcome = {
            "status": "fail",
            "failure": "op fails",
            "finding": _first_line(exc),
            "error": str(exc)[:4000],
        }
    return _entry(check, device, mode, dict(outcome, seconds=round(time.perf_counter() - started, 3)))


def _entry(check, device: str, mode: str, outcome: dict) -> dict:
    entry = {
        "check": check["name"],
        "title": check["title"],
        "sources": list(check["sources"]),
        "device": device,
        "mode": mode,
        "status": outcome["status"],
        "failure": outcome.get("failure"),
        "finding": outcome.get("finding"),
        "reason": outcome.get("reason"),
        "error": outcome.get("error"),
        "measured": _finite(outcome.get("measured", {})),
        "seconds": outcome.get("seconds", 0.0),
    }
    return entry


def _finite(value):
    """``value`` with every non-finite number made None: the result is strict JSON, and a GPU
    that returns NaN must be recorded, not crash the probe."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not numpy.isfinite(value):
        return None
    return value


def run_checks(tf, devices, inject=frozenset()) -> list:
    """Every check on every device (the CPU first) in each of its modes, one line each."""
    ctx = Context(tf)
    results = []
    for check in CHECKS:
        started = time.perf_counter()
        reason = check["unavailable"](ctx) if "unavailable" in check else None
        if reason:
            # Nothing to judge here: the op or API does not exist in this TensorFlow or Keras.
            seconds = round(time.perf_counter() - started, 3)
            for device in devices:
                for mode in check["modes"]:
                    entry = _entry(
                        check, device, mode, {"status": "skipped", "reason": reason, "seconds": seconds}
                    )
                    results.append(entry)
                    print(check_line(entry), flush=True)
            continue
        for device in devices:
            for mode in check["modes"]:
                entry = run_check(check, ctx, device, mode, check["name"] in inject)
                results.append(entry)
                print(check_line(entry), flush=True)
    return results


def check_line(entry: dict) -> str:
    """``agree: fused_dense_relu on /CPU:0 (graph): pass, max error 2.1e-07 (limit 1e-04)``."""
    said = entry["finding"] if entry["status"] != "skipped" else entry["reason"]
    return f"agree: {entry['check']} on {entry['device']} ({entry['mode']}): {entry['status']}, {said}"


def checks_summary(checks: list, devices) -> str:
    """One line: how many named checks passed on which devices, which failed, which were skipped."""
    statuses = {}
    for entry in checks:
        statuses.setdefault(entry["check"], set()).add(entry["status"])
    failed = [name for name, seen in statuses.items() if "fail" in seen]
    skipped = [name for name, seen in statuses.items() if seen == {"skipped"}]
    where = ", ".join(device.lstrip("/") for device in devices)
    if failed:
        line = f"failed {len(failed)} of {len(statuses)} checks of known failures on {where}: "
        line += ", ".join(failed)
    else:
        passed = len(statuses) - len(skipped)
        line = f"passed {'all ' if not skipped else ''}{passed} checks of known failures on {where}"
    return line + (f"; skipped here: {', '.join(skipped)}" if skipped else "")


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
    workload_seconds = round(time.perf_counter() - started, 3)
    checks = run_checks(tf, devices, set(args.inject))
    print(f"agree: {checks_summary(checks, devices)}", flush=True)
    result = {
        "reference": "CPU float64",
        "candidate": ", ".join(device.lstrip("/") for device in devices),
        "candidate_dtype": args.candidate_dtype,
        "comparisons": comparisons,
        "checks": checks,
        "checks_summary": checks_summary(checks, devices),
        "injected": sorted(args.inject),
        "keras": fit.keras_versions(tf),
        "agrees": all(c["agrees"] for c in comparisons) and all(c["status"] != "fail" for c in checks),
        "workload_seconds": workload_seconds,  # the reference workload (comparisons), all devices
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
