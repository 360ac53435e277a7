"""Configuration: every ``TFCOMPAT_*`` variable and every path of the checkout, read in one place.

tfcompat runs from its checkout (``noxfile.py``, ``expected.toml``, ``probes/``), so the
checkout's folders are found beside the package. Four variables move what a user may want
elsewhere; each is read here and nowhere else:

- ``TFCOMPAT_EXPECTED``: the matrix file (default ``expected.toml`` of the checkout);
- ``TFCOMPAT_REPORTS``: the reports folder (default ``reports/``); records go to its ``sessions/``;
- ``TFCOMPAT_CACHE``: resolutions, environments, wheel facts and the map's answers (default
  ``$XDG_CACHE_HOME/tfcompat``, else ``~/.cache/tfcompat``);
- ``TFCOMPAT_INDEX_URL``: a mirror of the package index (PEP 691 JSON), default PyPI's.

Two more are set by ``python3 noxfile.py`` itself (``core.bootstrap``) before it hands over to
``uv run``, which replaces ``VIRTUAL_ENV`` and ``PATH`` with the suite's own environment:
``TFCOMPAT_CALLER_VIRTUAL_ENV`` and ``TFCOMPAT_CALLER_PATH`` keep the caller's, for the doctor's
default environment (``caller_environment``).
"""

from __future__ import annotations

import os
from pathlib import Path

from tfcompat.core.files import folder_line

#: The checkout: the folder that holds ``noxfile.py`` and the ``tfcompat`` package.
CHECKOUT = Path(__file__).resolve().parents[2]
PROBES_DIR = CHECKOUT / "probes"
SCHEMAS_DIR = CHECKOUT / "schemas"

EXPECTED_ENV = "TFCOMPAT_EXPECTED"
REPORTS_ENV = "TFCOMPAT_REPORTS"
CACHE_ENV = "TFCOMPAT_CACHE"
INDEX_ENV = "TFCOMPAT_INDEX_URL"
DEFAULT_INDEX = "https://pypi.org/simple/"


def caller_environment() -> tuple[str | None, str]:
    """(the active virtual environment, PATH) of whoever started the suite: what the bootstrap
    kept before ``uv run`` replaced them, else this process's own."""
    from tfcompat.core.bootstrap import CALLER_PATH, CALLER_VIRTUAL_ENV

    if CALLER_PATH in os.environ:
        return os.environ.get(CALLER_VIRTUAL_ENV) or None, os.environ[CALLER_PATH]
    return os.environ.get("VIRTUAL_ENV") or None, os.environ.get("PATH", "")


def matrix_path() -> Path:
    """The matrix file in use: ``TFCOMPAT_EXPECTED`` or ``expected.toml`` of the checkout."""
    return Path(os.environ.get(EXPECTED_ENV) or CHECKOUT / "expected.toml")


def reports_dir() -> Path:
    """The reports folder: ``TFCOMPAT_REPORTS`` or ``reports/`` of the checkout."""
    return Path(os.environ.get(REPORTS_ENV) or CHECKOUT / "reports")


def sessions_dir() -> Path:
    """Where run records are written: ``<reports>/sessions``."""
    return reports_dir() / "sessions"


def cache_dir() -> Path:
    """The suite's cache: ``TFCOMPAT_CACHE``, else ``$XDG_CACHE_HOME/tfcompat`` or ``~/.cache/tfcompat``."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfcompat"
    return Path(os.environ.get(CACHE_ENV) or default)


def index_base() -> str:
    """The package index in use (its PEP 691 root): ``TFCOMPAT_INDEX_URL`` or PyPI's."""
    return os.environ.get(INDEX_ENV) or DEFAULT_INDEX


def check_folders(*, matrix: bool = False) -> list[str]:
    """One line for each configured folder the suite cannot write into; empty when all are fine.

    The reports folder and its ``sessions/``, the cache, and with ``matrix`` the folder of the
    matrix file, which the writing tools (``discover``/``claims -- --write``) replace.
    """
    problems = [
        folder_line("reports folder", reports_dir(), REPORTS_ENV)
        or folder_line("records folder", sessions_dir(), REPORTS_ENV),
        folder_line("cache folder", cache_dir(), CACHE_ENV),
    ]
    if matrix:
        # A matrix reached through a symlink is rewritten beside its target.
        target = Path(os.path.realpath(matrix_path()))
        problems.append(folder_line("matrix file's folder", target.parent, EXPECTED_ENV))
    return [problem for problem in problems if problem]
