"""expected.toml: the shipped matrix is valid, and every malformed file gets its one exact line."""

from __future__ import annotations

import pytest

from helpers.sessions import run_nox
from tfcompat.core.matrix import MatrixError, load_matrix

GOOD_ROW = 'tf = "2.19.0"\nmetal = "1.2.0"\nsupports = "ambiguous"\n'

# (file body, the exact message). Each is a mistake a person editing the matrix makes.
MALFORMED = [
    (
        "[[row]\ntf = 1",
        "m.toml: invalid TOML: Expected ']]' at the end of an array declaration (at line 1, column 6)",
    ),
    ("", "m.toml: no rows: add at least one [[row]] table"),
    ("[rows]\n", "m.toml: unknown top-level key 'rows'"),
    ("[defaults]\npyhton = '3.10'\n[[row]]\n" + GOOD_ROW, "m.toml: [defaults]: unknown key 'pyhton'"),
    (
        "[defaults]\npython = '3'\n[[row]]\n" + GOOD_ROW,
        "m.toml: [defaults] key 'python': must be a Python version from 3.8 to 3.20 like \"3.10\", got '3'",
    ),
    (
        "[defaults.timeouts]\nfit = -1\n[[row]]\n" + GOOD_ROW,
        "m.toml: [defaults.timeouts]: key 'fit': must be a number of seconds from 1 to 604800, got -1",
    ),
    (
        "[defaults.timeouts]\ntrain = 5\n[[row]]\n" + GOOD_ROW,
        "m.toml: [defaults.timeouts]: unknown key 'train' (known: provision, import, devices, fit, agree, speedup)",
    ),
    ("[[row]]\nmetal = '1.2.0'\nsupports = 'yes'\n", "m.toml: row 1: missing key 'tf'"),
    ("[[row]]\ntf = '2.19.0'\nsupports = 'yes'\n", "m.toml: row 1: missing key 'metal'"),
    (
        "[[row]]\ntf = '2.19'\nmetal = '1.2.0'\nsupports = 'yes'\n[[row]]\ntf = 'latest'\nmetal = '1.2.0'\n",
        "m.toml: row 2: key 'tf': 'latest' is not a valid version",
    ),
    (
        "[[row]]\ntf = '2.19.0/../..'\nmetal = '1.2.0'\n",
        "m.toml: row 1: key 'tf': '2.19.0/../..' is not a valid version",
    ),
    (
        "[[row]]\ntf = '2.19.0'\nmetal = '../1.2.0'\n",
        "m.toml: row 1 (tf=2.19.0): key 'metal': '../1.2.0' is not a valid version",
    ),
    (
        "[[row]]\ntf = 'v2.19.0'\nmetal = '1.2.0'\n",
        "m.toml: row 1: key 'tf': 'v2.19.0' is not a canonical release version",
    ),
    (
        "[[row]]\ntf = '2.19.0+local'\nmetal = '1.2.0'\n",
        "m.toml: row 1: key 'tf': '2.19.0+local' is not a canonical release version",
    ),
    ("[[row]]\ntf = 2.19\nmetal = '1.2.0'\n", "m.toml: row 1: key 'tf': must be a string, got 2.19"),
    (
        "[[row]]\n" + GOOD_ROW + "[[row]]\n" + GOOD_ROW,
        "m.toml: row 2 (python=3.10, tf=2.19.0, metal=1.2.0): duplicate row, same as row 1",
    ),
    (
        "[[row]]\ntf = '2.19.0'\nmetal = '1.2.0'\nsupports = 'maybe'\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'supports': must be one of yes, no, ambiguous, got 'maybe'",
    ),
    (
        "[[row]]\ntf = '2.19.0'\nmetal = '1.2.0'\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): missing key 'supports' (one of yes, no, ambiguous)",
    ),
    (
        "[[row]]\ntf = '2.19.0'\nmetal = 'none'\nsupports = 'yes'\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=none): key 'supports': a row with metal = 'none' has no claim",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "metl = '1.1.0'\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): unknown key 'metl'",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "python = '3.10; rm -rf /'\n",
        "m.toml: row 1 (tf=2.19.0, metal=1.2.0): key 'python': must be a Python version from 3.8 to 3.20 "
        "like \"3.10\", got '3.10; rm -rf /'",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "constraints = 'numpy<2'\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'constraints': must be a list of requirement strings",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "constraints = ['numpy<<2']\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'constraints': 'numpy<<2' is not a valid requirement",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "constraints = ['numpy @ https://example.invalid/numpy.whl']\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'constraints': "
        "'numpy @ https://example.invalid/numpy.whl': URLs are not allowed, pin a version",
    ),
    (
        "[[row]]\n" + GOOD_ROW + "note = 3\n",
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'note': "
        "must be one line of at most 300 characters, got 3",
    ),
    # Values of the right form but out of range: each crashed every session before it was bounded.
    *[
        (
            f"[defaults.timeouts]\nfit = {value}\n[[row]]\n" + GOOD_ROW,
            f"m.toml: [defaults.timeouts]: key 'fit': must be a number of seconds from 1 to 604800, got {shown}",
        )
        for value, shown in (("inf", "inf"), ("nan", "nan"), ("1e308", "1e+308"), ("0.001", "0.001"))
    ],
    (
        "[[row]]\ntf = '2.19.0'\nmetal = '1.2.0'\nsupports = 'yes'\npython = '3.010'\n",
        "m.toml: row 1 (tf=2.19.0, metal=1.2.0): key 'python': must be a Python version from 3.8 to 3.20 "
        "like \"3.10\", got '3.010'",
    ),
    (
        "[[row]]\ntf = '2.19.0'\nmetal = '1.2.0'\nsupports = 'yes'\npython = '3.99'\n",
        "m.toml: row 1 (tf=2.19.0, metal=1.2.0): key 'python': must be a Python version from 3.8 to 3.20 "
        "like \"3.10\", got '3.99'",
    ),
    (
        "[[row]]\ntf = '2." + "1" * 40 + "'\nmetal = '1.2.0'\n",
        "m.toml: row 1: key 'tf': '2.1111111111111111111111111111111111111111' "
        "is not a plausible release (too long or too large)",
    ),
    (
        "[[row]]\ntf = '2.19.99999'\nmetal = '1.2.0'\n",
        "m.toml: row 1: key 'tf': '2.19.99999' is not a plausible release (too long or too large)",
    ),
    (
        "[[row]]\n" + GOOD_ROW + 'note = "two\\nlines"\n',
        "m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'note': "
        "must be one line of at most 300 characters, got 'two\\nlines'",
    ),
    ("row = 'x'\n", "m.toml: no rows: add at least one [[row]] table"),
]


