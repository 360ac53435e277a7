"""Records for the report's tests, made the way the suite makes them.

Verify records: ``new_record`` and probe sections from ``verify.judge`` on the runs a probe really
ends with (a dyld error, a segfault, recorded from real Macs' public reports), written with
``write_record``, which validates them against the model. Abi records are shaped like
``predict.run_abi``'s. Map records are built here with the model (``MapSection``), labelled as
such: the map session is being written beside this work, and its releases below are the index's
facts of 2026-11-25 (../shared/reference/macos-wheels.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import msgspec
from packaging.version import Version

from tfcompat.core.matrix import PROBES, Row
from tfcompat.core.record import new_record, write_record
from tfcompat.verify.run import judge
from tfcompat.verify.runner import ProbeRun

GPU = {"name": "Apple M2 Pro", "metal_support": "Metal 3", "virtual": False}
MAC_15 = {
    "os": "Darwin",
    "os_version": "15.6.1",
    "os_build": "24G90",
    "machine": "arm64",
    "chip": "Apple M2 Pro",
    "python": "3.11.7",
    "gpus": [GPU],
}
MAC_26 = {**MAC_15, "os_version": "26.1", "os_build": "25B78"}
#: A hosted CI Mac: GitHub's macos-15 runner, whose GPU is virtual.
CI_MAC = {
    "os": "Darwin",
    "os_version": "15.5",
    "machine": "arm64",
    "chip": "Apple M1 (Virtual)",
    "python": "3.11.9",
    "gpus": [{"name": "Apple Paravirtual device", "metal_support": "Metal 3", "virtual": True}],
    "ci": {
        "provider": "github-actions",
        "runner_name": "GitHub Actions 1000000001",
        "runner_os": "macOS",
        "runner_arch": "ARM64",
        "runner_environment": "github-hosted",
        "image": "macos-15-arm64",
        "image_version": "20251110.0085",
        "run_url": "https://github.com/example/tfcompat/actions/runs/1",
    },
}
OLD_MAC = {**MAC_15, "os_version": "11.7.10", "chip": "Apple M1"}
LINUX = {"os": "Linux", "os_version": "6.1.0-27-amd64", "machine": "x86_64", "chip": None, "python": "3.11.7"}
TOOLS = {"tfcompat": "0.1.0", "uv": "uv 0.13.9", "nox": "2026.10.20"}
PACKAGES = ["keras==3.6.0", "numpy==1.26.4", "tensorflow==2.17.0", "tensorflow-metal==1.1.0"]

SITE = "/Users/ana/Library/Caches/tfcompat/envs/5be0c1d2/lib/python3.10/site-packages"
#: The import of TF 2.18 + tensorflow-metal 1.1.0 on a Mac (public reports, tensorflow-metal forum).
DYLD_FAILURE = f"""Traceback (most recent call last):
  File "/Users/ana/tfcompat/probes/import.py", line 38, in <module>
    main()
  File "/Users/ana/tfcompat/probes/import.py", line 27, in main
    import tensorflow as tf
  File "{SITE}/tensorflow/__init__.py", line 438, in <module>
    _ll.load_library(_plugin_dir)
  File "{SITE}/tensorflow/python/framework/load_library.py", line 151, in load_library
    py_tf.TF_LoadLibrary(lib)
tensorflow.python.framework.errors_impl.NotFoundError: dlopen({SITE}/tensorflow-plugins/libmetal_plugin.dylib, \
0x0006): Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii
  Referenced from: <D2EF42E3-3A7F-39DD-9982-FB6BCDC2853C> {SITE}/tensorflow-plugins/libmetal_plugin.dylib
  Expected in:     <2814A58E-D752-317B-8040-131217E2F9AA> {SITE}/tensorflow/python/_pywrap_tensorflow_internal.so
"""


def segfault(where: int) -> str:
    """What faulthandler prints when the fit dies of SIGSEGV; ``where`` is the line it died on."""
    return f"""Epoch 1/2
