"""The report: records in a folder → compatibility.md, .html and .json.

Records are made the way the suite makes them: ``new_record`` + ``write_record``, probe sections
from ``verify.judge`` on the runs a probe really ends with (a dyld error, a segfault), abi
sections shaped like ``abi.check``'s. Set ``TFCOMPAT_UPDATE_GOLDEN=1`` to rewrite the golden
Markdown after an intended change, then read the diff.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import TF_MAIN, run_nox, write_matrix
from tfcompat.matrix import PROBES, Row, load_matrix
from tfcompat.record import new_record, write_record
from tfcompat.report import (
    ABI_SAID_FAIL,
    CLAIM_FAILS,
    CLAIM_WORKS,
    SLOWER,
    md,
    write_reports,
)
from tfcompat.runner import ProbeRun
from tfcompat.verify import judge

GOLDEN = Path(__file__).resolve().parent / "golden"
GENERATED = "2026-11-24T12:00:00.000000+00:00"

MATRIX = """
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
tf = "2.17.0"
metal = "none"

[[row]]
tf = "2.13.0"
metal = "1.0.0"
supports = "yes"
python = "3.9"
"""

MAC_15 = {
    "os": "Darwin",
    "os_version": "15.6.1",
    "machine": "arm64",
    "chip": "Apple M2 Pro",
    "python": "3.11.7",
}
MAC_26 = {**MAC_15, "os_version": "26.1"}
LINUX = {"os": "Linux", "os_version": "6.1.0-27-amd64", "machine": "x86_64", "chip": None, "python": "3.11.7"}
TOOLS = {"tfcompat": "0.1.0", "uv": "uv 0.13.2", "nox": "2026.10.20"}
PACKAGES = ["keras==3.6.0", "numpy==1.26.4", "tensorflow==2.17.0", "tensorflow-metal==1.1.0"]

SITE = "/Users/ana/Library/Caches/tfcompat/envs/5be0c1d2/lib/python3.10/site-packages"
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
SEGFAULT = """Epoch 1/2
Fatal Python error: Segmentation fault

Thread 0x00000001f1c3c240 (most recent call first):
  File "/Users/ana/tfcompat/probes/fit.py", line 88 in train
  File "/Users/ana/tfcompat/probes/fit.py", line 120 in main
  File "/Users/ana/tfcompat/probes/fit.py", line 131 in <module>
"""


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
    """The speed-up probe's output; ``gpu_rate`` None: no GPU listed."""

    def device(name: str, rate: float) -> dict:
        return {"device": name, "median_step_seconds": round(1 / rate, 6), "steps_per_second": rate}

    return ok_run(
        {
            "model": "resnet50",
            "batch_size": 64,
            "warmup": 3,
            "steps": 10,
            "cpu": device("/CPU:0", cpu_rate),
            "gpu": device("/GPU:0", gpu_rate) if gpu_rate else None,
            "speedup": round(gpu_rate / cpu_rate, 2) if gpu_rate else None,
        }
    )


PROBES_OK = {
    "import": ok_run({"tensorflow": "2.17.0", "plugins": ["libmetal_plugin.dylib"]}),
    "devices": ok_run({"gpus": ["/physical_device:GPU:0"]}),
    "fit": ok_run({"finite": True, "gpus": ["/physical_device:GPU:0"], "placed_on": "/device:GPU:0"}),
    "agree": agree_run(),
    "speedup": speedup_run(1.7, 10.7),  # 6.29x
}
#: TensorFlow alone: no GPU, so agree compares two CPU configurations and speed-up has no number.
CPU_ONLY = {
    "import": ok_run({"tensorflow": "2.17.0", "plugins": []}),
    "devices": ok_run({"gpus": []}),
    "fit": ok_run({"finite": True, "gpus": [], "placed_on": "/device:CPU:0"}),
    "agree": agree_run("CPU, oneDNN off"),
    "speedup": speedup_run(1.7, None),
}