@pytest.mark.fault(14)
@pytest.mark.parametrize(("body", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_matrix_gets_its_exact_line(tmp_path, body, message):
    path = tmp_path / "m.toml"
    path.write_text(body)
    with pytest.raises(MatrixError) as caught:
        load_matrix(path)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_one_pair_may_appear_once_per_python(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text("[[row]]\n" + GOOD_ROW + "python = '3.9'\n[[row]]\n" + GOOD_ROW + "python = '3.11'\n")
    matrix = load_matrix(path)
    assert [row.key for row in matrix.rows] == [("3.9", "2.19.0", "1.2.0"), ("3.11", "2.19.0", "1.2.0")]
    assert matrix.find("3.11", "2.19.0", "1.2.0").number == 2
    with pytest.raises(MatrixError, match="no row with python=3.10, tf=2.19.0, metal=1.2.0"):
        matrix.find("3.10", "2.19.0", "1.2.0")


def test_shipped_matrix_carries_every_reference_pair_with_its_claim():
    matrix = load_matrix()
    pairs = {row.key: row.supports for row in matrix.rows if row.has_plugin}
    assert len(pairs) == 26
    assert pairs[("3.10", "2.17.0", "1.1.0")] == "yes"
    assert pairs[("3.10", "2.18.0", "1.1.0")] == "ambiguous"
    assert pairs[("3.10", "2.21.0", "1.2.0")] == "ambiguous"
    assert pairs[("3.10", "2.13.0", "1.1.0")] == "no"
    assert pairs[("3.10", "2.16.0rc0", "1.1.0")] == "yes"
    assert pairs[("3.9", "2.5.0", "0.1.2")] == "yes"


@pytest.mark.fault(14)
def test_a_broken_matrix_stops_only_the_sessions_that_need_it(tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text("[[row]]\ntf = '2.19.0'\nmetal = '1.2.0'\nsupports = 'perhaps'\n")
    error = (
        "tfcompat: m.toml: row 1 (python=3.10, tf=2.19.0, metal=1.2.0): key 'supports': "
        "must be one of yes, no, ambiguous, got 'perhaps'"
    )
    listed = run_nox("-l", matrix=matrix, reports=tmp_path / "reports", timeout=120)
    assert listed.returncode == 0
    assert {"- lint", "- tests", "* report"} <= {line.split(" -> ")[0] for line in listed.stdout.splitlines()}
    assert error in listed.stderr.splitlines()

    done = run_nox("-s", "report", matrix=matrix, reports=tmp_path / "reports", timeout=120)
    assert done.returncode == 1
    assert f"nox > Session report aborted: {error}" in done.stderr
    assert not (tmp_path / "reports").exists()