Fatal Python error: Segmentation fault

Thread 0x00000001f1c3c240 (most recent call first):
  File "/Users/ana/tfcompat/probes/fit.py", line {where} in train
  File "/Users/ana/tfcompat/probes/fit.py", line 120 in main
"""


def fixed_id(record: dict) -> dict:
    """The record with an id made from what it is about, not random: golden files stay stable."""
    about = json.dumps([record["kind"], record["row"], record["host"], record["started"]], sort_keys=True)
    record["id"] = record["id"].rsplit("-", 1)[0] + "-" + hashlib.sha256(about.encode()).hexdigest()[:8]
    return record


def ok_run(result: dict) -> ProbeRun:
    return ProbeRun(0, None, 2.5, False, json.dumps(result), "", result)


OPS = ["matmul", "conv2d", "batch_norm", "softmax", "adam_update", "training_steps"]


def agree_run(reference: str = "CPU", *, errors: dict[str, float | None] | None = None) -> ProbeRun:
    """The agree probe's output: every op within tolerance but those ``errors`` names."""
    errors = errors or {}
    comparisons = []
    for name in OPS:
        tolerance = 1e-3 if name == "training_steps" else 1e-4
        error = errors.get(name, 3e-7)
        agrees = error is not None and error <= tolerance
        comparisons.append(
            {"name": name, "max_relative_error": error, "tolerance": tolerance, "agrees": agrees}
        )
    candidate = "GPU:0" if reference == "CPU" else "CPU, oneDNN on"
    return ok_run(
        {
            "reference": reference,
            "candidate": candidate,
            "candidate_dtype": "float32",
            "comparisons": comparisons,
            "agrees": all(c["agrees"] for c in comparisons),
        }
    )


def speedup_run(cpu_rate: float, gpu_rate: float | None) -> ProbeRun:
    """The speed-up probe's output (probes/speedup.py's ``compare``: a GPU step more than 5x the
    CPU's is flagged); ``gpu_rate`` None: no GPU listed."""

    def device(name: str, rate: float) -> dict:
        return {"device": name, "median_step_seconds": round(1 / rate, 6), "steps_per_second": rate}

    cpu, gpu = device("/CPU:0", cpu_rate), device("/GPU:0", gpu_rate) if gpu_rate else None
    compared = (
        {
            "speedup": round(gpu_rate / cpu_rate, 2),
            "cpu_step_seconds": cpu["median_step_seconds"],
            "gpu_step_seconds": gpu["median_step_seconds"],
            "much_slower": gpu["median_step_seconds"] > 5.0 * cpu["median_step_seconds"],
            "much_slower_factor": 5.0,
        }
        if gpu
        else {"speedup": None, "much_slower": None}
    )
    return ok_run(
        {"model": "resnet50", "batch_size": 64, "warmup": 3, "steps": 10, "cpu": cpu, "gpu": gpu, **compared}
    )


def fit_run(*, gpu: bool = True, data="cifar100", model="resnet50", samples=50_000, epochs=5, batch=64):
    """The fit probe's output (probes/fit.py's result); the defaults are Apple's full procedure."""
    return ok_run(
        {
            "data": data,
            "model": model,
            "samples": samples,
            "epochs_requested": epochs,
            "batch_size": batch,
            "learning_rate": 0.001,
            "device": "/GPU:0" if gpu else "/CPU:0",
            "gpus": ["/physical_device:GPU:0"] if gpu else [],
            "placed_on": "/job:localhost/replica:0/task:0/device:GPU:0" if gpu else "/device:CPU:0",
            "epochs": [
                {"epoch": n + 1, "loss": 4.6 - n / 10, "accuracy": 0.01, "seconds": 50.0}
                for n in range(epochs)
            ],
            "finite": True,
            "loss_fell": epochs > 1,
            "seconds": 250.0,
        }
    )