def verify_record(
    row: Row, started: str, host: dict, runs: dict[str, ProbeRun], packages=PACKAGES, probes=PROBES
) -> dict:
    """A verify record as ``verify.run_verify`` writes it, with the probe sections ``judge`` makes.

    ``probes`` names the probes run: an older tfcompat ran import, devices and fit only.
    """
    record = new_record("verify", row, host=dict(host), tools=dict(TOOLS), started=started)
    record["provision"] = {
        "status": "ok",
        "error": None,
        "signature": None,
        "seconds": 8.1,
        "interpreter": "3.10.13 /opt/homebrew/bin/python3.10",
        "requirements": [f"tensorflow=={row.tf}", f"tensorflow-metal=={row.metal}"],
        "exclude_newer": "2024-07-12T00:00:00Z",
        "packages": packages,
        "reused": False,
    }
    sections = {}
    for name in probes:
        if any(probe["status"] != "ok" for probe in sections.values()):
            sections[name] = {"status": "not_reached"}
        else:
            # A copy: a test that edits its record must not edit the shared runs.
            sections[name] = copy.deepcopy(judge(name, runs[name], row=row, timeout=300.0))
    record["probes"] = sections
    record["verdict"] = "ok" if all(probe["status"] == "ok" for probe in sections.values()) else "fail"
    record["finished"] = started.replace(":00.", ":59.")
    return record


def provision_error_record(row: Row, started: str, host: dict) -> dict:
    record = new_record("verify", row, host=dict(host), tools=dict(TOOLS), started=started)
    record["provision"] = {
        "status": "error",
        "signature": "no wheel",
        "error": "tensorflow-macos==2.13.0 has no wheel for macosx_15_0_arm64 (cp39 tag)",
    }
    record["probes"] = {}
    record["verdict"] = "error"
    record["finished"] = started
    return record


def abi_record(row: Row, started: str, *, first: str | None = None, error: str | None = None) -> dict:
    """An abi record as ``predict.run_abi`` writes it: a prediction, or an error without one."""
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
            "error": None,
        }
        record["verdict"] = record["abi"]["verdict"]
    record["finished"] = started
    return record


