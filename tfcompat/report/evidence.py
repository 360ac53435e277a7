"""The evidence ladder: what kind of evidence a record is, and the one mark each kind has.

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

#: Level → (letter in a mark, what it means). The legend and every cell use these words.
LEVELS: dict[str, tuple[str, str]] = {
    "verified-gpu": (
        "G",
        "verified on a physical Apple GPU with Apple's full procedure (CIFAR-100, ResNet50, 5 epochs, "
        "batch 64); a control row (TensorFlow alone) on a physical machine's CPU",
    ),
    "verified-virtual": (
        "V",
        'verified on a virtual GPU (a hosted CI Mac: "Apple Paravirtual device") or on a GPU the record '
        "does not name",
    ),
    "verified-short": ("S", "verified with a shortened or synthetic fit (the cell says which)"),
    "predicted": ("P", "predicted from the macOS wheels (abi, install preflight); nothing was run"),
    "claimed": ("C", "claimed by tensorflow-metal's own table on PyPI"),
    "not-installable": ("NI", "not installable from binary wheels (the requirement that has none)"),
    "no-wheel": ("NW", "no wheel for this Python"),
    "needs-macos": ("≥", "needs a newer macOS than this machine has"),
}
RANK = {level: rank for rank, level in enumerate(LEVELS)}
VERIFIED = ("verified-gpu", "verified-virtual", "verified-short")
GATES = ("not-installable", "no-wheel", "needs-macos")
GLYPHS = {"works": "✓", "fails": "✗", "hazard": "!", "unclear": "?", "none": ""}
OUTCOME_WORDS = {
    "works": "works",
    "fails": "fails",
    "hazard": "loads, training predicted to fail without the workaround",
    "unclear": "PyPI's table is ambiguous",
    "none": "",
}
#: Appended to a mark: the GPU trains slower than the CPU (a warning, not a failure).
SLOWER_MARK = "↓"
SLOWER = "the plugin is slower than the CPU"
#: Apple's verification procedure: what a full fit is.
FULL_FIT = {"data": "cifar100", "model": "resnet50", "batch_size": 64}
FULL_EPOCHS = 5
CIFAR100_SAMPLES = 50_000
VIRTUAL_GPU = "Apple Paravirtual device"


def mark(level: str, outcome: str, *, macos: str | None = None) -> str:
    """The short text of a mark: ``✓G``, ``✗P``, ``NW``, ``≥13.0``."""
    if level == "needs-macos":
        return f"≥{macos or '?'}"
    return GLYPHS[outcome] + LEVELS[level][0]


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


def verified_level(record: Record, *, plugin: bool) -> tuple[str, str]:
    """(level, qualifier in words) of a verify record with a verdict of ok or fail."""
    kind, gpu = machine_kind(record.host)
    # TensorFlow alone runs on the CPU: its machine is physical unless it is a hosted CI Mac.
    physical = kind == "physical" or (not plugin and kind == "unnamed")
    if not plugin:
        where = "on a virtual machine (hosted CI)" if kind == "virtual" else "on a physical machine (CPU)"
    else:
        where = {
            "physical": f"on {gpu}",
            "virtual": f"on a virtual GPU ({gpu or 'hosted CI'})",
            "unnamed": "on a GPU the record does not name",
        }[kind]
    if record.verdict == "fail":
        return ("verified-gpu" if physical else "verified-virtual"), where
    shortcuts = fit_shortcuts(record)
    if shortcuts:
        return "verified-short", f"{where}, shortened fit: {', '.join(shortcuts)}"
    return ("verified-gpu" if physical else "verified-virtual"), f"{where}, Apple's full procedure"


LEGEND_NOTE = (
    "✓ works · ✗ fails · ! loads, training predicted to fail · ? unclear. A cell shows its strongest "
    "evidence: a real run, else what keeps the pair from being installed, else a prediction, else PyPI's "
    "claim; the cell's details list the rest. A run with no verdict never hides an earlier verdict. "
    "A failure "
    "is as strong as the machine it was seen on. TensorFlow alone (the control) sits beside its pairs."
)


def legend() -> list[tuple[str | None, list[str], str]]:
    """(level, marks, meaning) for every mark, strongest first."""
    entries: list[tuple[str | None, list[str], str]] = []
    for level, (letter, meaning) in LEVELS.items():
        if level in GATES:
            marks = [mark(level, "none", macos="13.0") if level == "needs-macos" else letter]
        else:
            marks = [GLYPHS["works"] + letter, GLYPHS["fails"] + letter]
        entries.append((level, marks, meaning))
        if level == "predicted":
            entries.append(
                (level, [mark(level, "hazard")], OUTCOME_WORDS["hazard"] + " (the cell names the workaround)")
            )
        if level == "claimed":
            entries.append((level, [mark(level, "unclear")], OUTCOME_WORDS["unclear"]))
    entries.append((None, [SLOWER_MARK], f"{SLOWER}: a warning beside the mark, not a failure"))
    return entries
