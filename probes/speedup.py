"""Probe: training steps per second on the accelerator against the CPU, same model and batch.

The model and data shape are the fit probe's (``fit.py`` beside this file). Each device gets
warm-up steps first (tracing and kernel selection are not the steady state), then the median of
the measured steps. With no GPU listed there is nothing to compare the CPU with: the probe says
so at once (``skipped`` with the reason) instead of timing the CPU for a null result.
Runs inside the provisioned environment with only the standard library and TensorFlow (and its
numpy); prints one JSON object on the last line of stdout.
"""

import argparse
import json
import statistics
import time

import fit  # the sibling probe: one definition of the model and of seeding
import numpy

NO_GPU = "no GPU listed: there is nothing to compare the CPU with"
#: A GPU whose median step takes more than this many times the CPU's is flagged: a plain pass
#: would hide it (tensorflow issue 63854: about 6 s a step under Keras 3 against 94 ms with
#: tf_keras, TF 2.16.1 + plugin 1.1.0). Recorded, never a failure of the pair.
MUCH_SLOWER = 5.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("resnet50", "small"), default="resnet50")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="steps run before measuring")
    parser.add_argument("--steps", type=int, default=10, help="steps measured")
    args = parser.parse_args(argv)
    for name in ("batch_size", "warmup", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def steps_per_second(tf, device: str, args) -> dict:
    """Median steady-state training steps per second of the model on ``device``.

    The steps run inside ``model.fit`` (the compiled training loop a user runs), timed per batch
    by a callback; the first ``warmup`` batches are dropped.
    """
    fit.seed_everything(tf, 0)
    batches = args.warmup + args.steps
    # numpy, like the fit: no random op on the device, whose plugin may lack the kernel.
    rng = numpy.random.RandomState(0)
    x = rng.uniform(0.0, 1.0, (batches * args.batch_size, 32, 32, 3)).astype("float32")
    y = rng.randint(0, 100, size=(batches * args.batch_size, 1)).astype("int64")
    seconds = []

    class StepTimer(tf.keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    with tf.device(device):
        model = fit.build_model(tf, args.model)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(
            x, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[StepTimer()]
        )
    measured = seconds[args.warmup :]
    median = statistics.median(measured)
    return {
        "device": device,
        "steps_measured": len(measured),
        "median_step_seconds": round(median, 6),
        "steps_per_second": round(1 / median, 3),
    }


def compare(cpu: dict, gpu: dict) -> dict:
    """The speed-up, both median step times, and whether the GPU is more than ``MUCH_SLOWER``
    times slower than the CPU on the same steps."""
    cpu_step, gpu_step = cpu["median_step_seconds"], gpu["median_step_seconds"]
    return {
        "speedup": round(gpu["steps_per_second"] / cpu["steps_per_second"], 2),
        "cpu_step_seconds": cpu_step,
        "gpu_step_seconds": gpu_step,
        "much_slower": gpu_step > MUCH_SLOWER * cpu_step,
        "much_slower_factor": MUCH_SLOWER,
    }


def main() -> None:
    args = parse_args()
    import tensorflow as tf

    started = time.perf_counter()
    result = {"model": args.model, "batch_size": args.batch_size, "warmup": args.warmup, "steps": args.steps}
    if not tf.config.list_physical_devices("GPU"):
        result.update(skipped=NO_GPU, cpu=None, gpu=None, speedup=None, much_slower=None)
    else:
        cpu = steps_per_second(tf, "/CPU:0", args)
        gpu = steps_per_second(tf, "/GPU:0", args)
        result.update(cpu=cpu, gpu=gpu, **compare(cpu, gpu))
    # The probe's own work, TensorFlow's import aside: what "says so at once" is measured by.
    result["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
