"""Where things are, and the releases the tests build real environments of."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TESTS = ROOT / "tests"
#: Recorded real answers and files (PEP 691 index answers, METADATA tables, Mach-O samples).
DATA = TESTS / "data"
#: The matrix the suite ships.
SHIPPED = ROOT / "expected.toml"
#: The row Python for tests that build TensorFlow environments: the one running the tests,
#: which exists on every machine that can run them.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: tensorflow-cpu releases with wheels for Python 3.10 - 3.12; 2.17.0 is the reference machine.md measures.
TF_MAIN, TF_OTHER = "2.17.0", "2.16.1"
