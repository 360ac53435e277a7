"""Matrix files for the tests' own runs."""

from __future__ import annotations

from pathlib import Path

from helpers.paths import PYTHON


def write_matrix(path: Path, rows: list[dict], *, timeouts: dict | None = None, python: str = PYTHON) -> Path:
    """A matrix file with ``rows`` (dicts of row keys) and the default ``python``; return its path."""
    lines = ["[defaults]", f'python = "{python}"']
    if timeouts:
        lines.append("[defaults.timeouts]")
        lines += [f"{key} = {value}" for key, value in timeouts.items()]
    for row in rows:
        lines.append("[[row]]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in row.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