@pytest.fixture
def matrix(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text(MATRIX)
    return load_matrix(path)


@pytest.fixture
def reports(tmp_path) -> Path:
    return tmp_path / "reports"


def history(matrix, reports: Path) -> Path:
    """A folder as a real project collects it: abi from Linux, verify on a Mac before and after
    a macOS update (one record from before the agree and speed-up probes), TensorFlow alone on
    Linux, and files that are not records."""
    sessions = reports / "sessions"
    metal_new, metal_old, metal_unlisted, tf_alone, old_row = matrix.rows
    dyld_first = (
        "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii\n"
        "  Referenced from: tensorflow-plugins/libmetal_plugin.dylib\n"
        "  Expected in: tensorflow/python/_pywrap_tensorflow_internal.so"
    )
    records = [
        abi_record(metal_new, "2026-11-01T09:00:00.000000+00:00", first=dyld_first),
        abi_record(metal_old, "2026-11-01T09:01:00.000000+00:00"),
        abi_record(metal_unlisted, "2026-11-01T09:02:00.000000+00:00"),
        abi_record(
            old_row, "2026-11-01T09:03:00.000000+00:00", error="tensorflow-macos 2.13.0: sha256 mismatch"
        ),
        # macOS 15.6.1: the newest plugin fails to load; the unlisted pair works.
        verify_record(
            metal_new,
            "2026-11-02T10:00:00.000000+00:00",
            MAC_15,
            {"import": ProbeRun(1, None, 6.0, False, "", DYLD_FAILURE, None)},
        ),
        verify_record(metal_old, "2026-11-02T10:10:00.000000+00:00", MAC_15, PROBES_OK, probes=PROBES[:3]),
        verify_record(metal_unlisted, "2026-11-02T10:20:00.000000+00:00", MAC_15, PROBES_OK),
        verify_record(tf_alone, "2026-11-02T10:30:00.000000+00:00", MAC_15, CPU_ONLY),
        provision_error_record(old_row, "2026-11-02T10:40:00.000000+00:00", MAC_15),
        # macOS 26.1, keras updated: the newest plugin now loads but trains slower than the CPU,
        # 1.1.0 crashes in training, the unlisted pair computes wrong numbers.
        verify_record(
            metal_new,
            "2026-11-20T08:00:00.000000+00:00",
            MAC_26,
            {**PROBES_OK, "speedup": speedup_run(1.7, 1.0)},  # 0.59x
        ),
        verify_record(
            metal_old,
            "2026-11-20T08:10:00.000000+00:00",
            MAC_26,
            {**PROBES_OK, "fit": ProbeRun(-11, "SIGSEGV", 31.0, False, "", SEGFAULT, None)},
            packages=["keras==3.6.1", *PACKAGES[1:], "tf-keras==2.17.0"],
        ),
        verify_record(
            metal_unlisted,
            "2026-11-20T08:20:00.000000+00:00",
            MAC_26,
            {**PROBES_OK, "agree": agree_run(errors={"matmul": 2.4e-2, "conv2d": None})},
        ),
        verify_record(tf_alone, "2026-11-21T07:00:00.000000+00:00", LINUX, CPU_ONLY),
    ]
    for record in records:
        write_record(record, sessions)
    stray = abi_record(Row(99, "3.10", "2.99.0", "1.2.0", "yes"), "2026-11-01T09:04:00.000000+00:00")
    (sessions / "abi-py3.10-tf2.99.0-metal1.2.0-a.json").write_text(json.dumps(stray))
    complete = json.dumps(verify_record(metal_old, "2026-11-02T11:00:00.000000+00:00", MAC_15, PROBES_OK))
    (sessions / "truncated.json").write_text(complete[:300])
    (sessions / "schema2.json").write_text(json.dumps({**json.loads(complete), "schema": 2}))
    (reports / "package.json").write_text('{"name": "left-here-by-someone", "version": "1.0.0"}')
    (sessions / "list.json").write_text("[1, 2, 3]")
    return reports


def test_markdown_matches_golden(matrix, reports):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    assert_golden(reports / "compatibility.md", "history.md")


def test_empty_folder_gives_every_row_without_results_and_a_hint(matrix, reports):
    paths = write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    assert [path.name for path in paths] == ["compatibility.md", "compatibility.html", "compatibility.json"]
    assert_golden(reports / "compatibility.md", "empty.md")
    table = json.loads((reports / "compatibility.json").read_text())
    assert [row["abi"] for row in table["rows"]] == [None] * 5
    assert "No records yet" in (reports / "compatibility.html").read_text()


def test_json_is_the_newest_macs_table_in_matrix_order(matrix, reports):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    table = json.loads((reports / "compatibility.json").read_text())
    assert set(table) == {"schema", "generated", "rows"}
    assert (table["schema"], table["generated"]) == (1, GENERATED)
    keys = ["tf", "metal", "supports", "abi", "import", "devices", "verify", "agrees", "speedup"]
    cells = [tuple(row[key] for key in keys) for row in table["rows"]]
    # The Mac after its update leads, though a Linux record is newer; rows it has not rerun are
    # empty there, not copied from macOS 15.6.1.
    assert cells == [
        ("2.19.0", "1.2.0", "ambiguous", "fail", "ok", "ok", "ok", "ok", 0.59),
        ("2.17.0", "1.1.0", "yes", "ok", "ok", "ok", "fail", None, None),
        ("2.17.0", "1.2.0", "no", "ok", "ok", "ok", "ok", "fail", None),
        ("2.17.0", "none", None, None, None, None, None, None, None),
        ("2.13.0", "1.0.0", "yes", None, None, None, None, None, None),
    ]
    assert all(list(row) == ["python", *keys[:-2], "agrees", "speedup", "footnotes"] for row in table["rows"])
    markdown = (reports / "compatibility.md").read_text()
    footnotes = dict(re.findall(r"^([⁰¹²³⁴⁵⁶⁷⁸⁹]+) \*\*(.+?)\*\*", markdown, re.MULTILINE))
    numbers = {
        int(mark.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))): text
        for mark, text in footnotes.items()
    }
    slow_row, segfault_row, wrong_row = table["rows"][:3]
    assert [numbers[n] for n in segfault_row["footnotes"]] == [CLAIM_FAILS, "signal 11 (SIGSEGV)"]
    assert SLOWER in [numbers[n] for n in slow_row["footnotes"]]
    assert "disagrees with CPU: matmul, conv2d" in [numbers[n] for n in wrong_row["footnotes"]]


