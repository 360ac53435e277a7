"""The judgements: each reads the environment (and the engine's cells) and gives one line.

A finding is a ``problem`` (the environment is broken: the doctor exits 1), ``unknown`` (it
cannot tell), a ``warning`` (it works, with a caveat), ``ok`` or ``info``; and it says how it is
known (``model.Kind``); its mark is the report's, by severity (``model.MARKS``).
"""

from __future__ import annotations

from tfcompat.abi import frameworks
from tfcompat.doctor.answer import Answers
from tfcompat.doctor.environment import TENSORFLOW, Environment, requirements_of
from tfcompat.doctor.model import Finding
from tfcompat.report.evidence import LEVELS
from tfcompat.resolve.installcmd import breaking

PLUGIN = "tensorflow-metal"
#: How a prediction is known, in the report's words: "from the macOS wheels (abi, install preflight)".
PREDICTED = LEVELS["predicted"].split(";")[0].removeprefix("predicted ")
#: Where a trap's consequence is reported in public (the reason itself is ``installcmd``'s).
SOURCES = {
    "numpy": "tensorflow issue 102743 (TF 2.14 resolves numpy 2 and crashes at import)",
}


def _predicted(check: str, severity: str, text: str, source: str | None = None) -> Finding:
    return Finding(check=check, severity=severity, kind="predicted", text=text, source=source or PREDICTED)


def _read(check: str, severity: str, text: str, source: str | None = None) -> Finding:
    return Finding(check=check, severity=severity, kind="read", text=text, source=source)


def installed_set(env: Environment) -> list[Finding]:
    """What is (not) installed: TensorFlow and the plugin, leftovers, broken installs."""
    found = []
    tf, metal = env.tensorflow, env.distributions.get(PLUGIN)
    where = ", ".join(env.paths) or "no folder on its import path"
    if tf is None and metal is None:
        found.append(
            _read(
                "tensorflow", "problem", f"no TensorFlow and no {PLUGIN} in this environment (read {where})"
            )
        )
    elif tf is None:
        found.append(
            _read(
                "tensorflow",
                "problem",
                f"{PLUGIN} {metal.version} is installed with no TensorFlow at all: "
                "the plugin has nothing to load into",
            )
        )
    elif metal is None:
        found.append(
            _read(
                "plugin",
                "problem",
                f"{tf.name} {tf.version} without {PLUGIN}: TensorFlow runs on the CPU only",
            )
        )
    if tf is not None:
        for name in TENSORFLOW:
            other = env.distributions.get(name)
            if other is not None and other.version != tf.version:
                found.append(
                    _read(
                        "leftover",
                        "problem",
                        f"{name} {other.version} is left behind next to {tf.name} {tf.version}: "
                        "both write the tensorflow package, and whichever was installed last wins",
                    )
                )
    for name, versions in sorted(env.duplicates.items()):
        found.append(
            _read(
                "duplicate",
                "problem",
                f"{name} is installed {len(versions)} times ({', '.join(versions)}): a broken install",
            )
        )
    return found


def requirements(env: Environment) -> list[Finding]:
    """pip's own check, for what TensorFlow and the plugin declare: an installed distribution
    that matters outside the range its dependent requires (numpy 2.2 under TensorFlow 2.18)."""
    found = []
    for dependent in (env.tensorflow, env.distributions.get(PLUGIN)):
        if dependent is None:
            continue
        for requirement in requirements_of(dependent, env.minor):
            have = env.distributions.get(requirement.name.lower().replace("_", "-"))
            if have is None or requirement.specifier.contains(have.version, prereleases=True):
                continue
            found.append(
                _read(
                    requirement.name.lower(),
                    "problem",
                    f"{have.name} {have.version} does not satisfy {dependent.name} {dependent.version}'s "
                    f"requirement {requirement}",
                    source=dependent.metadata,
                )
            )
    return found


def new_majors(env: Environment, answers: Answers, already: set[str]) -> list[Finding]:
    """A distribution in a newer major than the installed TensorFlow's release set had, where
    that major is known to break it (numpy 2 under TensorFlow 2.9; ``installcmd.breaking``, the
    rule the map's install commands pin by). The release set is the engine's preflight of the
    installed pair for this Python (or, with no plugin, of TensorFlow's earliest pair)."""
    tf = env.tensorflow
    release = _release_set(env, answers)
    if tf is None or release is None:
        return []
    installed = {name: dist.version for name, dist in env.distributions.items()}
    found = []
    for pin, reason in breaking(release, installed):
        name = pin.split("<")[0]
        if name in already:
            continue  # TensorFlow's own requirement already says it, from its metadata
        found.append(
            _predicted(
                name,
                "problem",
                f"{name} {installed[name]} under {tf.name} {tf.version}, whose release had {name} "
                f"{release[name]}: {reason.split('(')[-1].rstrip(')')}",
                source=f"{PREDICTED}; {SOURCES.get(name, '')}".rstrip("; "),
            )
        )
    return found