PROBES_OK = {
    "import": ok_run({"tensorflow": "2.17.0", "plugins": ["libmetal_plugin.dylib"]}),
    "devices": ok_run({"gpus": ["/physical_device:GPU:0"]}),
    "fit": fit_run(),
    "agree": agree_run(),
    "speedup": speedup_run(1.7, 10.7),  # 6.29x
}
#: TensorFlow alone: no GPU, so agree compares two CPU configurations and speed-up has no number.
CPU_ONLY = {
    "import": ok_run({"tensorflow": "2.17.0", "plugins": []}),
    "devices": ok_run({"gpus": []}),
    "fit": fit_run(gpu=False),
    "agree": agree_run("CPU, oneDNN off"),
    "speedup": speedup_run(1.7, None),
}
SHORT = {"data": "synthetic", "model": "small", "samples": 128, "epochs": 1}


def verify_record(
    row: Row, started: str, host: dict, runs: dict[str, ProbeRun], packages=PACKAGES, probes=PROBES
) -> dict:
    """A verify record as ``verify.run_verify`` writes it, with the probe sections ``judge`` makes.

    ``probes`` names the probes run: an older tfcompat ran import, devices and fit only.
    """
    record = new_record("verify", row, host=copy.deepcopy(host), tools=dict(TOOLS), started=started)
    record["provision"] = {
        "status": "ok",
        "seconds": 8.1,
        "interpreter": "3.10.13 /opt/homebrew/bin/python3.10",
        "requirements": [f"tensorflow=={row.tf}", f"tensorflow-metal=={row.metal}"],
        "exclude_newer": "2024-07-12T00:00:00Z",
        "packages": packages,
    }
    sections = {}
    for name in probes:
        if any(probe["status"] != "ok" for probe in sections.values()):
            sections[name] = {"status": "not_reached"}
        else:
            # As data (a copy): a test that edits its record must not edit the shared runs.
            sections[name] = msgspec.to_builtins(judge(name, runs[name], row=row, timeout=300.0))
    record["probes"] = sections
    judged = [probe["status"] for name, probe in sections.items() if name != "speedup"]
    record["verdict"] = "ok" if all(status == "ok" for status in judged) else "fail"
    record["finished"] = started.replace(":00.", ":59.")
    return fixed_id(record)


def no_verdict_record(row: Row, started: str, host: dict, *, error: str) -> dict:
    """A verify run that could not decide: the dataset download failed (no network)."""
    record = verify_record(row, started, host, PROBES_OK, probes=("import", "devices"))
    record["probes"]["fit"] = {
        "status": "error",
        "signature": "dataset download failed",
        "error": error,
    }
    record["verdict"] = "error"
    return record


def provision_error_record(row: Row, started: str, host: dict) -> dict:
    record = new_record("verify", row, host=copy.deepcopy(host), tools=dict(TOOLS), started=started)
    record["provision"] = {
        "status": "error",
        "signature": "index unreachable",
        "error": "index unreachable: https://pypi.org/simple/tensorflow/ (Name or service not known)",
    }
    record["probes"] = {}
    record["verdict"] = "error"
    record["finished"] = started
    return fixed_id(record)


