"""claims: the reading of tensorflow-metal's own table, and the matrix checked and fixed against it.

The tables are copies of the real METADATA of the 1.1.0 and 1.2.0 wheels; the index answer is
a recorded real PEP 691 answer, served over real HTTP on localhost. The ``network`` tests ask PyPI.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.version import Version

from helpers.index import (
    JSON_TYPE,
    PLUGIN_WHEEL,
    TABLE_1_1_0,
    TABLE_1_2_0,
    a_wheel,
    closed_port_url,
    seed_tables,
    serve_wheel,
)
from helpers.paths import SHIPPED
from tfcompat.core.matrix import load_matrix
from tfcompat.index import pypi
from tfcompat.upkeep import claims


def run(argv: list[str], path: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    return claims.main(argv, matrix_path=path, log=lines.append), lines


# The reading of the table


def test_the_real_tables_parse_in_published_order():
    table = claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
    assert len(table.rows) == 11
    assert (table.rows[0].first, table.rows[0].last, str(table.rows[0].metal)) == ((2, 5), (2, 5), "0.1.2")
    assert (table.rows[-2].first, table.rows[-2].last, str(table.rows[-2].metal)) == (
        (2, 14),
        (2, 18),
        "1.1.0",
    )
    assert (table.rows[-1].first, table.rows[-1].last, str(table.rows[-1].metal)) == (
        (2, 18),
        (2, 18),
        "1.1.0",
    )
    old = claims.parse_table(TABLE_1_1_0, wheel="1.1.0")
    assert (old.rows[-1].first, old.rows[-1].last, str(old.rows[-1].metal)) == ((2, 14), (2, 14), "1.1.0")


@pytest.mark.parametrize(
    ("tf", "metal", "expected"),
    [
        ("2.5.0", "0.1.2", "yes"),
        ("2.5.0", "0.1.1", "no"),  # a plugin release the table never names
        ("2.9.0", "0.6.0", "no"),
        ("2.13.0", "1.0.0", "yes"),
        ("2.13.0", "1.1.0", "no"),
        ("2.14.0", "1.1.0", "yes"),
        ("2.16.0rc0", "1.1.0", "yes"),  # a pre-release belongs to its series
        ("2.17.1", "1.1.0", "yes"),
        ("2.17.0", "1.2.0", "no"),  # 1.2.0 is named nowhere, and 2.17 is before the last row
        ("2.18.0", "1.1.0", "ambiguous"),  # inside v2.14-v2.18, but also the row new in 1.2.0
        ("2.18.0", "1.2.0", "ambiguous"),
        ("2.21.0", "1.1.0", "ambiguous"),
        ("2.22.0rc0", "1.2.0", "ambiguous"),
        ("2.21.0", "1.0.0", "no"),
    ],
)
def test_claim_reads_the_1_2_0_table_as_pypi_claims_md_does(tf, metal, expected):
    assert claims.claim(tf, metal, claims.parse_table(TABLE_1_2_0, wheel="1.2.0")) == expected


def test_a_table_whose_last_row_names_its_own_wheel_is_never_ambiguous():
    table = claims.parse_table(TABLE_1_1_0, wheel="1.1.0")
    assert [claims.claim(tf, "1.1.0", table) for tf in ("2.14.0", "2.15.0", "2.18.0")] == ["yes", "no", "no"]


def test_every_row_of_the_shipped_matrix_agrees_with_the_1_2_0_table():
    table = claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
    rows = [row for row in load_matrix(SHIPPED).rows if row.has_plugin]
    assert [(row.tf, row.metal, claims.claim(row.tf, row.metal, table)) for row in rows] == [
        (row.tf, row.metal, row.supports) for row in rows
    ]


def test_columns_are_found_by_name_not_position():
    text = (
        "intro\n\n| tensorflow-metal | TensorFlow |\n|:--|--:|\n| 1.1.0 | 2.14 - 2.18 |\n| v1.2.0 | v2.19 |\n"
    )
    table = claims.parse_table(text, wheel="1.2.0")
    assert [(row.first, row.last, str(row.metal)) for row in table.rows] == [
        ((2, 14), (2, 18), "1.1.0"),
        ((2, 19), (2, 19), "1.2.0"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Accelerate training.\n", "tensorflow-metal 9.9.9: no compatibility table in its METADATA"),
        (
            "|tensorflow|tensorflow-metal|\n|v2.5|v0.1.2|\n",
            "tensorflow-metal 9.9.9: the compatibility table has no separator line",
        ),
        (
            "|tensorflow|tensorflow-metal|\n|--|--|\n\n",
            "tensorflow-metal 9.9.9: the compatibility table has no rows",
        ),
        (
            "|tensorflow|tensorflow-metal|\n|--|--|\n|v2.x|v1.0.0|\n",
            "tensorflow-metal 9.9.9: unexpected table row '|v2.x|v1.0.0|'",
        ),
        (
            "|tensorflow|tensorflow-metal|\n|--|--|\n|v2.13|latest|\n",
            "tensorflow-metal 9.9.9: unexpected table row '|v2.13|latest|'",
        ),
        (
            "|tensorflow|tensorflow-metal|MacOs|\n|--|--|--|\n|v2.13|\n",
            "tensorflow-metal 9.9.9: unexpected table row '|v2.13|'",
        ),
        (
            "|tensorflow|tensorflow-metal|\n|--|--|\n|v2.18-v2.14|v1.1.0|\n",
            "tensorflow-metal 9.9.9: backwards TensorFlow range in table row '|v2.18-v2.14|v1.1.0|'",
        ),
    ],
)
def test_an_unexpected_table_is_one_exact_line(text, message):
    with pytest.raises(claims.ClaimsError) as caught:
        claims.parse_table(text, wheel="9.9.9")
    assert str(caught.value) == message


# nox -s claims, against the recorded index answer


def test_the_shipped_matrix_has_no_disagreement(index):
    assert run([], SHIPPED) == (0, ["all 26 claims agree with tensorflow-metal 1.2.0's table"])


def test_disagreements_are_reported_and_nothing_is_written_without_write(index, tmp_path):
    path = tmp_path / "expected.toml"
    wrong = SHIPPED.read_text().replace('supports = "ambiguous"\nnote', 'supports = "yes"\nnote')
    path.write_text(wrong)
    code, lines = run([], path)
    assert code == 1
    assert lines == [
        "row 7 (python=3.10, tf=2.18.0, metal=1.1.0): supports = 'yes', tensorflow-metal 1.2.0's table says 'ambiguous'",
        "claims disagreeing with tensorflow-metal 1.2.0's table: 1; `nox -s claims -- --write` fixes them",
    ]
    assert path.read_text() == wrong


def test_write_fixes_the_rows_and_keeps_every_comment_and_blank_line(index, tmp_path):
    path = tmp_path / "expected.toml"
    shipped = SHIPPED.read_text()
    wrong = shipped.replace('supports = "ambiguous"\nnote', 'supports = "yes"\nnote')
    wrong = wrong.replace('metal = "0.1.2"\nsupports = "yes"', 'metal = "0.1.2"\nsupports = "no"')
    path.write_text(wrong)
    code, lines = run(["--write"], path)
    assert (code, lines[-1]) == (0, f"rows fixed in {path}: 2")
    assert path.read_text() == shipped
    load_matrix(path)
    assert run([], path)[0] == 0


def test_a_bad_option_is_exit_2():
    assert run(["--wirte"], SHIPPED) == (2, [])


# Failures: one line, exit 1, nothing written


def test_no_network_is_one_line_and_nothing_is_written(index, tmp_path, monkeypatch):
    monkeypatch.setenv("TFCOMPAT_INDEX_URL", closed_port_url())
    path = tmp_path / "expected.toml"
    path.write_text(SHIPPED.read_text().replace('supports = "ambiguous"\nnote', 'supports = "yes"\nnote'))
    before = path.read_text()
    code, lines = run(["--write"], path)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("claims: http://127.0.0.1:") and "cannot reach the package index" in lines[0]
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("body", "kind", "status", "message"),
    [
        (b'{"files": [', JSON_TYPE, 200, "corrupt index answer: not valid JSON (Expecting value"),
        (
            b'{"files": [{"filename": "x.whl"}]}',
            JSON_TYPE,
            200,
            "corrupt index answer: files[0]: 'url' is not a URL",
        ),
        (b'{"meta": {}}', JSON_TYPE, 200, "corrupt index answer: no list of files"),
        (b"<html></html>", "text/html", 200, "the index answered text/html, not PEP 691 JSON"),
        (b"", "text/plain", 503, "the index answered HTTP 503 Service Unavailable"),
    ],
)
def test_a_bad_index_answer_is_one_line_and_nothing_is_written(index, tmp_path, body, kind, status, message):
    index.answer("tensorflow-metal", body, kind, status)
    path = tmp_path / "expected.toml"
    path.write_text(SHIPPED.read_text().replace('supports = "ambiguous"\nnote', 'supports = "yes"\nnote'))
    before = path.read_text()
    code, lines = run(["--write"], path)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"claims: {index.url}/simple/tensorflow-metal/: ") and message in lines[0]
    assert path.read_text() == before


def test_an_unexpected_table_in_the_newest_wheel_is_one_line(index, tmp_path):
    seed_tables(TABLE_1_2_0.replace("|v2.13|v1.0.0|", "|v2.13|soon|"), TABLE_1_1_0)
    code, lines = run(["--write"], SHIPPED)
    assert (code, lines) == (
        1,
        ["claims: tensorflow-metal 1.2.0: unexpected table row '|v2.13|soon|12.1+|FP16 and BF16 support|'"],
    )


# The wheel itself: downloaded, checked, METADATA read from the zip


def test_the_table_is_read_from_the_downloaded_wheel_and_cached_by_sha256(index, tmp_path):
    metadata = (
        "Metadata-Version: 2.1\nName: tensorflow-metal\nVersion: 1.2.0\n\nAccelerate.\n\n" + TABLE_1_2_0
    )
    wheel = a_wheel(metadata)
    sha256 = hashlib.sha256(wheel).hexdigest()
    serve_wheel(index, wheel, sha256)
    assert claims.newest_table() == claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
    assert (tmp_path / "cache" / "claims" / f"{sha256}.METADATA").is_file()
    del index.routes[f"/files/{PLUGIN_WHEEL}"]  # cached now
    assert claims.read_metadata(pypi.macos_wheels("tensorflow-metal")[Version("1.2.0")][0]) == metadata


def test_a_wheel_that_does_not_match_its_sha256_is_one_line(index, tmp_path):
    serve_wheel(index, a_wheel(TABLE_1_2_0), "0" * 64)
    code, lines = run([], SHIPPED)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("claims: tensorflow_metal-1.2.0-cp311-cp311-macosx_12_0_arm64.whl: sha256 ")
    assert not list((tmp_path / "cache" / "claims").glob("0000*"))


# The real index


@pytest.mark.network
def test_the_real_newest_wheel_agrees_with_the_shipped_matrix(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path))  # empty: the real wheel is downloaded
    monkeypatch.delenv("TFCOMPAT_INDEX_URL", raising=False)
    table = claims.newest_table()
    if table.wheel == "1.2.0":
        assert table == claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
    assert run([], SHIPPED)[0] == 0