def _release_set(env: Environment, answers: Answers) -> dict[str, str] | None:
    tf = env.tensorflow
    metal = env.version_of(PLUGIN)
    cells = [answers.cell(tf.version, metal)] if tf and metal else []
    if tf and not any(cells):
        # No plugin: the pair released closest to this TensorFlow stands for its release set.
        cells = sorted(
            (cell for (t, _), cell in answers.cells.items() if t == tf.version),
            key=lambda cell: (cell["pythons"].get(env.minor) or {}).get("exclude_newer") or "~",
        )[:1]
    for cell in cells:
        preflight = (cell or {}).get("pythons", {}).get(env.minor) or {}
        if preflight.get("status") == "installs":
            return {
                name.lower().replace("_", "-"): version
                for name, _, version in (package.partition("==") for package in preflight["packages"])
            }
    return None


def python_served(env: Environment, answers: Answers) -> list[Finding]:
    """A Python that no tensorflow-metal release has a wheel for (3.13): no pair can work on it."""
    if answers.other_python is None:
        return []
    return [
        Finding(
            check="python",
            severity="problem",
            kind="predicted",
            text=f"no {PLUGIN} release has a macOS arm64 wheel for Python {env.minor}: no pair works on it "
            f"(the newest Python with one is {answers.other_python})",
            source="the package index's wheels",
        )
    ]


def on_index(env: Environment, answers: Answers) -> list[Finding]:
    """An installed release that a Mac cannot have from the index: nothing predicts it."""
    found = []
    tf, metal = env.tensorflow, env.distributions.get(PLUGIN)
    if tf and answers.tf_releases and tf.version not in answers.tf_releases:
        found.append(
            _read(
                "release",
                "unknown",
                f"TensorFlow {tf.version} has no macOS arm64 wheel on the index: nothing predicts it",
            )
        )
    if metal and answers.metal_releases and metal.version not in answers.metal_releases:
        found.append(
            _read(
                "release",
                "unknown",
                f"{PLUGIN} {metal.version} has no macOS arm64 wheel on the index: nothing predicts it",
            )
        )
    return found


def load(env: Environment, answers: Answers) -> list[Finding]:
    """Will the plugin load next to this TensorFlow (dyld's words when not), and what a path fix
    would meet next."""
    tf, metal = env.tensorflow, env.version_of(PLUGIN)
    cell = answers.cell(tf.version if tf else None, metal)
    if cell is None:
        return []
    pair = f"{PLUGIN} {metal} next to TensorFlow {tf.version}"
    if cell.get("abi") == "ok":
        return [_predicted("load", "ok", f"{pair}: the plugin loads")]
    if cell.get("abi") is None:
        return [
            _predicted("load", "unknown", f"{pair}: no prediction: {cell.get('error') or 'no reason given'}")
        ]
    first = (cell.get("first") or "").splitlines()
    found = [_predicted("load", "problem", f"{pair}: the plugin will not load: {first[0] if first else '?'}")]
    second = cell.get("second") or {}
    if second.get("verdict") == "fail" and second.get("first"):
        found.append(
            _predicted(
                "load",
                "info",
                f"a path fix would meet next: {second['first'].splitlines()[0]}",
            )
        )
    return found


def hazard(env: Environment, answers: Answers) -> list[Finding]:
    """The training hazard of the installed pair (XLA), with its workaround."""
    tf, metal = env.tensorflow, env.version_of(PLUGIN)
    cell = answers.cell(tf.version if tf else None, metal)
    section = (cell or {}).get("hazard")
    if not section or cell.get("abi") != "ok":
        return []
    if section.get("predicted") == "fails":
        workaround = f"; workaround: {section['workaround']}" if section.get("workaround") else ""
        return [
            _predicted(
                "hazard",
                "warning",
                f"training is predicted to fail: {section.get('reason')}{workaround}",
            )
        ]
    if section.get("predicted") == "ok":
        return [
            _predicted(
                "hazard",
                "ok",
                f"no training hazard ({section.get('keras') or 'Keras'}: no XLA on the Mac)",
            )
        ]
    return [_predicted("hazard", "info", f"no hazard prediction: {section.get('error')}")]


def floors(env: Environment, answers: Answers, macos: str | None) -> list[Finding]:
    """The pair's macOS floors against this Mac's macOS (or ``--macos``)."""
    tf, metal = env.tensorflow, env.version_of(PLUGIN)
    cell = answers.cell(tf.version if tf else None, metal)
    floor = (cell or {}).get("floors")
    if not floor or cell.get("abi") != "ok":
        return []
    if macos is None:
        return [
            _predicted(
                "floors",
                "info",
                f"needs macOS {floor.get('install') or '?'} to install and {floor.get('load') or '?'} "
                "to load (no macOS to judge against here: --macos VERSION names one)",
            )
        ]
    answer = frameworks.usable_on([{"floors": floor}], macos)[0]
    if answer["on_macos"] == "usable":
        return [
            _predicted("floors", "ok", f"installs and loads on macOS {macos} (needs {floor.get('load')})")
        ]
    if answer["on_macos"] == "install":
        return [_predicted("floors", "problem", f"on macOS {macos}: {answer['why']}")]
    if answer["on_macos"] == "load":
        return [_predicted("floors", "problem", f"on macOS {macos}: {answer['error'].splitlines()[0]}")]
    return [_predicted("floors", "warning", f"on macOS {macos}: {answer['why']}")]
