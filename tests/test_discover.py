"""discover: new releases on the index proposed as rows, printed or appended to the matrix.

Offline tests read recorded real PEP 691 answers (tests/data/simple-*.json, tensorflow trimmed
to 2.19.0 and later) served over real HTTP on localhost; the ``network`` test asks PyPI.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from helpers.index import TABLE_1_2_0, closed_port_url
from helpers.matrix import write_matrix
from helpers.paths import DATA, SHIPPED
from tfcompat.core.matrix import load_matrix
from tfcompat.upkeep import claims, discover

TABLE = claims.parse_table(TABLE_1_2_0, wheel="1.2.0")


def run(argv: list[str], path: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    return discover.main(argv, matrix_path=path, log=lines.append), lines


def recorded(name: str) -> list[Version]:
    """The releases that count in the recorded answer for ``name``."""
    answer = json.loads((DATA / f"simple-{name}.json").read_text())
    versions = {Version(entry["filename"].split("-")[1]) for entry in answer["files"]}
    return discover.releases({version: [] for version in versions})


def pairs(proposals: list[discover.Proposal]) -> list[tuple[str, str, str]]:
    return [(p.tf, p.metal, p.supports) for p in proposals]


# What counts as a release, and what is proposed


def test_finals_count_and_only_a_coming_pre_release():
    assert [str(v) for v in recorded("tensorflow")] == ["2.19.0", "2.19.1", "2.20.0", "2.21.0", "2.22.0rc0"]
    assert str(recorded("tensorflow-metal")[-1]) == "1.2.0"
    versions = [Version(v) for v in ("2.20.0rc0", "2.20.0", "2.21.0rc0", "2.21.0rc1", "2.21.0.dev5")]
    assert [str(v) for v in discover.releases(dict.fromkeys(versions, []))] == ["2.20.0", "2.21.0rc1"]


def test_the_newest_release_of_each_of_the_three_newest_series():
    versions = [Version(v) for v in ("2.19.0", "2.19.1", "2.20.0", "2.21.0", "2.21.1", "2.22.0rc0")]
    assert [str(v) for v in discover.newest_series(versions)] == ["2.21.1", "2.20.0", "2.19.1"]


def test_against_the_shipped_matrix_only_the_coming_release_is_proposed():
    proposals = discover.propose(
        load_matrix(SHIPPED),
        tf_releases=recorded("tensorflow"),
        metal_releases=recorded("tensorflow-metal"),
        table=TABLE,
    )
    assert pairs(proposals) == [("2.22.0rc0", "1.2.0", "ambiguous")]


def test_new_tf_releases_get_the_newest_plugin_and_new_plugins_the_newest_three_series(tmp_path):
    matrix = write_matrix(
        tmp_path / "m.toml",
        [
            {"tf": "2.21.0", "metal": "none"},
            {"tf": "2.13.0", "metal": "1.0.0", "supports": "yes"},
        ],
    )
    proposals = discover.propose(
        load_matrix(matrix),
        tf_releases=recorded("tensorflow"),
        metal_releases=recorded("tensorflow-metal"),
        table=TABLE,
    )
    assert pairs(proposals) == [
        ("2.22.0rc0", "1.2.0", "ambiguous"),
        ("2.21.0", "1.2.0", "ambiguous"),
        ("2.21.0", "1.1.0", "ambiguous"),
        ("2.21.0", "1.0.1", "no"),
        ("2.20.0", "1.2.0", "ambiguous"),
        ("2.20.0", "1.1.0", "ambiguous"),
        ("2.20.0", "1.0.1", "no"),
        ("2.19.1", "1.2.0", "ambiguous"),
        ("2.19.1", "1.1.0", "ambiguous"),
        ("2.19.1", "1.0.1", "no"),
    ]


# nox -s discover, against the recorded index answers


def test_without_write_the_rows_are_printed_as_toml_and_nothing_changes(index, tmp_path, capsys):
    path = tmp_path / "expected.toml"
    path.write_text(SHIPPED.read_text())
    code, lines = run([], path)
    assert (code, lines) == (0, ["proposed rows: 1; claims from tensorflow-metal 1.2.0's table"])
    printed = capsys.readouterr().out
    assert tomllib.loads(printed) == {"row": [{"tf": "2.22.0rc0", "metal": "1.2.0", "supports": "ambiguous"}]}
    assert path.read_text() == SHIPPED.read_text()


def test_write_appends_the_rows_keeping_the_file_and_is_idempotent(index, tmp_path):
    path = tmp_path / "expected.toml"
    shipped = SHIPPED.read_text()
    path.write_text(shipped)
    code, lines = run(["--write"], path)
    assert (code, lines[-1]) == (0, "appended tf=2.22.0rc0, metal=1.2.0, supports=ambiguous")
    text = path.read_text()
    assert text == shipped + '\n[[row]]\ntf = "2.22.0rc0"\nmetal = "1.2.0"\nsupports = "ambiguous"\n'
    row = load_matrix(path).rows[-1]
    assert (row.tf, row.metal, row.supports, row.python) == ("2.22.0rc0", "1.2.0", "ambiguous", "3.10")
    code, lines = run(["--write"], path)
    assert code == 0 and lines[0].startswith("nothing to propose: ") and path.read_text() == text


def test_yanked_wheels_do_not_count(index, tmp_path):
    answer = json.loads((DATA / "simple-tensorflow.json").read_text())
    for entry in answer["files"]:
        entry["yanked"] = entry["yanked"] or "2.22.0rc0" in entry["filename"]
    index.answer("tensorflow", json.dumps(answer).encode())
    assert run([], SHIPPED) == (
        0,
        [
            "nothing to propose: the index has nothing newer than the matrix (newest: tensorflow 2.21.0, tensorflow-metal 1.2.0)"
        ],
    )


# Failures: one line, exit 1, nothing written


def test_no_network_is_one_line_and_nothing_is_written(index, tmp_path, monkeypatch):
    monkeypatch.setenv("TFCOMPAT_INDEX_URL", closed_port_url())
    path = tmp_path / "expected.toml"
    path.write_text(SHIPPED.read_text())
    code, lines = run(["--write"], path)
    assert code == 1 and len(lines) == 1 and "cannot reach the package index" in lines[0]
    assert lines[0].startswith("discover: http://127.0.0.1:")
    assert path.read_text() == SHIPPED.read_text()


def test_a_corrupt_answer_is_one_line_and_nothing_is_written(index, tmp_path):
    index.answer("tensorflow", (DATA / "simple-tensorflow.json").read_bytes()[:5000])
    path = tmp_path / "expected.toml"
    path.write_text(SHIPPED.read_text())
    code, lines = run(["--write"], path)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(
        f"discover: {index.url}/simple/tensorflow/: corrupt index answer: not valid JSON ("
    )
    assert path.read_text() == SHIPPED.read_text()


def test_a_malformed_matrix_is_one_line(tmp_path):
    path = tmp_path / "expected.toml"
    path.write_text("[[row]]\ntf = '2.21'\n")
    assert run([], path) == (1, ["discover: expected.toml: row 1: missing key 'metal'"])


# The real index


@pytest.mark.network
def test_the_real_index_proposes_rows_for_releases_newer_than_a_trimmed_matrix(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TFCOMPAT_INDEX_URL", raising=False)
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    path = write_matrix(tmp_path / "m.toml", [{"tf": "2.19.0", "metal": "1.1.0", "supports": "ambiguous"}])
    code, lines = run([], path)
    assert code == 0
    # One wheel read for its table (the newest plugin's), not every release's: its METADATA alone
    # is cached (the cost is in the README's figures, not asserted here).
    assert len(list((tmp_path / "cache" / "claims").glob("*.METADATA"))) == 1
    rows = tomllib.loads(capsys.readouterr().out)["row"]
    newest_plugin = max(Version(row["metal"]) for row in rows)
    assert {"tf": "2.20.0", "metal": str(newest_plugin), "supports": "ambiguous"} in rows
    assert {"tf": "2.21.0", "metal": str(newest_plugin), "supports": "ambiguous"} in rows
    assert all(
        Version(row["tf"]) > Version("2.19.0") or Version(row["metal"]) > Version("1.1.0") for row in rows
    )
