"""Time ``nox -s report``'s work on a large folder: N records → Markdown, HTML, JSON and locks.

    python benchmarks/report.py [--records 10000] [--runs 5] [--map RECORD] [--folder DIR] [--quick]

The records are written with the suite's own ``new_record``/``write_record`` for the rows of
expected.toml: 60 % verify (from five Macs and OS versions, one of them a hosted CI Mac with a
virtual GPU, and Linux for TensorFlow alone), 40 % abi; one in twenty has no verdict. Verify
records carry stderr tails the size real ones have: a few KB of TensorFlow's start-up log when a
probe passes, the runner's full 16 KB tail when it fails. They run every probe (one in ten is
older, without agree and speed-up), with agree's comparisons and speed-up's figures; one in
four fits is shortened. ``--map RECORD`` adds a map record (``nox -s map`` writes one of every
release: 416 pairs, 6 Pythons), so the grids are full. ``--folder`` keeps the records there and
reuses them on the next run. ``--quick`` (the smoke run CI makes): 200 records, one run.

The report runs in a child process, so its peak memory is its own (``ru_maxrss``). The files are
in the page cache (they were just written), so the figures leave out a cold disk. Prints the
median of ``--runs`` full ``write_reports`` calls, then one run split into its stages.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from _util import ROOT, peak_rss_of_children_mb

from tfcompat.core.matrix import PROBES, Matrix, Row, load_matrix
from tfcompat.core.record import Record, load_record, new_record, record_stem, write_record
from tfcompat.report import write_reports
from tfcompat.report.build import build
from tfcompat.report.collect import collect
from tfcompat.report.html import render_html
from tfcompat.report.json import render_json
from tfcompat.report.markdown import render_markdown
from tfcompat.report.read import scan_folder
from tfcompat.verify.runner import TAIL_BYTES

GENERATED = "2026-11-24T12:00:00+00:00"
MACS = [("Apple M1", "14.7"), ("Apple M2 Pro", "15.6.1"), ("Apple M2 Pro", "26.1"), ("Apple M3 Max", "26.1")]
CI = {"provider": "github-actions", "runner_environment": "github-hosted", "image": "macos-15-arm64"}
LINUX = {"os": "Linux", "os_version": "6.1.0-27-amd64", "machine": "x86_64", "chip": None, "python": "3.11.7"}
TOOLS = {"tfcompat": "0.1.0", "uv": "uv 0.13.2", "nox": "2026.10.20"}
START_LOG = "I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is optimized\n" * 40
FAILURES = [
    "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(libmetal_plugin.dylib, 0x0006): "
    "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii",
    "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(libmetal_plugin.dylib, 0x0006): "
    "symbol not found in flat namespace '_TF_GetInputPropertiesList'",
    "tensorflow.python.framework.errors_impl.NotFoundError: Graph execution error: could not find registered "
    "platform with id: 0x1",
    "InvalidArgumentError: No registered 'AddV2' OpKernel for 'GPU' devices",
]
OPS = ["matmul", "conv2d", "batch_norm", "softmax", "adam_update", "training_steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--map", type=Path, metavar="RECORD", help="add this map record (nox -s map writes one)"
    )
    parser.add_argument("--folder", type=Path, help="keep the records here (reused when present)")
    parser.add_argument("--quick", action="store_true", help="200 records, one run")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child: report on this folder
    args = parser.parse_args()
    if args.quick:
        args.records, args.runs = 200, 1
    matrix = load_matrix(ROOT / "expected.toml")
    if args.measure:
        measure(matrix, args.measure, runs=args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        sessions = folder / "sessions"
        if not sessions.is_dir():
            sessions.mkdir(parents=True)
            size = write_history(
                matrix, sessions, count=args.records, rng=random.Random(4), with_map=args.map
            )
            print(f"wrote {args.records} records, {size / 1e6:.0f} MB, {len(matrix.rows)} matrix rows")
        else:
            print(f"reusing the records in {sessions}")
        child = [sys.executable, __file__, "--measure", str(folder), "--runs", str(args.runs)]
        subprocess.run(child, check=True)
        print(f"peak memory of the report process: {peak_rss_of_children_mb():.0f} MB")


def measure(matrix: Matrix, folder: Path, *, runs: int) -> None:
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        paths = write_reports(matrix, folder, generated=GENERATED)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(
        f"write_reports: median {statistics.median(times):.2f} s, min {min(times):.2f} s ({runs} runs); "
        f"CPU time median {statistics.median(cpu):.2f} s (load average now {os.getloadavg()[0]:.1f})"
    )
    print("outputs: " + ", ".join(f"{path.name} {path.stat().st_size / 1e3:.0f} KB" for path in paths))
    clocks = [time.perf_counter(), time.process_time()]
    stages: dict[str, tuple[float, float]] = {}

    def lap(name: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        stages[name] = (now[0] - clocks[0], now[1] - clocks[1])
        clocks[:] = now

    found = collect(scan_folder(folder, outputs={"compatibility.json"}), matrix)
    lap("read and choose")
    built = build(matrix, found, generated=GENERATED, host_os="Darwin", folder=str(folder.resolve()))
    lap("model")
    for name, render in (("markdown", render_markdown), ("html", render_html), ("json", render_json)):
        render(built.report)
        lap(name)
    print(
        "stages, wall/CPU: "
        + ", ".join(f"{name} {wall:.3f}/{cpu:.3f} s" for name, (wall, cpu) in stages.items())
    )
    report = built.report
    print(
        f"{found.count} records read, {len(report.machines)} machines, {len(report.grids)} grids, "
        f"{len(report.footnotes)} footnotes, {len(report.changes)} changes"
    )


def write_history(
    matrix: Matrix, folder: Path, *, count: int, rng: random.Random, with_map: Path | None
) -> int:
    """Write ``count`` records spread over a year (and the map record ``with_map``, read with the
    record model); return their total size in bytes."""
    first = datetime(2025, 11, 1, tzinfo=UTC)
    size = 0
    if with_map:
        size += write_record(msgspec.to_builtins(load_record(with_map)), folder).stat().st_size
    for index in range(count):
        row = rng.choice(matrix.rows)
        started = (first + timedelta(minutes=index * 50)).isoformat(timespec="microseconds")
        record = (
            abi(row, started, rng) if row.has_plugin and rng.random() < 0.4 else verify(row, started, rng)
        )
        if rng.random() < 0.05:
            record["verdict"] = "error"  # no verdict: it must not hide the one before
        size += _write(record, folder, validate=index % 100 == 0)
    return size


def _write(record: dict, folder: Path, *, validate: bool) -> int:
    """Write a record as ``write_record`` does, without its fsync (100,000 of them take an hour
    on a busy disk); one in a hundred goes through ``write_record`` itself, which validates it."""
    if validate:
        return write_record(record, folder).stat().st_size
    data = msgspec.json.format(msgspec.json.encode(msgspec.convert(record, Record)), indent=1)
    (folder / f"{record_stem(record)}.json").write_bytes(data)
    return len(data)


def verify(row: Row, started: str, rng: random.Random) -> dict:
    chip, version = rng.choice(MACS + [("Apple M1 (Virtual)", "15.5")])
    virtual = chip.endswith("(Virtual)")
    gpu = {"name": "Apple Paravirtual device" if virtual else chip, "virtual": virtual}
    mac = {"os": "Darwin", "os_version": version, "machine": "arm64", "chip": chip, "python": "3.11.7",
           "gpus": [gpu], "ci": CI if virtual else None}  # fmt: skip
    record = new_record("verify", row, host=mac if row.has_plugin else LINUX, tools=TOOLS, started=started)
    record["provision"] = {
        "status": "ok",
        "error": None,
        "signature": None,
        "seconds": 8.0,
        "interpreter": "3.10.13 /opt/homebrew/bin/python3.10",
        "requirements": [f"tensorflow=={row.tf}"],
        "exclude_newer": "2024-07-12T00:00:00Z",
        "packages": [f"package{n}=={rng.choice(['1.0', '1.1'])}" for n in range(40)],
        "reused": False,
    }
    failing = rng.choice([None, None, "import", "fit", "agree"])
    record["probes"] = {}
    for name in PROBES if rng.random() < 0.9 else PROBES[:3]:
        if any(earlier["status"] != "ok" for earlier in record["probes"].values()):
            record["probes"][name] = {"status": "not_reached"}
            continue
        record["probes"][name] = probe(failed=name == failing, rng=rng)
        if name == "agree":
            record["probes"][name].update(agree(failed=name == failing, rng=rng))
        if name == "speedup":
            record["probes"][name]["result"] = speedup(gpu=row.has_plugin, rng=rng)
        if name == "fit" and name != failing:
            short = rng.random() < 0.25
            record["probes"][name]["result"] = {
                "data": "synthetic" if short else "cifar100",
                "model": "small" if short else "resnet50",
                "samples": 256 if short else 50_000,
                "epochs_requested": 1 if short else 5,
                "batch_size": 64,
                "finite": True,
            }
    record["verdict"] = "fail" if failing else "ok"
    record["finished"] = started
    return record


def probe(*, failed: bool, rng: random.Random) -> dict:
    error = rng.choice(FAILURES) if failed else None
    tail = (START_LOG * 8)[-TAIL_BYTES:] + (error or "") if failed else START_LOG
    return {
        "status": "fail" if failed else "ok",
        "returncode": 1 if failed else 0,
        "signal": None,
        "seconds": 6.0,
        "timed_out": False,
        "signature": error.rsplit(": ", 1)[-1][:160] if error else None,
        "error": f"Traceback (most recent call last):\n{error}" if error else None,
        "stdout_tail": '{"tensorflow": "2.17.0"}',
        "stderr_tail": tail,
        "result": None if failed else {"tensorflow": "2.17.0", "gpus": ["/physical_device:GPU:0"]},
    }


def agree(*, failed: bool, rng: random.Random) -> dict:
    """What the agree probe's section says: its comparisons, and a disagreement's signature."""
    wrong = set(rng.sample(OPS[:2], rng.randint(1, 2))) if failed else set()
    comparisons = [
        {
            "name": name,
            "max_relative_error": rng.uniform(1e-3, 5e-2) if name in wrong else rng.uniform(1e-8, 1e-6),
            "tolerance": 1e-3 if name == "training_steps" else 1e-4,
            "agrees": name not in wrong,
        }
        for name in OPS
    ]
    result = {
        "reference": "CPU",
        "candidate": "GPU:0",
        "candidate_dtype": "float32",
        "comparisons": comparisons,
        "agrees": not wrong,
    }
    signature = "disagrees with CPU: " + ", ".join(name for name in OPS if name in wrong) if wrong else None
    return {"result": result, "signature": signature, "error": None}


def speedup(*, gpu: bool, rng: random.Random) -> dict:
    """The speed-up probe's result: a GPU rate on a Mac with the plugin (now and then slower)."""

    def device(name: str, rate: float) -> dict:
        return {"device": name, "median_step_seconds": round(1 / rate, 6), "steps_per_second": rate}

    cpu = round(rng.uniform(1.5, 1.9), 1)
    gpu_rate = round(cpu * rng.choice([0.6, 5.8, 6.3, 6.6]), 3) if gpu else None
    return {
        "model": "resnet50",
        "batch_size": 64,
        "warmup": 3,
        "steps": 10,
        "cpu": device("/CPU:0", cpu),
        "gpu": device("/GPU:0", gpu_rate) if gpu_rate else None,
        "speedup": round(gpu_rate / cpu, 2) if gpu_rate else None,
    }


def abi(row: Row, started: str, rng: random.Random) -> dict:
    record = new_record("abi", row, host=LINUX, tools=TOOLS, started=started)
    failed = rng.random() < 0.5
    record["abi"] = {
        "verdict": "fail" if failed else "ok",
        "first": "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii" if failed else None,
        "unresolved_count": 12 if failed else 0,
        "unresolved": [f"__ZN3tsl8internal{n}Ev" for n in range(12)] if failed else [],
        "wheels": [{"name": "tensorflow", "version": row.tf, "filename": "t.whl", "sha256": "ab" * 32}],
        "not_checked": ["weak imports"],
        "seconds": 4.0,
        "error": None,
    }
    record["verdict"] = record["abi"]["verdict"]
    record["finished"] = started
    return record


if __name__ == "__main__":
    main()