def test_claims_and_predictions_against_observation_are_flagged(matrix, reports):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    section = section_of((reports / "compatibility.md").read_text(), "Claim against observation")
    assert section.splitlines() == [
        f"- tf 2.19.0 + metal 1.2.0 on Apple M2 Pro · macOS 26.1: {ABI_SAID_FAIL}",
        f"- tf 2.17.0 + metal 1.1.0 on Apple M2 Pro · macOS 26.1: {CLAIM_FAILS}",
        f"- tf 2.17.0 + metal 1.2.0 on Apple M2 Pro · macOS 15.6.1: {CLAIM_WORKS}",
    ]


def test_changes_name_the_macos_update_and_the_packages(matrix, reports):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    section = section_of((reports / "compatibility.md").read_text(), "Changed since the previous run")
    assert (
        "- tf 2.19.0 + metal 1.2.0, Apple M2 Pro · macOS 26.1 (2026-11-02 10:00 UTC → 2026-11-20 08:00 UTC)"
        in section
    )
    assert (
        r"Import ❌ (symbol not found: \_\_ZN3tsl8internal10LogMessageC1EPKcii) → ✅; Devices – → ✅"
        in section
    )
    assert "Agrees – → ✅; Speed-up – → ⚠️ 0.59× (the plugin is slower than the CPU)\n" in section
    # The record from before the agree and speed-up probes: their arrival is not a change.
    assert "): Verify ✅ → ❌ (signal 11 (SIGSEGV))\n" in section
    assert "): Agrees ✅ → ❌ (disagrees with CPU: matmul, conv2d); Speed-up 6.3× → –\n" in section
    assert "  - host: macOS 15.6.1 → 26.1\n" in section
    assert "  - packages: keras 3.6.0 → 3.6.1; + tf-keras 2.17.0" in section
    # TensorFlow alone on Linux is another computer: not a change of the Mac's row.
    assert "alone" not in section


def test_a_speed_up_changes_when_it_moves_by_more_than_twice(matrix, reports):
    plugin, _, _, tf_alone, _ = matrix.rows
    runs = [  # (plugin row's GPU rate, TensorFlow alone's CPU rate): 6.3x, 5.0x, 2.1x; 1.7, 0.6, 0.6 steps/s
        ("2026-11-02", speedup_run(1.7, 10.7), speedup_run(1.7, None)),
        ("2026-11-03", speedup_run(1.7, 8.5), speedup_run(0.6, None)),
        ("2026-11-04", speedup_run(1.7, 3.6), speedup_run(0.6, None)),
    ]
    for day, plugin_speedup, cpu_speedup in runs:
        started = f"{day}T10:00:00.000000+00:00"
        write_record(
            verify_record(plugin, started, MAC_15, {**PROBES_OK, "speedup": plugin_speedup}), reports
        )
        write_record(verify_record(tf_alone, started, MAC_15, {**CPU_ONLY, "speedup": cpu_speedup}), reports)
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    # Only the newest two runs count: 5.0x → 2.1x is a change; a CPU-only rate is no speed-up.
    assert section_of((reports / "compatibility.md").read_text(), "Changed since the previous run") == (
        "- tf 2.19.0 + metal 1.2.0, Apple M2 Pro · macOS 15.6.1 (2026-11-03 10:00 UTC → 2026-11-04 10:00 UTC): "
        "Speed-up 5.0× → 2.1×"
    )
    rows = json.loads((reports / "compatibility.json").read_text())["rows"]
    assert (rows[0]["speedup"], rows[3]["speedup"]) == (2.12, None)
    # 5.0x → 4.0x is within twice: no change.
    later = verify_record(
        plugin, "2026-11-05T10:00:00+00:00", MAC_15, {**PROBES_OK, "speedup": speedup_run(1.7, 6.8)}
    )
    write_record(later, reports)
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    assert "Changed since the previous run" not in (reports / "compatibility.md").read_text()