def abi_record(
    row: Row,
    started: str,
    *,
    first: str | None = None,
    error: str | None = None,
    hazard: dict | None = None,
    floors: dict | None = None,
    install: bool = True,
) -> dict:
    """An abi record as ``predict.run_abi`` writes it: a prediction, or an error without one; with
    ``install``, the engine's preflight for the row's Python and the command it resolved today."""
    record = new_record("abi", row, host=LINUX, tools=TOOLS, started=started)
    if error:
        record["abi"] = {"verdict": None, "error": error}
        record["verdict"] = "error"
    else:
        record["abi"] = {
            "verdict": "fail" if first else "ok",
            "first": first,
            "unresolved_count": 3 if first else 0,
            "unresolved": ["__ZN3tsl8internal10LogMessageC1EPKcii", "__ZN3tsl8internal10LogMessageD1Ev"]
            if first
            else [],
            "wheels": [
                {
                    "name": "tensorflow",
                    "version": row.tf,
                    "filename": f"tensorflow-{row.tf}.whl",
                    "sha256": "ab" * 32,
                },
                {"name": "tensorflow-metal", "version": row.metal, "filename": "m.whl", "sha256": "cd" * 32},
            ],
            "not_checked": ["weak imports", "Objective-C classes"],
            "seconds": 4.2,
            "hazard": hazard,
            "floors": floors or floors_of(row.tf, row.metal),
            "preflight": {
                "status": "installs",
                "exclude_newer": "2024-07-12T00:00:00Z",
                "packages": [f"tensorflow=={row.tf}", f"tensorflow-metal=={row.metal}", "keras==3.6.0"],
                "install": {"command": "", "pins": [], "keras": "keras 3.6.0"},
            }
            if install
            else None,
        }
        record["verdict"] = record["abi"]["verdict"]
    record["finished"] = started
    return fixed_id(record)


XLA_HAZARD = {
    "kind": "xla",
    "predicted": "fails",
    "keras": "keras 2.11.0",
    "reason": "optimizer_experimental/optimizer.py compiles the update step with jit_compile=True and has no "
    "fallback for Apple silicon (tf_utils.can_jit_compile is absent)",
    "workaround": "tf.keras.optimizers.legacy.Adam",
}

# The index's macOS arm64 finals, 2026-11-25: (version, distribution, Python minor versions).
METAL_RELEASES = [
    *((v, range(8, 10)) for v in ("0.1.0", "0.1.1", "0.1.2", "0.2.0", "0.3.0", "0.4.0")),
    *((v, range(8, 11)) for v in ("0.5.0", "0.5.1", "0.6.0", "0.7.0", "0.7.1")),
    *((v, range(8, 12)) for v in ("0.8.0", "1.0.0", "1.0.1")),
    ("1.1.0", range(9, 12)),
    ("1.2.0", range(9, 13)),
]
TF_RELEASES = [
    *((v, "tensorflow-macos", range(8, 10)) for v in ("2.5.0", "2.6.0", "2.7.0", "2.8.0")),
    *((v, "tensorflow-macos", range(8, 11)) for v in ("2.9.0", "2.9.1", "2.9.2", "2.10.0", "2.11.0")),
    ("2.12.0", "tensorflow-macos", range(8, 12)),
    ("2.13.0", "tensorflow", range(8, 12)),
    ("2.13.1", "tensorflow", range(9, 12)),
    *((v, "tensorflow", range(9, 12)) for v in ("2.14.0", "2.14.1", "2.15.0", "2.15.1")),
    *((v, "tensorflow", range(9, 13)) for v in ("2.16.1", "2.16.2", "2.17.0", "2.17.1", "2.18.0", "2.18.1")),
    *((v, "tensorflow", range(9, 13)) for v in ("2.19.0", "2.19.1")),
    ("2.20.0", "tensorflow", range(9, 14)),
    ("2.21.0", "tensorflow", range(10, 14)),
]
#: As of their release, these did not install from binary wheels (issue 11's facts).
NOT_INSTALLABLE = {
    "2.5.0": "numpy==1.19.5",
    "2.6.0": "numpy==1.19.5",
    "2.7.0": "libclang==12.0.0",
    "2.8.0": "h5py==3.6.0",
}
RPATH_FAILURE = "Library not loaded: @rpath/_pywrap_tensorflow_internal.so"


