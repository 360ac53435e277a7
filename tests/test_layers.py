"""The package's shape: its import graph read with ``ast``, held to the layer rule.

Arrows only point down. ``core`` imports nothing of tfcompat; ``index`` imports ``core``;
``resolve`` imports ``index`` and ``core``; the engines ``abi`` and ``hazard`` import
``resolve`` and below, never each other; the wings ``verify``, ``predict`` and ``upkeep``
import the engines and below, never another wing; ``report`` imports ``core`` only; the
``doctor`` stands above them all and may import any of them. Modules of
one package may import each other, but no import, in a package or across, closes a circle.
Imports inside functions count: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

from helpers.paths import ROOT

#: The floor of each package (the top-level modules, ``tfcompat.schemas``, sit above them all).
FLOORS = {
    "core": 1,
    "index": 2,
    "report": 2,
    "resolve": 3,
    "abi": 4,
    "hazard": 4,
    "verify": 5,
    "predict": 5,
    "upkeep": 5,
    "doctor": 6,
}
#: What each package may import besides its own modules.
ALLOWED = {
    "core": set(),
    "index": {"core"},
    "resolve": {"core", "index"},
    "abi": {"core", "index", "resolve"},
    "hazard": {"core", "index", "resolve"},
    "verify": {"core", "index", "resolve", "abi", "hazard"},
    "predict": {"core", "index", "resolve", "abi", "hazard"},
    "upkeep": {"core", "index", "resolve", "abi", "hazard"},
    "report": {"core"},
    # A tool above the wings: it asks the engines, the wings' probes and engine, and the report.
    "doctor": {"core", "index", "resolve", "abi", "hazard", "verify", "predict", "upkeep", "report"},
}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the tfcompat modules it imports, for every module under ``root/tfcompat``."""
    modules = {}
    for path in sorted((root / "tfcompat").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {module for module in found if module in modules and module != name}
    return graph


def package_of(module: str) -> str | None:
    """``abi`` for ``tfcompat.abi.dyld``; None for the root and its top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else None


def broken_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layer rule, as ``module -> module``."""
    broken = []
    for module, imported in sorted(graph.items()):
        source = package_of(module)
        if source is None:
            continue  # the root's version, the top-level tools: above every floor
        for target in sorted(imported):
            destination = package_of(target)
            if destination == source or target == "tfcompat":
                continue
            if destination is None or destination not in ALLOWED[source]:
                broken.append(f"{module} -> {target}")
    return broken


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def floors(graph: dict[str, set[str]]) -> int:
    """How many floors deep the packages stand: the longest chain of package imports."""
    packages = {package_of(module) for module in graph} - {None}
    below = {
        package: {
            package_of(target)
            for module in graph
            if package_of(module) == package
            for target in graph[module]
        }
        - {package, None}
        for package in packages
    }

    def depth(package: str) -> int:
        return 1 + max((depth(other) for other in below[package]), default=0)

    return max(depth(package) for package in packages) + 1  # and the top-level modules above


def test_the_package_keeps_its_layers():
    graph = import_graph(ROOT)
    assert broken_arrows(graph) == []
    assert circles(graph) == []
    assert floors(graph) <= 7


@pytest.mark.parametrize(
    ("module", "line", "arrow"),
    [
        # An engine importing a wing, and the floor importing an engine: arrows that point up.
        (
            "abi/check.py",
            "from tfcompat.predict import pairmap\n",
            "tfcompat.abi.check -> tfcompat.predict.pairmap",
        ),
        ("core/files.py", "from tfcompat.abi import dyld\n", "tfcompat.core.files -> tfcompat.abi.dyld"),
        # The engines never import each other; the report reads the floor only.
        ("hazard/xla.py", "from tfcompat.abi import macho\n", "tfcompat.hazard.xla -> tfcompat.abi.macho"),
        (
            "report/build.py",
            "from tfcompat.index import pypi\n",
            "tfcompat.report.build -> tfcompat.index.pypi",
        ),
    ],
)
def test_an_import_against_the_rule_is_found(tmp_path, module, line, arrow):
    shutil.copytree(ROOT / "tfcompat", tmp_path / "tfcompat", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "tfcompat" / module
    path.write_text(path.read_text(encoding="utf-8") + "\n\ndef _late():\n    " + line)
    assert broken_arrows(import_graph(tmp_path)) == [arrow]


def test_a_circle_inside_a_package_is_found(tmp_path):
    shutil.copytree(ROOT / "tfcompat", tmp_path / "tfcompat", ignore=shutil.ignore_patterns("__pycache__"))
    files = tmp_path / "tfcompat" / "core" / "files.py"
    files.write_text(
        files.read_text(encoding="utf-8") + "\n\ndef _late():\n    from tfcompat.core import record\n"
    )
    assert any(
        {"tfcompat.core.files", "tfcompat.core.record"} <= set(c) for c in circles(import_graph(tmp_path))
    )


def test_the_evaluator_is_an_engine_on_its_own():
    """pyeval imports nothing of tfcompat and gives the process its recursion limit back."""
    from tfcompat.hazard import pyeval

    assert import_graph(ROOT)["tfcompat.hazard.pyeval"] == set()
    before = sys.getrecursionlimit()
    interp = pyeval.Interpreter(_NoSources(), pyeval.Facts())
    assert isinstance(interp.import_module("json"), pyeval.External)
    assert sys.getrecursionlimit() == before


class _NoSources:
    """``pyeval.Sources`` with no files: every module is external."""

    tops: set[str] = set()

    def module_path(self, dotted: str) -> str | None:
        return None

    def read(self, path: str) -> str:
        raise FileNotFoundError(path)
