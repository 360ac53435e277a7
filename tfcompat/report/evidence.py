"""The evidence ladder: what kind of evidence a record is, its mark (✅ ❌ ⚠️) and its words.

Strongest first (design decision 6). A pass is as strong as the machine and the procedure that
showed it; a failure is as strong as the machine it was seen on (a shortened fit that fails has
still failed). A run without a verdict is no evidence at all. A pair that cannot be installed
(no wheel for the Python, not installable from wheels, a newer macOS needed) shows that above any
prediction or claim, which are about a pair once installed; only a real run outranks it.
"""

from __future__ import annotations

from typing import Literal

from tfcompat.core.record import Host, Record

Level = Literal[
    "verified-gpu",
    "verified-virtual",
    "verified-short",
    "predicted",
    "claimed",
    "not-installable",
    "no-wheel",
    "needs-macos",
]
#: works: runs (or is predicted / claimed to); fails; hazard: loads, but training is predicted to
#: fail without a workaround; unclear: PyPI's table is ambiguous; none: a fact, not an outcome.
Outcome = Literal["works", "fails", "hazard", "unclear", "none"]

#: The levels, strongest first, and what each means (the details and the legend use these words).
LEVELS: dict[str, str] = {
    "verified-gpu": "verified on a physical Apple GPU with Apple's full procedure (CIFAR-100, ResNet50, "
    "5 epochs, batch 64); a control row (TensorFlow alone) on a physical machine's CPU",
    "verified-virtual": 'verified on a virtual GPU (a hosted CI Mac: "Apple Paravirtual device") or on a GPU '
    "the record does not name",
    "verified-short": "verified with a shortened or synthetic fit (the cell says which)",
    "predicted": "predicted from the macOS wheels (abi, install preflight); nothing was run",
    "claimed": "claimed by tensorflow-metal's own table on PyPI",
    "not-installable": "not installable from binary wheels (the requirement that has none)",
    "no-wheel": "no wheel for this Python",
    "needs-macos": "needs a newer macOS than this machine has",
}
RANK = {level: rank for rank, level in enumerate(LEVELS)}
VERIFIED = ("verified-gpu", "verified-virtual", "verified-short")
GATES = ("not-installable", "no-wheel", "needs-macos")
#: The design card's marks, the ones of the table people share: ✅ works, ❌ fails (or cannot be
#: installed here), ⚠️ unclear or works with a caveat. How a mark is known is in words beside it.
MARKS = {"works": "✅", "fails": "❌", "hazard": "⚠️", "unclear": "⚠️", "none": "❌"}
OUTCOME_WORDS = {
    "works": "works",
    "fails": "fails",
    "hazard": "loads, training predicted to fail without the workaround",
    "unclear": "PyPI's table is ambiguous",
    "none": "cannot be installed here",
}
#: Beside a mark of a pair that works: the GPU trains slower than the CPU, a caveat (⚠️).
SLOWER = "slower than the CPU"
#: Apple's verification procedure: what a full fit is.
FULL_FIT = {"data": "cifar100", "model": "resnet50", "batch_size": 64}
FULL_EPOCHS = 5
CIFAR100_SAMPLES = 50_000
VIRTUAL_GPU = "Apple Paravirtual device"
#: The legend, in three lines: the marks, the words beside them strongest first, how a cell reads.
LEGEND = [
    "✅ works · ❌ fails, or cannot be installed here · ⚠️ unclear, or works with a caveat "
    "(training predicted to fail, slower than the CPU, PyPI's table ambiguous).",
    "Beside each mark, how it is known, strongest first: on a physical Apple GPU (named) · hosted CI "
    "(virtual GPU) · shortened fit · predicted (from the macOS wheels) · PyPI (its table); or what keeps "
    "the pair from installing (not installable, no wheel, needs macOS N).",
    "A cell shows its strongest evidence and its details list the rest; a run with no verdict never hides "
    "an earlier verdict; TensorFlow alone (the control) sits beside its pairs.",
]


def mark(outcome: str, *, slower: bool = False) -> str:
    """The design card's mark of an outcome; a pair that works but trains slower than the CPU ⚠️."""
    return MARKS["hazard"] if outcome == "works" and slower else MARKS[outcome]


def rank(level: str, outcome: str) -> tuple[int, int]:
    """Sort key, strongest first: verified, then the install gates, then predictions and claims."""
    if level in VERIFIED:
        group = 0
    elif level in GATES:
        group = 1
    else:
        group = 2
    return (group, RANK[level])


def machine_kind(host: Host) -> tuple[str, str | None]:
    """("physical" | "virtual" | "unnamed", GPU name) of the host a verify record was made on."""
    hosted = host.ci is not None and host.ci.runner_environment != "self-hosted"
    names = [gpu.name for gpu in host.gpus]
    gpu = ", ".join(names) or None
    if hosted or any(g.virtual or VIRTUAL_GPU.lower() in g.name.lower() for g in host.gpus):
        return "virtual", gpu
    return ("physical" if names else "unnamed"), gpu


def fit_shortcuts(record: Record) -> list[str]:
    """How the fit of a verify record differs from Apple's full procedure; empty for a full fit."""
    fit = (record.probes or {}).get("fit")
    result = fit.result if fit is not None and isinstance(fit.result, dict) else None
    if result is None:
        return ["no fit result in the record"]
    shortcuts = []
    if result.get("data") != FULL_FIT["data"]:
        shortcuts.append(f"{result.get('data') or 'unknown'} data")
    if result.get("model") != FULL_FIT["model"]:
        shortcuts.append(f"{result.get('model') or 'unknown'} model")
    samples = result.get("samples")
    if isinstance(samples, int) and samples < CIFAR100_SAMPLES:
        shortcuts.append(f"{samples} samples")
    epochs = result.get("epochs_requested")
    if not isinstance(epochs, int) or epochs < FULL_EPOCHS:
        shortcuts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    if result.get("batch_size") != FULL_FIT["batch_size"]:
        shortcuts.append(f"batch {result.get('batch_size')}")
    return shortcuts


def verified_level(record: Record, *, plugin: bool) -> tuple[str, str, str]:
    """(level, qualifier in words, the few words beside the mark) of a verify record with a
    verdict of ok or fail: ``("verified-gpu", "on Apple M2 Pro, Apple's full procedure",
    "Apple M2 Pro GPU")``."""
    kind, gpu = machine_kind(record.host)
    # TensorFlow alone runs on the CPU: its machine is physical unless it is a hosted CI Mac.
    physical = kind == "physical" or (not plugin and kind == "unnamed")
    if not plugin:
        where = "on a virtual machine (hosted CI)" if kind == "virtual" else "on a physical machine (CPU)"
        words = "hosted CI (CPU)" if kind == "virtual" else "physical Mac (CPU)"
    else:
        where = {
            "physical": f"on {gpu}",
            "virtual": f"on a virtual GPU ({gpu or 'hosted CI'})",
            "unnamed": "on a GPU the record does not name",
        }[kind]
        words = {"physical": f"{gpu} GPU", "virtual": "hosted CI (virtual GPU)", "unnamed": "unnamed GPU"}[
            kind
        ]
    level = "verified-gpu" if physical else "verified-virtual"
    if record.verdict == "fail":
        return level, where, words
    shortcuts = fit_shortcuts(record)
    if shortcuts:
        return "verified-short", f"{where}, shortened fit: {', '.join(shortcuts)}", "shortened fit"
    return level, f"{where}, Apple's full procedure", words