def floors_of(tf: str, metal: str) -> dict:
    """A pair's macOS floors as the engine measures them (the table in docs/abi.md): its wheels' tags
    (macosx_11_0 up to TF 2.9.2 and plugin 0.5.0, macosx_12_0 after), and the load floor the
    plugin's imports set (0.3.0 - 0.5.0: MPSGraphCompilationDescriptor, macOS 12.0; from 0.5.1:
    MPSGraphRandomOpDescriptor, 12.3)."""
    older = Version(tf) <= Version("2.9.2") and Version(metal) <= Version("0.5.0")
    load = (
        "12.3"
        if Version(metal) >= Version("0.5.1")
        else "12.0"
        if Version(metal) >= Version("0.3.0")
        else "11.3"
    )
    return {"install": "11.0" if older else "12.0", "load": load, "built_for": "12.0"}


def map_cell(tf: str, tf_pythons: range, metal: str, metal_pythons: range) -> dict:
    """One cell of a map record, following the public facts: 2.20+ fail on the renamed library
    (a path fix meets ``_AttrValue_default_instance_`` next), 2.18/2.19 + 1.1.0 fail on
    ``LogMessage``, 2.11 compiles Adam with XLA, the rest load; TF before 2.9 installs only with
    conda's help."""
    pythons = {}
    for minor in sorted(set(tf_pythons) & set(metal_pythons)):
        python = f"3.{minor}"
        if tf in NOT_INSTALLABLE:
            pythons[python] = {"status": "not_installable", "requirement": NOT_INSTALLABLE[tf]}
            continue
        pins = ["numpy<2"] if Version(tf) < Version("2.16") else []  # they pin nothing on numpy
        pythons[python] = {
            "status": "installs",
            "exclude_newer": "2024-07-12T00:00:00Z",
            "packages": [f"tensorflow=={tf}", f"tensorflow-metal=={metal}", "numpy==1.26.4"],
            "install": {
                "command": "",
                "keras": "keras 2.15.0" if Version(tf) < Version("2.16") else "keras 3.12.0",
                "pins": pins,
                "reason": "today's resolver brings numpy 2, which this TensorFlow's import cannot load"
                if pins
                else None,
            },
        }
    cell: dict = {"tf": tf, "metal": metal, "abi": "ok", "floors": floors_of(tf, metal), "pythons": pythons}
    if Version(tf) >= Version("2.20"):
        cell.update(
            abi="fail",
            first=RPATH_FAILURE,
            unresolved_count=1,
            second={
                "library": "@rpath/_pywrap_tensorflow_internal.so",
                "found_as": "tensorflow/python/_pywrap_tensorflow_internal.so",
                "verdict": "fail",
                "first": "Symbol not found: __ZN10tensorflow28_AttrValue_default_instance_E",
                "unresolved_count": 41,
            },
        )
    elif tf in ("2.18.0", "2.18.1", "2.19.0", "2.19.1") and metal == "1.1.0":
        cell.update(
            abi="fail", first="Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii", unresolved_count=3
        )
    elif tf == "2.11.0":
        cell["hazard"] = XLA_HAZARD
    return cell


def map_record(started: str, host: dict = LINUX) -> dict:
    """A map record over every release (built here with the model: see the module's docstring)."""
    record = new_record("map", Row(0, "3.10", "0", "none", None), host=host, tools=TOOLS, started=started)
    record["row"] = None
    record["map"] = {
        "tf_releases": [
            {"version": v, "package": package, "pythons": [f"3.{m}" for m in pythons]}
            for v, package, pythons in TF_RELEASES
        ],
        "metal_releases": [
            {"version": v, "package": "tensorflow-metal", "pythons": [f"3.{m}" for m in pythons]}
            for v, pythons in METAL_RELEASES
        ],
        "cells": [
            map_cell(tf, tf_pythons, metal, metal_pythons)
            for tf, _, tf_pythons in TF_RELEASES
            for metal, metal_pythons in METAL_RELEASES
        ],
        "seconds": 14.2,
    }
    record["verdict"] = "ok"
    record["finished"] = started
    return fixed_id(record)


# A history: the records a real project collects over two macOS updates.

