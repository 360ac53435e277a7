"""The answer, for real: one engine behind abi sessions and the map, and commands that install.

The engine runs once for the module (a map of three TensorFlow and three plugin releases, then
an abi session per row over the same pairs, which reads the map's answers): TF 2.9.0 (numpy 1,
pinned today), 2.17.0 and 2.19.1 with plugins 0.5.0, 1.1.0 and 1.2.0.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import time
from pathlib import Path

import msgspec
import pytest

from tfcompat.core.matrix import Matrix, Row
from tfcompat.core.record import load_record
from tfcompat.predict.pairmap import run_map
from tfcompat.predict.row import run_abi
from tfcompat.report import write_reports
from tfcompat.resolve.resolver import ResolveError, Target, pip_compile

pytestmark = [pytest.mark.slow, pytest.mark.network]

TF, METAL = ["2.9.0", "2.17.0", "2.19.1"], ["0.5.0", "1.1.0", "1.2.0"]
#: Rows over those pairs, on the Pythons a Mac can have (2.19.1 + 1.1.0 fails to load).
ROWS = [
    Row(1, "3.10", "2.17.0", "1.1.0", "yes"),
    Row(2, "3.9", "2.9.0", "0.5.0", "yes"),
    Row(3, "3.10", "2.9.0", "0.5.0", "yes"),
    Row(4, "3.11", "2.19.1", "1.2.0", "ambiguous"),
    Row(5, "3.12", "2.19.1", "1.2.0", "ambiguous"),
    Row(6, "3.10", "2.19.1", "1.1.0", "ambiguous"),
]
COMMAND = re.compile(r'python -m pip install(?: "[^"]+")+')


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> tuple[Path, Path]:
    """A folder holding the map's record, and one holding the abi sessions' records."""
    root = tmp_path_factory.mktemp("answer")
    (root / "map" / "sessions").mkdir(parents=True)
    (root / "abi" / "sessions").mkdir(parents=True)
    answers: dict = {}
    _, path = run_map(tf=TF, metal=METAL, log=lambda _: None, answers=answers)
    path.rename(root / "map" / "sessions" / path.name)
    for row in ROWS:
        _, path = run_abi(row, log=lambda _: None, answers=answers)
        path.rename(root / "abi" / "sessions" / path.name)
    return root / "map", root / "abi"


def test_abi_sessions_and_the_map_give_the_same_answer(engine):
    maps, abis = engine
    [map_record] = [load_record(path) for path in (maps / "sessions").glob("map-*.json")]
    cells = {(cell.tf, cell.metal): cell for cell in map_record.map.cells}
    for path in sorted((abis / "sessions").glob("abi-*.json")):
        record = load_record(path)
        abi, cell = record.abi, cells[record.row.tf, record.row.metal]
        mine = (abi.verdict, abi.first, abi.unresolved_count, abi.second, abi.floors, abi.hazard)
        theirs = (cell.abi, cell.first, cell.unresolved_count, cell.second, cell.floors, cell.hazard)
        assert mine == theirs, record.row
        assert abi.preflight == cell.pythons.get(record.row.python), record.row
    # What the public record says, through either door.
    assert cells["2.19.1", "1.1.0"].abi == "fail" and cells["2.19.1", "1.2.0"].abi == "ok"


def _commands(folder: Path, matrix: Matrix) -> dict[tuple[str, str], set[str]]:
    """Every command the report prints, with the Python it is printed for, from its JSON; and
    a check that the Markdown and the HTML print no other."""
    write_reports(matrix, folder)
    data = json.loads((folder / "compatibility.json").read_text())
    found: dict[tuple[str, str], set[str]] = {}
    for group in data["answers"]:
        for answer in group["answers"]:
            for command in [answer["install"], *(older["install"] for older in answer["older_macos"])]:
                if command:
                    found.setdefault((answer["python"], command), set()).add("answer")
            for step in answer["steps"]:
                if COMMAND.fullmatch(step):
                    found.setdefault((answer["python"], step), set()).add("steps")
    for grid in data["grids"]:
        for row in grid["rows"]:
            for cell in row["cells"]:
                if cell["install"]:
                    found.setdefault((grid["python"], cell["install"]), set()).add("grid")
    printed = {command for _, command in found}
    for name in ("compatibility.md", "compatibility.html"):
        text = html.unescape((folder / name).read_text())
        assert set(COMMAND.findall(text)) <= printed, name
    return found


@pytest.mark.parametrize("kind", ["abi records alone", "a map record"])
def test_every_printed_command_installs_on_macos_arm64_today(engine, kind):
    maps, abis = engine
    folder = abis if kind.startswith("abi") else maps
    found = _commands(folder, Matrix(path=Path("expected.toml"), rows=tuple(ROWS)))
    assert found
    failed, numpy_of_2_9 = [], {}
    for python, command in sorted(found):
        requirements = shlex.split(command)[4:]
        try:
            pins = pip_compile(
                requirements, Target.mac(python), deadline=time.monotonic() + 300, binary_only=False
            )
        except ResolveError as exc:
            failed.append(f"{python}: {command}: {exc}")
            continue
        if '"tensorflow-macos==2.9.0"' in command:
            numpy_of_2_9[python, command] = next(pin.version for pin in pins if pin.name == "numpy")
    assert failed == []
    # TensorFlow 2.9 was built for numpy 1 and pins nothing on it: where today's numpy 2 has a
    # wheel (Python 3.9 and later) its command carries the pin, and every command gets numpy 1.
    assert numpy_of_2_9 and all(version.startswith("1.") for version in numpy_of_2_9.values())
    assert all('"numpy<2"' in command for python, command in numpy_of_2_9 if python != "3.8")


def test_the_answer_covers_every_python_of_the_map(engine):
    maps, _ = engine
    write_reports(Matrix(path=Path("expected.toml"), rows=tuple(ROWS)), maps)
    data = msgspec.json.decode((maps / "compatibility.json").read_bytes())
    predicted = next(group for group in data["answers"] if group["machine"] == "any-mac")
    pythons = {answer["python"]: answer for answer in predicted["answers"]}
    # 3.8 (plugin 0.5.0's oldest) to 3.12 (1.2.0's newest); TF 2.19.1 has no cp313 wheel at all.
    assert sorted(pythons, key=lambda python: int(python[2:])) == ["3.8", "3.9", "3.10", "3.11", "3.12"]
    for python in ("3.9", "3.10", "3.11", "3.12"):
        answer = pythons[python]
        assert (answer["pair"]["tf"], answer["pair"]["metal"]) == ("2.19.1", "1.2.0"), python
        assert answer["install"] and answer["needs_macos"], python
        assert answer["pair"]["evidence"]["words"] == "predicted"
    # Python 3.8: only the oldest pair of the three has wheels for it.
    assert (pythons["3.8"]["pair"]["tf"], pythons["3.8"]["pair"]["metal"]) == ("2.9.0", "0.5.0")
