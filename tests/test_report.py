"""The report: records in a folder → the answer, the evidence marks, the grids, the row lists,
the footnotes, as Markdown, HTML and JSON (checked against the published schema every time).

Records are made the way the suite makes them (``helpers.records``). Set
``TFCOMPAT_UPDATE_GOLDEN=1`` to rewrite the golden Markdown after an intended change, then read
the diff.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from helpers.records import (
    CI_MAC,
    CPU_ONLY,
    DYLD_FAILURE,
    DYLD_FIRST,
    HISTORY_MATRIX,
    MAC_15,
    MAC_26,
    OLD_MAC,
    PACKAGES,
    PROBES_OK,
    SHORT,
    XLA_HAZARD,
    abi_record,
    agree_run,
    fit_run,
    history,
    map_record,
    no_verdict_record,
    ok_run,
    rows,
    segfault,
    speedup_run,
    t,
    verify_record,
)
from helpers.report import assert_golden, report, section_of
from tfcompat.core.matrix import load_matrix
from tfcompat.core.record import write_record
from tfcompat.report.demangle import names_in
from tfcompat.report.history import ABI_SAID_FAIL, CLAIM_FAILS, CLAIM_WORKS
from tfcompat.report.install import install_command
from tfcompat.verify.runner import ProbeRun

MATRIX = HISTORY_MATRIX
M2_15, M2_26 = "Apple M2 Pro · macOS 15.6.1", "Apple M2 Pro · macOS 26.1"
ANY_MAC = "Any Apple-silicon Mac (predicted from the wheels; nothing run)"


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "reports"


def test_markdown_matches_golden(matrix, folder):
    out = report(matrix, history(matrix, folder))
    assert_golden(out.markdown, "history.md")


def test_empty_folder_gives_every_row_the_claims_and_a_hint(matrix, folder):
    out = report(matrix, folder)
    assert_golden(out.markdown, "empty.md")
    assert [table["title"] for table in out.data["tables"]] == ["No verify records yet"]
    assert "No records yet" in out.html
    # With no run and no prediction, PyPI's claim is all there is: marked as a claim.
    claim = out.answer(ANY_MAC, "3.10")["pair"]["evidence"]
    assert (claim["mark"], claim["words"]) == ("✅", "PyPI: listed")


def test_the_answer_is_the_newest_pair_with_the_strongest_evidence(matrix, folder):
    row = rows(matrix)
    write_record(verify_record(row["old"], t(2), MAC_15, PROBES_OK), folder)  # Apple's full fit
    short = {**PROBES_OK, "fit": fit_run(**SHORT)}
    write_record(verify_record(row["new"], t(3), MAC_15, short), folder)  # newer pair, shortened fit
    write_record(abi_record(row["py39"], t(1)), folder)
    write_record(abi_record(row["old"], t(1)), folder)  # the engine's command for the pair, today
    out = report(matrix, folder)

    answer = out.answer(M2_15, "3.10")
    evidence = answer["pair"]["evidence"]
    assert (answer["pair"]["tf"], answer["pair"]["metal"], evidence["mark"], evidence["words"]) == (
        "2.17.0",
        "1.1.0",
        "✅",
        "Apple M2 Pro GPU",
    )
    assert answer["install"] == 'python -m pip install "tensorflow==2.17.0" "tensorflow-metal==1.1.0"'
    assert (answer["keras"], answer["needs_macos"]) == ("keras 3.6.0", "12.3")
    newer = answer["newer"]["evidence"]
    assert (answer["newer"]["tf"], newer["mark"], newer["words"]) == ("2.19.0", "✅", "shortened fit")
    assert "synthetic data, small model, 128 samples, 1 epoch" in answer["newer"]["evidence"]["label"]
    # The lock file: exactly what that run installed, usable by pip install -r / uv pip sync.
    lock = folder / answer["lock"]
    assert answer["lock"].startswith("locks/py3.10-tf2.17.0-metal1.1.0-")
    lines = [line for line in lock.read_text().splitlines() if not line.startswith("#")]
    assert lines == sorted(PACKAGES)
    assert f"[{answer['lock']}]({answer['lock']})".replace("_", r"\_") in out.markdown
    assert f'<a href="{answer["lock"]}">' in out.html
    # Python 3.9 was never run on this Mac: the prediction answers, marked as one.
    predicted = out.answer(M2_15, "3.9")
    shown = predicted["pair"]["evidence"]
    assert (predicted["pair"]["tf"], shown["mark"], shown["words"], predicted["lock"]) == (
        "2.13.0",
        "✅",
        "predicted",
        None,
    )
    assert predicted["install"] == 'python -m pip install "tensorflow==2.13.0" "tensorflow-metal==1.0.0"'
    assert out.answer(ANY_MAC, "3.10")["pair"]["evidence"]["level"] == "predicted"


def test_a_python_with_no_evidence_says_so(matrix, folder):
    matrix = load_matrix(matrix.path)
    write_record(map_record(t(1)), folder)
    out = report(matrix, folder)
    nothing = out.answer(ANY_MAC, "3.13")
    assert (nothing["pair"], nothing["install"]) == (None, None)
    # What to do instead: the newest Python that has a working pair, and how to get it.
    assert nothing["reason"] == (
        "no tensorflow-metal release has a wheel for Python 3.13: use Python 3.12, the newest with a working pair"
    )
    assert nothing["steps"] == [
        "uv python install 3.12",
        "uv venv --seed --python 3.12 tf-metal",
        # The environment's own python runs the answer's command (no activation to source).
        shlex.join(["tf-metal/bin/python", *shlex.split(out.answer(ANY_MAC, "3.12")["install"])[1:]]),
    ]
    assert "- **Python 3.13**: no tensorflow-metal release has a wheel for Python 3.13" in out.markdown
    assert not [grid for grid in out.data["grids"] if grid["python"] == "3.13"]  # nothing to draw


def test_a_pair_no_command_installs_today_says_so():
    from tfcompat.core.record import InstallCommand

    install = InstallCommand(command="", works=False, reason="grpcio 1.46 has no macOS arm64 wheel today")
    assert install_command("2.9.0", "0.5.0", install) == (
        None,
        "no command installs this pair from wheels today: grpcio 1.46 has no macOS arm64 wheel today",
    )


@pytest.mark.parametrize(
    ("tf", "metal", "pins", "command"),
    [
        ("2.12.0", "0.8.0", [], 'python -m pip install "tensorflow-macos==2.12.0" "tensorflow-metal==0.8.0"'),
        ("2.13.0", "1.0.0", [], 'python -m pip install "tensorflow==2.13.0" "tensorflow-metal==1.0.0"'),
        (
            "2.9.0",
            "0.5.0",
            ["numpy<2"],
            'python -m pip install "tensorflow-macos==2.9.0" "tensorflow-metal==0.5.0" "numpy<2"',
        ),
        # A pin that is not a plain requirement never reaches the command a user pastes, and a
        # command without the pins it needs is no command at all.
        ("2.9.0", "0.5.0", ['numpy<2"; rm -rf ~; "', "protobuf<4 ; sys_platform=='darwin'"], None),
    ],
)
def test_install_command_names_the_distribution_of_the_release(tf, metal, pins, command):
    from tfcompat.core.record import InstallCommand

    install = InstallCommand(command="", pins=pins, reason="numpy 2" if pins else None)
    assert install_command(tf, metal, install)[0] == command


def test_a_pair_the_engine_never_resolved_has_no_command():
    """A command that was never resolved for macOS arm64 may not install at all: none is printed."""
    assert install_command("2.9.0", "0.5.0", None) == (
        None,
        "no install command resolved for this pair and Python yet (nox -s map resolves it)",
    )


def test_each_kind_of_evidence_has_its_own_mark(matrix, folder):
    row = rows(matrix)
    write_record(verify_record(row["old"], t(2), MAC_15, PROBES_OK), folder)
    write_record(verify_record(row["old"], t(2), CI_MAC, PROBES_OK), folder)
    write_record(verify_record(row["unlisted"], t(2), MAC_15, {**PROBES_OK, "fit": fit_run(**SHORT)}), folder)
    slow = {**PROBES_OK, "speedup": speedup_run(1.7, 1.0)}
    write_record(verify_record(row["new"], t(2), MAC_26, slow), folder)
    crash = {**PROBES_OK, "fit": ProbeRun(-11, "SIGSEGV", 31.0, False, "", segfault(88), None)}
    write_record(verify_record(row["new"], t(2), MAC_15, crash), folder)
    write_record(abi_record(row["py39"], t(1)), folder)
    write_record(verify_record(row["alone"], t(3), OLD_MAC, CPU_ONLY), folder)
    out = report(matrix, folder)

    def best(machine: str, python: str, tf: str, metal: str) -> dict:
        return out.cell(machine, python, tf, metal)[0]

    def shown(machine: str, python: str, tf: str, metal: str) -> tuple[str, str]:
        found = best(machine, python, tf, metal)
        return found["mark"], found["words"]

    # The design card's marks, with how each is known in words beside them, strongest first.
    assert shown(M2_15, "3.10", "2.17.0", "1.1.0") == ("✅", "Apple M2 Pro GPU")
    assert "on Apple M2 Pro, Apple's full procedure" in best(M2_15, "3.10", "2.17.0", "1.1.0")["label"]
    virtual = best("Apple M1 (Virtual) · macOS 15.5 (virtual GPU)", "3.10", "2.17.0", "1.1.0")
    assert (virtual["mark"], virtual["words"], "Apple Paravirtual device" in virtual["label"]) == (
        "✅",
        "hosted CI (virtual GPU)",
        True,
    )
    short = best(M2_15, "3.10", "2.17.0", "1.2.0")
    assert (short["mark"], short["words"]) == ("✅", "shortened fit")
    assert "synthetic data, small model, 128 samples, 1 epoch" in short["label"]
    # Slower than the CPU: works, with a caveat (⚠️), the factor in words.
    assert shown(M2_26, "3.10", "2.19.0", "1.2.0") == ("⚠️", "Apple M2 Pro GPU · slower than the CPU (0.59×)")
    failed = best(M2_15, "3.10", "2.19.0", "1.2.0")
    assert (failed["mark"], failed["words"], failed["label"].endswith("fit: signal 11 (SIGSEGV)")) == (
        "❌",
        "Apple M2 Pro GPU",
        True,
    )
    assert shown(ANY_MAC, "3.9", "2.13.0", "1.0.0") == ("✅", "predicted")
    # A claim is weaker than a prediction, which is weaker than a real run: all kept in order.
    assert [(e["mark"], e["words"]) for e in out.cell(M2_15, "3.10", "2.17.0", "1.1.0")] == [
        ("✅", "Apple M2 Pro GPU"),
        ("✅", "PyPI: listed"),
    ]
    # macOS 11.7 is older than the pair's floors (its wheels install from 12.0): that Mac cannot
    # install it, whatever the prediction says about a Mac that can.
    old = out.cell("Apple M1 · macOS 11.7.10", "3.9", "2.13.0", "1.0.0")
    assert [(e["mark"], e["words"]) for e in old] == [
        ("❌", "needs macOS 12.3"),
        ("✅", "predicted"),
        ("✅", "PyPI: listed"),
    ]
    # The legend: three lines, the marks first.
    assert len(out.data["legend"]) == 3 and out.data["legend"][0].startswith("✅ works · ❌ fails")


def test_the_map_fills_the_grid_with_predictions_and_install_facts(matrix, folder):
    write_record(map_record(t(1)), folder)  # built with the model: the map session is not merged yet
    write_record(verify_record(rows(matrix)["old"], t(2), OLD_MAC, PROBES_OK), folder)
    out = report(matrix, folder)

    grid = out.grid(ANY_MAC, "3.10")
    assert len(grid["rows"]) == 26  # every final TensorFlow release with a macOS arm64 wheel
    assert grid["metal"][0] == "none" and len(grid["metal"]) == 16 + 1  # TensorFlow alone, then 16 plugins
    assert all(len(row["cells"]) == 17 for row in grid["rows"])

    def mark(python: str, tf: str, metal: str) -> tuple[str, str]:
        best = out.cell(ANY_MAC, python, tf, metal)[0]
        return best["mark"], best["words"]

    # tensorflow-metal 1.1.0 has no cp312 wheel
    assert mark("3.12", "2.19.0", "1.1.0") == ("❌", "no wheel for Python 3.12")
    assert mark("3.9", "2.5.0", "0.1.2") == ("❌", "not installable: numpy==1.19.5 has no arm64 wheel")
    assert "numpy==1.19.5" in out.cell(ANY_MAC, "3.9", "2.5.0", "0.1.2")[0]["label"]
    assert mark("3.10", "2.17.0", "1.1.0") == ("✅", "predicted")
    assert mark("3.10", "2.18.0", "1.1.0") == ("❌", "predicted: does not load")
    hazard = out.cell(ANY_MAC, "3.10", "2.11.0", "0.8.0")[0]
    assert (hazard["mark"], hazard["words"], hazard["workaround"]) == (
        "⚠️",
        "predicted: loads, training fails (XLA)",
        XLA_HAZARD["workaround"],
    )
    # The second layer: a path fix would meet the next missing symbol.
    rpath = out.cell(ANY_MAC, "3.10", "2.20.0", "1.2.0")[0]
    note = out.footnote(rpath["footnotes"][0])
    assert note["text"] == "predicted: Library not loaded: @rpath/_pywrap_tensorflow_internal.so"
    assert (
        "it would still fail: Symbol not found: __ZN10tensorflow28_AttrValue_default_instance_E"
        in note["detail"]
    )
    assert [
        "__ZN10tensorflow28_AttrValue_default_instance_E",
        "tensorflow::_AttrValue_default_instance_",
    ] in note["names"]
    # The install command that works today carries the map's pins, and says why.
    answer = out.answer(ANY_MAC, "3.8")
    assert answer["install"].endswith('"numpy<2"') and "numpy 2" in answer["install_note"]
    # The answer says which macOS it needs, and which pair to take on an older one.
    newest = out.answer(ANY_MAC, "3.10")
    assert (newest["pair"]["tf"], newest["pair"]["metal"], newest["needs_macos"]) == (
        "2.19.1",
        "1.2.0",
        "12.3",
    )
    older = [
        (o["below"], o["pair"] and (o["pair"]["tf"], o["pair"]["metal"]), o["needs_macos"])
        for o in newest["older_macos"]
    ]
    # (the map record here is the public facts, simplified: 0.5.0 loads with 2.19.1 in it)
    assert older == [("12.3", ("2.19.1", "0.5.0"), "12.0"), ("12.0", None, None)]
    # A Mac on macOS 11: every pair needs macOS 12, except what it ran itself.
    old = out.grid("Apple M1 · macOS 11.7.10", "3.10")
    marks = {
        (
            out.data["evidence"][cell["evidence"][0]]["mark"],
            out.data["evidence"][cell["evidence"][0]]["words"],
        )
        for row in old["rows"]
        for cell in row["cells"]
        if cell["evidence"]
    }
    # (and what has no wheel for 3.10 at all)
    assert marks == {
        ("❌", "needs macOS 12.0"),
        ("❌", "needs macOS 12.3"),
        ("✅", "Apple M2 Pro GPU"),
        ("❌", "no wheel for Python 3.10"),
    }
    # Each cell links to its details, and every link has its target on the page.
    targets = set(re.findall(r'id="([^"]+)"', out.html))
    assert set(re.findall(r'href="#([^"]+)"', out.html)) <= targets
    assert set(re.findall(r"\(compatibility\.html#([^)]+)\)", out.markdown)) <= targets


def test_the_row_list_names_a_failed_check_and_shows_both_step_times_of_a_much_slower_gpu(matrix, folder):
    """agree's named check that failed on the GPU: its signature is the cell's note, and its line
    (device, mode, finding, sources) is in the detail. A GPU more than 5x slower than the CPU on
    the fit's steps: both step times in the Speed-up cell's note; 1.7x slower keeps the plain one."""
    row = rows(matrix)
    wrong = agree_run().result
    fused = {"check": "fused_dense_relu", "title": "fused Dense+ReLU", "device": "/GPU:0", "failure": None}
    fused |= {"sources": ["tensorflow#62137", "tensorflow#92686"], "reason": None, "error": None}
    wrong["checks"] = [
        fused | {"mode": "eager", "status": "pass", "finding": "max error 3.1e-07 (limit 1e-04)"},
        fused | {"mode": "graph", "status": "fail", "failure": "wrong numbers", "finding": "max error 0.31"},
    ]
    wrong["agrees"] = False
    write_record(verify_record(row["new"], t(2), MAC_15, {**PROBES_OK, "agree": ok_run(wrong)}), folder)
    write_record(
        verify_record(row["old"], t(2), MAC_15, {**PROBES_OK, "speedup": speedup_run(1.7, 0.17)}), folder
    )
    write_record(
        verify_record(row["unlisted"], t(2), MAC_15, {**PROBES_OK, "speedup": speedup_run(1.7, 1.0)}), folder
    )
    out = report(matrix, folder)

    agrees = out.row(0, row["new"].python, row["new"].tf, row["new"].metal)["values"]["agrees"]
    note = out.footnote(agrees["footnotes"][0])
    assert (agrees["text"], note["text"]) == (
        "❌",
        "wrong numbers: fused Dense+ReLU in graph mode on GPU:0, max error 0.31, tensorflow#62137, tensorflow#92686",
    )
    assert "FAIL fused Dense+ReLU on /GPU:0 (graph): max error 0.31 [tensorflow#62137, tensorflow#92686]" in (
        note["detail"].splitlines()
    )
    assert "eager" not in note["detail"]  # the check that passed is not a failure line
    slow = out.row(0, row["old"].python, row["old"].tf, row["old"].metal)["values"]["speedup"]
    assert (slow["text"], out.footnote(slow["footnotes"][0])["text"]) == (
        "⚠️ 0.1×",
        "the plugin is more than 5× slower than the CPU: 5.88 s a step on the GPU against 0.588 s on the CPU",
    )
    slower = out.row(0, row["unlisted"].python, row["unlisted"].tf, row["unlisted"].metal)["values"][
        "speedup"
    ]
    assert out.footnote(slower["footnotes"][0])["text"] == "the plugin is slower than the CPU"


def test_a_hazard_without_a_prediction_is_shown_as_none_never_as_ok(matrix, folder):
    """The training hazard could not be decided (a Keras wheel unreadable): the cell says it is
    predicted to load and has no word on training, with the reason in its footnote."""
    why = "keras==2.11.0: no macOS arm64 wheel for Python 3.10"
    row = rows(matrix)["old"]
    write_record(abi_record(row, t(1), hazard={"kind": "xla", "predicted": None, "error": why}), folder)
    out = report(matrix, folder)
    shown = out.cell(ANY_MAC, row.python, row.tf, row.metal)[0]
    assert shown["label"] == "predicted to load; training: no prediction"
    assert out.footnote(shown["footnotes"][0])["detail"] == why


def test_a_run_without_a_verdict_never_hides_the_verdict_before_it(matrix, folder):
    row = rows(matrix)
    write_record(verify_record(row["old"], t(2), MAC_15, PROBES_OK), folder)
    write_record(
        no_verdict_record(row["old"], t(3), MAC_15, error="URL fetch failure: Name or service not known"),
        folder,
    )
    write_record(abi_record(row["old"], t(1)), folder)
    write_record(abi_record(row["old"], t(4), error="index unreachable: pypi.org"), folder)
    out = report(matrix, folder)
    shown = out.row(0, "3.10", "2.17.0", "1.1.0")
    assert shown["values"]["verify"]["text"] == "✅" and shown["values"]["abi"]["text"] == "✅"
    assert (shown["evidence"]["mark"], shown["evidence"]["words"]) == ("✅", "Apple M2 Pro GPU")
    notes = [
        out.footnote(n)["text"]
        for n in shown["values"]["import"]["footnotes"] + shown["values"]["abi"]["footnotes"]
    ]
    assert notes == [
        "no verdict in the newest run (2026-11-03 10:00 UTC): URL fetch failure: Name or service not known",
        "no verdict in the newest run (2026-11-04 10:00 UTC): index unreachable: pypi.org",
    ]
    assert out.data["changes"] == [] and "Changed since" not in out.markdown


def test_footnotes_keep_each_rows_own_error_and_show_cxx_names(matrix, folder):
    row = rows(matrix)
    for name, line in (("new", 88), ("old", 91), ("unlisted", 88)):
        crash = {**PROBES_OK, "fit": ProbeRun(-11, "SIGSEGV", 31.0, False, "", segfault(line), None)}
        write_record(verify_record(row[name], t(2), MAC_15, crash), folder)
    write_record(abi_record(row["new"], t(1), first=DYLD_FIRST), folder)
    out = report(matrix, folder)
    crashes = [note for note in out.data["footnotes"] if note["text"] == "signal 11 (SIGSEGV)"]
    assert [("line 88" in note["detail"], note["where"]) for note in crashes] == [
        (True, {M2_15: ["tf 2.19.0 + metal 1.2.0 on Python 3.10", "tf 2.17.0 + metal 1.2.0 on Python 3.10"]}),
        (False, {M2_15: ["tf 2.17.0 + metal 1.1.0 on Python 3.10"]}),
    ]
    predicted = next(note for note in out.data["footnotes"] if note["text"].startswith("predicted: Symbol"))
    assert not predicted["detail"].startswith("Symbol not found")  # the first line once
    assert predicted["names"][0] == [
        "__ZN3tsl8internal10LogMessageC1EPKcii",
        "tsl::internal::LogMessage::LogMessage(char const*, int, int)",
    ]
    assert "<code>tsl::internal::LogMessage::LogMessage(char const*, int, int)</code>" in out.html


@pytest.mark.skipif(
    shutil.which("c++filt") is None, reason="needs binutils' c++filt, the reference demangler"
)
def test_names_are_demangled_as_cxxfilt_does():
    text = f"{DYLD_FAILURE}\n__ZN10tensorflow28_AttrValue_default_instance_E _ZNK3tsl6Status8ToStringEv _TF_NewStatus"
    found = names_in(text)
    assert [name for name, _ in found] == [
        "__ZN3tsl8internal10LogMessageC1EPKcii",
        "__ZN10tensorflow28_AttrValue_default_instance_E",
        "_ZNK3tsl6Status8ToStringEv",
    ]
    for mangled, readable in found:
        elf = mangled[1:] if mangled.startswith("__Z") else mangled  # Mach-O adds one underscore
        reference = subprocess.run(
            ["c++filt", elf], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert readable == reference


def test_controls_sit_beside_their_pairs(matrix, folder):
    write_record(verify_record(rows(matrix)["alone"], t(2), MAC_15, CPU_ONLY), folder)
    out = report(matrix, folder)
    order = [(r["python"], r["tf"], r["metal"]) for r in out.data["tables"][0]["rows"]]
    assert order == [
        ("3.10", "2.19.0", "1.2.0"),
        ("3.10", "2.17.0", "none"),
        ("3.10", "2.17.0", "1.2.0"),
        ("3.10", "2.17.0", "1.1.0"),
        ("3.9", "2.13.0", "1.0.0"),
    ]
    grid = out.grid(M2_15, "3.10")
    assert grid["metal"] == ["none", "1.2.0", "1.1.0", "1.0.0"]
    alone = out.cell(M2_15, "3.10", "2.17.0", "none")[0]
    assert (alone["mark"], alone["words"], alone["label"]) == (
        "✅",
        "physical Mac (CPU)",
        "works: verified on a physical machine (CPU), Apple's full procedure",
    )


def test_claims_and_predictions_against_observation_are_flagged(matrix, folder):
    out = report(matrix, history(matrix, folder))
    assert section_of(out.markdown, "Claim against observation").splitlines() == [
        f"- tf 2.19.0 + metal 1.2.0 on Python 3.10 on {M2_26}: {ABI_SAID_FAIL}",
        f"- tf 2.17.0 + metal 1.1.0 on Python 3.10 on {M2_26}: {CLAIM_FAILS}",
        f"- tf 2.17.0 + metal 1.2.0 on Python 3.10 on {M2_15}: {CLAIM_WORKS}",
    ]
    assert out.row(0, "3.10", "2.17.0", "1.1.0")["values"]["supports"]["flagged"] is True


def test_changes_name_the_macos_update_and_the_packages(matrix, folder):
    section = section_of(report(matrix, history(matrix, folder)).markdown, "Changed since the previous run")
    assert (
        f"- tf 2.19.0 + metal 1.2.0 on Python 3.10, {M2_26} (2026-11-02 10:00 UTC → 2026-11-20 10:00 UTC)"
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
    assert "alone" not in section  # TensorFlow alone on Linux is another computer


def test_a_speed_up_changes_when_it_moves_by_more_than_twice(matrix, folder):
    row = rows(matrix)
    for day, gpu_rate in ((2, 10.7), (3, 8.5), (4, 3.6)):  # 6.3x, 5.0x, 2.1x
        write_record(
            verify_record(row["new"], t(day), MAC_15, {**PROBES_OK, "speedup": speedup_run(1.7, gpu_rate)}),
            folder,
        )
    out = report(matrix, folder)
    assert section_of(out.markdown, "Changed since the previous run") == (
        f"- tf 2.19.0 + metal 1.2.0 on Python 3.10, {M2_15} (2026-11-03 10:00 UTC → 2026-11-04 10:00 UTC): "
        "Speed-up 5.0× → 2.1×"
    )
    write_record(
        verify_record(row["new"], t(5), MAC_15, {**PROBES_OK, "speedup": speedup_run(1.7, 6.8)}), folder
    )
    assert (
        "Changed since the previous run" not in report(matrix, folder).markdown
    )  # 2.1x → 4.0x: within twice


def test_a_changed_prediction_names_the_rebuilt_wheel(matrix, folder):
    before = abi_record(rows(matrix)["new"], t(1))
    after = abi_record(rows(matrix)["new"], t(10), first="Symbol not found: _TF_NewStatus")
    after["abi"]["wheels"][1]["sha256"] = "ef" * 32
    for record in (before, after):
        write_record(record, folder)
    assert section_of(report(matrix, folder).markdown, "Changed since the previous run") == (
        "- tf 2.19.0 + metal 1.2.0 on Python 3.10, ABI prediction (2026-11-01 10:00 UTC → 2026-11-10 10:00 UTC): "
        r"ABI ✅ → ❌ (predicted: Symbol not found: \_TF\_NewStatus)"
        "\n  - packages: tensorflow-metal 1.2.0 (cdcdcdcdcdcd) → 1.2.0 (efefefefefef)"
    )


@pytest.mark.fault(13)
def test_files_that_are_not_records_are_skipped_with_the_reason(matrix, folder):
    report(matrix, history(matrix, folder))
    out = report(matrix, folder)  # a second run must not read its own JSON output as a record
    assert section_of(out.markdown, "Records skipped").splitlines() == [
        "- package.json: not a tfcompat record (no schema/kind)",
        r"- sessions/abi-py3.10-tf2.99.0-metal1.2.0-20261101T100400-"
        + _id(folder)
        + ".json: row not in expected.toml",
        "- sessions/list.json: not a tfcompat record (no schema/kind)",
        "- sessions/schema1-skip.json: unknown schema 1 (this tfcompat reads 2)",
        "- sessions/truncated.json: not valid JSON (Input data was truncated)",
    ]


def _id(folder: Path) -> str:
    name = next((folder / "sessions").glob("abi-py3.10-tf2.99.0-*.json")).stem
    return name.rsplit("-", 1)[1]


MALFORMED = {
    "host missing its OS": (
        lambda r: r["host"].pop("os"),
        "Object missing required field `os` - at `$.host`",
    ),
    "start time without a time zone": (
        lambda r: r.update(started="2026-11-24T14:21:35"),
        "'started' has no time zone",
    ),
    "unknown probe status": (
        lambda r: r["probes"]["fit"].update(status="great"),
        "Invalid enum value 'great' - at `$.probes[...].status`",
    ),
    "packages a number": (
        lambda r: r["provision"].update(packages=5),
        "Expected `array`, got `int` - at `$.provision.packages`",
    ),
}


@pytest.mark.fault(13)
@pytest.mark.parametrize("case", MALFORMED)
def test_a_record_that_does_not_fit_the_model_is_skipped_and_loses_nothing(matrix, folder, case):
    change, reason = MALFORMED[case]
    write_record(verify_record(rows(matrix)["old"], t(2), MAC_15, PROBES_OK), folder)
    bad = verify_record(rows(matrix)["new"], t(3), MAC_15, PROBES_OK)
    change(bad)
    (folder / "bad-skip.json").write_text(json.dumps(bad))
    out = report(matrix, folder)
    assert out.data["skipped"] == [{"name": "bad-skip.json", "reason": reason}]
    assert out.row(0, "3.10", "2.17.0", "1.1.0")["values"]["verify"]["text"] == "✅"


def test_not_run_here_on_linux_is_neither_pass_nor_failure(matrix, folder):
    out = report(matrix, folder, host_os="Linux")
    plugin = out.row(0, "3.10", "2.19.0", "1.2.0")["values"]["import"]
    assert (
        out.footnote(plugin["footnotes"][0])["text"]
        == "not run here: tensorflow-metal has no wheels for Linux"
    )
    alone = out.row(0, "3.10", "2.17.0", "none")["values"]["import"]
    assert out.footnote(alone["footnotes"][0])["text"] == "not run yet"  # TensorFlow alone can run here
    for row in out.data["tables"][0]["rows"]:
        assert {row["values"][c]["state"] for c in ("import", "devices", "verify", "agrees", "speedup")} == {
            "none"
        }


@pytest.mark.fault(15)
def test_untrusted_text_is_escaped_everywhere(matrix, folder):
    hostile = "<script>alert('x')</script> & | `cat /etc/passwd` ```\n# heading"
    host = {**MAC_15, "chip": "Apple <b>M9</b> & | co", "os_version": "15.6.1<img src=x onerror=alert(1)>"}
    run = ProbeRun(
        1, None, 1.0, False, "", f"Traceback (most recent call last):\nRuntimeError: {hostile}\n", None
    )
    write_record(verify_record(rows(matrix)["new"], t(2), host, {"import": run}), folder)
    wrong = agree_run(errors={"matmul": 0.5})
    wrong.result["comparisons"][0]["name"] = hostile
    write_record(
        verify_record(rows(matrix)["old"], t(2), host, {**PROBES_OK, "agree": ok_run(wrong.result)}), folder
    )
    out = report(matrix, folder)

    assert "<script" not in out.html.lower() and "<img" not in out.html and "<b>M9" not in out.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; |" in out.html
    assert "Apple &lt;b&gt;M9&lt;/b&gt; &amp; | co" in out.html
    assert r"Apple \<b\>M9\</b\> \& \| co" in out.markdown
    for line in [line for line in out.markdown.splitlines() if line.startswith("| 3.")]:
        assert line.count("|") - line.count(r"\|") == 12, line  # 11 columns: no cell was split
    assert (
        "````text\nTraceback (most recent call last):\nRuntimeError: <script>alert('x')</script>"
        in out.markdown
    )
    assert "FAIL <script>alert('x')</script> & | `cat /etc/passwd` ```\n# heading 5.0e-01" in out.markdown


def test_write_reports_prints_nothing(matrix, folder, capsys):
    report(matrix, history(matrix, folder))
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("packages", "expected"),
    [
        (["numpy==1.26.4 --hash=sha256:" + "ab" * 32], ["numpy==1.26.4 --hash=sha256:" + "ab" * 32]),
        (
            ["numpy==1.26.4", "keras==3.6.0"],
            ["# no hashes: the record lists versions only", "keras==3.6.0", "numpy==1.26.4"],
        ),
        # A line a requirements file would read as an option is no pin: no lock at all.
        (["numpy==1.26.4", "--index-url https://example.invalid/simple"], None),
        (["-e git+https://example.invalid/x.git#egg=x"], None),
    ],
)
def test_a_lock_holds_plain_pins_only(matrix, packages, expected):
    import msgspec

    from tfcompat.core.record import Record
    from tfcompat.report.install import lock_text

    record = msgspec.convert(
        verify_record(rows(matrix)["old"], t(2), MAC_15, PROBES_OK, packages=packages), Record
    )
    text = lock_text(record, name="sessions/x.json", machine=M2_15)
    if expected is None:
        assert text is None
    else:
        assert [line for line in text.splitlines() if not line.startswith("# ") or "hashes" in line][
            -len(expected) :
        ] == expected
        assert "# no hashes" in text or all(
            "--hash=" in line for line in text.splitlines() if not line.startswith("#")
        )


def test_a_map_that_could_not_answer_everything_still_answers_what_it_did(matrix, folder):
    """The index or the disk failed part way: the record has no verdict as a whole, but every
    cell it answered is evidence, and where it answered nothing the answer says why, per Python."""
    partial = map_record(t(1))
    partial["verdict"] = "error"
    partial["map"]["error"] = "1 predictions, preflights, hazards or install commands without an answer"
    for cell in partial["map"]["cells"]:
        for python in ("3.8", "3.12"):  # the preflights of 3.8 and 3.12 never came back
            cell["pythons"].pop(python, None)
        if Version(cell["metal"]) < Version("1.1.0"):  # nor the predictions of the plugins for 3.8
            cell.update(abi=None, error="tensorflow_metal wheel: download failed")
    write_record(partial, folder)
    out = report(load_matrix(matrix.path), folder)
    assert out.answer(ANY_MAC, "3.10")["pair"]["tf"] == "2.19.1"
    # Python 3.12: the pair is predicted to load (its answer holds on every Python), but no command
    # was resolved for it: none is printed, and the note says so.
    twelve = out.answer(ANY_MAC, "3.12")
    assert (twelve["pair"]["tf"], twelve["install"]) == ("2.19.1", None)
    assert twelve["install_note"].startswith("no install command resolved for this pair and Python yet")
    # Nothing answered for a Python it covers: the answer says the map is not whole, and why.
    assert out.answer(ANY_MAC, "3.8")["reason"] == (
        "not answered for Python 3.8: the newest map is not whole (1 predictions, preflights, hazards or "
        "install commands without an answer): use Python 3.11, the newest with a working pair"
    )