def test_a_failed_or_malformed_speed_up_is_no_number(matrix, reports):
    failed = ProbeRun(None, None, 300.0, True, "", "Epoch 1/1\n", None)
    write_record(
        verify_record(matrix.rows[0], "2026-11-02T10:00:00+00:00", MAC_15, {**PROBES_OK, "speedup": failed}),
        reports,
    )
    odd = verify_record(matrix.rows[1], "2026-11-02T10:00:00+00:00", MAC_15, PROBES_OK)
    odd["probes"]["speedup"]["result"].update(speedup="<b>fast</b>")
    write_record(odd, reports)
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    rows = table_of((reports / "compatibility.md").read_text()).splitlines()[2:4]
    assert [row.split("|")[-2].strip() for row in rows] == ["❌²", "–³"]  # ¹: ABI not checked yet
    markdown = (reports / "compatibility.md").read_text()
    assert "² **timeout after 300 s**" in markdown and "³ **no speed-up figure in the record**" in markdown
    assert [
        row["speedup"] for row in json.loads((reports / "compatibility.json").read_text())["rows"][:2]
    ] == [
        None,
        None,
    ]


def test_a_changed_prediction_names_the_rebuilt_wheel(matrix, reports):
    row = matrix.rows[0]
    before = abi_record(row, "2026-11-01T09:00:00+00:00")
    after = abi_record(row, "2026-11-10T09:00:00+00:00", first="Symbol not found: _TF_NewStatus")
    after["abi"]["wheels"][1]["sha256"] = "ef" * 32
    for record in (before, after):
        write_record(record, reports)
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    assert section_of((reports / "compatibility.md").read_text(), "Changed since the previous run") == (
        "- tf 2.19.0 + metal 1.2.0, ABI prediction (2026-11-01 09:00 UTC → 2026-11-10 09:00 UTC): "
        r"ABI ✅ → ❌ (ABI predicts: Symbol not found: \_TF\_NewStatus)"
        "\n  - packages: tensorflow-metal 1.2.0 (cdcdcdcdcdcd) → 1.2.0 (efefefefefef)"
    )


@pytest.mark.fault(13)
def test_files_that_are_not_records_are_skipped_with_the_reason(matrix, reports):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    # A second run must not read its own JSON output as a record.
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    section = section_of((reports / "compatibility.md").read_text(), "Records skipped")
    assert section.splitlines() == [
        "- package.json: not a tfcompat record (no schema/kind)",
        r"- sessions/abi-py3.10-tf2.99.0-metal1.2.0-a.json: row not in expected.toml",
        "- sessions/list.json: not a tfcompat record (no schema/kind)",
        "- sessions/schema2.json: unknown schema 2 (this tfcompat reads 1)",
        "- sessions/truncated.json: not valid JSON (Unterminated string starting at: line 1 column 294 (char 293))",
    ]


def malformed(change) -> dict:
    record = verify_record(
        Row(1, "3.10", "2.19.0", "1.2.0", "ambiguous"), "2026-11-02T10:00:00+00:00", MAC_15, PROBES_OK
    )
    change(record)
    return record


# Records that load (the common part is valid) but would break a report that trusted the rest.
MALFORMED_RECORDS = {
    "host missing its OS": (lambda r: r["host"].pop("os"), "'host' lacks os/os_version/machine"),
    "chip not a string": (lambda r: r["host"].update(chip=5), "'host.chip' is not a string"),
    "start time that overflows in UTC": (
        lambda r: r.update(started="0001-01-01T00:00:00+01:00"),
        "'started' is not an ISO 8601 time: '0001-01-01T00:00:00+01:00'",
    ),
    "bad start time": (
        lambda r: r.update(started="yesterday"),
        "'started' is not an ISO 8601 time: 'yesterday'",
    ),
    "probes a list": (lambda r: r.update(probes=[]), "'probes' section missing or malformed"),
    "unknown probe status": (
        lambda r: r["probes"]["fit"].update(status="great"),
        "probe 'fit' malformed",
    ),
    "packages a number": (
        lambda r: r["provision"].update(packages=5),
        "'provision' section missing or malformed",
    ),
    "abi wheels a number": (
        lambda r: r.update(kind="abi", abi={"verdict": "ok", "wheels": 5}),
        "'abi' section missing or malformed",
    ),
}