HISTORY_MATRIX = """
[defaults]
python = "3.10"

[[row]]
tf = "2.19.0"
metal = "1.2.0"
supports = "ambiguous"

[[row]]
tf = "2.17.0"
metal = "1.1.0"
supports = "yes"

[[row]]
tf = "2.17.0"
metal = "1.2.0"
supports = "no"

[[row]]
tf = "2.13.0"
metal = "1.0.0"
supports = "yes"
python = "3.9"

[[row]]
tf = "2.17.0"
metal = "none"
"""
DYLD_FIRST = (
    "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii\n"
    "  Referenced from: tensorflow-plugins/libmetal_plugin.dylib\n"
    "  Expected in: tensorflow/python/_pywrap_tensorflow_internal.so"
)


def rows(matrix) -> dict[str, Row]:
    names = ["new", "old", "unlisted", "py39", "alone"]
    return dict(zip(names, matrix.rows, strict=True))


def t(day: int, minute: int = 0) -> str:
    return f"2026-11-{day:02d}T10:{minute:02d}:00.000000+00:00"


def history(matrix, folder: Path) -> Path:
    """A folder as a real project collects it: abi from Linux, verify on a Mac before and after a
    macOS update (one record from before the agree and speed-up probes), TensorFlow alone on
    Linux, a run with no verdict, and files that are not records."""
    sessions = folder / "sessions"
    row = rows(matrix)
    records = [
        abi_record(row["new"], t(1, 0), first=DYLD_FIRST),
        abi_record(row["old"], t(1, 1)),
        abi_record(row["unlisted"], t(1, 2)),
        abi_record(row["py39"], t(1, 3), error="tensorflow-macos 2.13.0: sha256 mismatch"),
        # macOS 15.6.1: the newest plugin fails to load; the unlisted pair works.
        verify_record(
            row["new"], t(2, 0), MAC_15, {"import": ProbeRun(1, None, 6.0, False, "", DYLD_FAILURE, None)}
        ),
        verify_record(row["old"], t(2, 10), MAC_15, PROBES_OK, probes=PROBES[:3]),
        verify_record(row["unlisted"], t(2, 20), MAC_15, PROBES_OK),
        verify_record(row["alone"], t(2, 30), MAC_15, CPU_ONLY),
        provision_error_record(row["py39"], t(2, 40), MAC_15),
        # macOS 26.1, keras updated: the newest plugin now loads but trains slower than the CPU,
        # 1.1.0 crashes in training, the unlisted pair computes wrong numbers.
        verify_record(row["new"], t(20, 0), MAC_26, {**PROBES_OK, "speedup": speedup_run(1.7, 1.0)}),
        verify_record(
            row["old"],
            t(20, 10),
            MAC_26,
            {**PROBES_OK, "fit": ProbeRun(-11, "SIGSEGV", 31.0, False, "", segfault(88), None)},
            packages=["keras==3.6.1", *PACKAGES[1:], "tf-keras==2.17.0"],
        ),
        verify_record(
            row["unlisted"],
            t(20, 20),
            MAC_26,
            {**PROBES_OK, "agree": agree_run(errors={"matmul": 2.4e-2, "conv2d": None})},
        ),
        verify_record(row["alone"], t(21, 0), LINUX, {**CPU_ONLY, "fit": fit_run(gpu=False, **SHORT)}),
    ]
    for record in records:
        write_record(record, sessions)
    stray = abi_record(Row(99, "3.10", "2.99.0", "1.2.0", "yes"), t(1, 4))
    write_record(stray, sessions)
    complete = json.dumps(verify_record(row["old"], t(2, 50), MAC_15, PROBES_OK))
    (sessions / "truncated.json").write_text(complete[:300])
    (sessions / "schema1-skip.json").write_text(json.dumps({**json.loads(complete), "schema": 1}))
    (folder / "package.json").write_text('{"name": "left-here-by-someone", "version": "1.0.0"}')
    (sessions / "list.json").write_text("[1, 2, 3]")
    return folder