@pytest.mark.fault(13)
@pytest.mark.parametrize("case", MALFORMED_RECORDS)
def test_a_record_malformed_past_its_common_part_is_skipped(matrix, reports, case):
    change, reason = MALFORMED_RECORDS[case]
    write_record(verify_record(matrix.rows[1], "2026-11-02T10:00:00+00:00", MAC_15, PROBES_OK), reports)
    (reports / "bad.json").write_text(json.dumps(malformed(change)))
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")
    assert (
        section_of((reports / "compatibility.md").read_text(), "Records skipped")
        == f"- bad.json: {md(reason)}"
    )
    assert json.loads((reports / "compatibility.json").read_text())["rows"][1]["verify"] == "ok"


def test_not_run_here_on_linux_is_neither_pass_nor_failure(matrix, reports):
    write_reports(matrix, reports, generated=GENERATED, host_os="Linux")
    markdown = (reports / "compatibility.md").read_text()
    assert (
        "² **not run here: tensorflow-metal has no wheels for Linux** — tf 2.19.0 + metal 1.2.0, " in markdown
    )
    assert "³ **not run yet** — tf 2.17.0 alone\n" in markdown  # TensorFlow alone can run here
    for row in json.loads((reports / "compatibility.json").read_text())["rows"]:
        assert (row["import"], row["devices"], row["verify"], row["agrees"], row["speedup"]) == (None,) * 5


@pytest.mark.fault(15)
def test_untrusted_text_is_escaped_everywhere(matrix, reports):
    hostile = "<script>alert('x')</script> & | `cat /etc/passwd` ```\n# heading"
    host = {**MAC_15, "chip": "Apple <b>M9</b> & | co", "os_version": "15.6.1<img src=x onerror=alert(1)>"}
    run = ProbeRun(
        1, None, 1.0, False, "", f"Traceback (most recent call last):\nRuntimeError: {hostile}\n", None
    )
    write_record(verify_record(matrix.rows[0], "2026-11-02T10:00:00+00:00", host, {"import": run}), reports)
    # An op name is the probe's output too: it reaches the signature and the comparisons.
    wrong = agree_run(errors={"matmul": 0.5})
    wrong.result["comparisons"][0]["name"] = hostile
    wrong = ok_run(wrong.result)
    write_record(
        verify_record(matrix.rows[1], "2026-11-02T10:00:00+00:00", host, {**PROBES_OK, "agree": wrong}),
        reports,
    )
    write_reports(matrix, reports, generated=GENERATED, host_os="Darwin")

    page = (reports / "compatibility.html").read_text()
    assert "<script" not in page.lower() and "<img" not in page and "<b>M9" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; |" in page
    assert "Apple &lt;b&gt;M9&lt;/b&gt; &amp; | co" in page

    markdown = (reports / "compatibility.md").read_text()
    assert r"Apple \<b\>M9\</b\> \& \| co" in markdown  # in the header and the table title
    for line in table_of(markdown).splitlines()[2:]:
        assert line.count("|") - line.count(r"\|") == 11, line  # no cell was split
    # The error keeps its own text in a code block that its ``` cannot close.
    assert (
        "````text\nTraceback (most recent call last):\nRuntimeError: <script>alert('x')</script>" in markdown
    )
    assert "# heading\n````" in markdown
    assert "FAIL <script>alert('x')</script> & | `cat /etc/passwd` ```\n# heading 5.0e-01" in markdown


def test_write_reports_prints_nothing(matrix, reports, capsys):
    write_reports(matrix, history(matrix, reports))
    assert capsys.readouterr() == ("", "")


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),  # CI installs it: never skip there
    reason="needs Debian's chromium (apt-get install chromium)",
)
def test_a_real_browser_renders_every_table_row(matrix, reports, tmp_path):
    write_reports(matrix, history(matrix, reports), generated=GENERATED, host_os="Darwin")
    page = (reports / "compatibility.html").as_uri()
    dom = chromium(tmp_path, "--dump-dom", page).stdout
    tables = re.findall(r'<table class="compat">(.*?)</table>', dom, re.DOTALL)
    assert len(tables) == 3  # Mac on 26.1, Mac on 15.6.1, Linux
    assert [table.count("<tr>") for table in tables] == [1 + len(matrix.rows)] * 3
    for table in tables:  # every row has every column; rowspans cover Python and TensorFlow
        assert table.count("<th>") == 10
        assert "<th>Verify</th><th>Agrees</th><th>Speed-up</th></tr>" in table
        assert table.count("<td") == 10 * len(matrix.rows) - 3 - 2  # 3.10 spans 4 rows, 2.17.0 spans 3
    leading = tables[0]
    assert '<td class="warn">⚠️ 0.59×<sup><a href="#fn-3">3</a></sup></td></tr>' in leading
    assert '<td class="fail">❌<sup><a href="#fn-6">6</a></sup></td><td class="none">–</td></tr>' in leading
    assert '<td class="ok">6.3×</td></tr>' in tables[1]
    assert '<td class="key" rowspan="4">3.10</td><td class="key" rowspan="1">2.19.0</td>' in dom
    assert '<td class="key" rowspan="3">2.17.0</td>' in dom
    assert (
        '<code>not run yet</code> <span class="where">— Apple M2 Pro · macOS 26.1: tf 2.17.0 alone, '
        "tf 2.13.0 + metal 1.0.0</span>" in dom
    )
    assert "<details><summary>the error (12 lines)</summary><pre>Traceback (most recent call last):" in dom
    assert (
        "<details><summary>the comparisons (7 lines)</summary><pre>reference CPU, candidate GPU:0 (float32)"
        in dom
    )

    screenshot = Path(os.environ.get("TFCOMPAT_SCREENSHOT") or tmp_path / "report.png")
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1400,1000", page)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


@pytest.mark.slow
@pytest.mark.network
def test_records_of_the_real_suite_render_to_all_three_formats(tmp_path):
    """``nox -s verify``, ``abi`` and ``report`` for real: TensorFlow alone runs here, the plugin row
    is predicted from its macOS wheels and is "not run here"."""
    matrix_file = write_matrix(
        tmp_path / "expected.toml",
        [{"tf": TF_MAIN, "metal": "none"}, {"tf": TF_MAIN, "metal": "1.1.0", "supports": "yes"}],
    )
    reports = tmp_path / "reports"
    quick = ["--", "--data", "synthetic", "--model", "small", "--samples", "64", "--epochs", "1"]
    done = run_nox("-s", "verify", "abi", *quick, matrix=matrix_file, reports=reports)
    assert done.returncode == 0, done.stderr[-3000:]  # TensorFlow alone verifies here; abi predicts "ok"
    done = run_nox("-s", "report", matrix=matrix_file, reports=reports)
    assert done.returncode == 0, done.stderr

    table = json.loads((reports / "compatibility.json").read_text())
    alone, plugin = table["rows"]
    assert (alone["metal"], alone["import"], alone["abi"]) == ("none", "ok", None)
    assert alone["verify"] == "ok"
    assert (plugin["supports"], plugin["abi"], plugin["import"]) == ("yes", "ok", None)
    markdown = (reports / "compatibility.md").read_text()
    assert f"from 2 records on Linux {platform.machine()}".replace("_", r"\_") in markdown
    assert "not run here: tensorflow-metal has no wheels for Linux" in markdown
    assert "Records skipped" not in markdown
    page = (reports / "compatibility.html").read_text()
    assert page.count("<tr>") == 3 and "<script" not in page


# Helpers


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


def assert_golden(path: Path, name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("TFCOMPAT_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(path.read_text())
    assert path.read_text() == golden.read_text()


def section_of(markdown: str, title: str) -> str:
    body = markdown.split(f"## {title}\n\n", 1)[1]
    return body.split("\n\n## ", 1)[0].strip()


def table_of(markdown: str) -> str:
    start = markdown.index("| Python")
    return markdown[start : markdown.index("\n\n", start)]
