"""Benchmark of the main job: the README's ``python3 noxfile.py``, cold and warm.

    python benchmarks/main_job.py [--cache DIR] [--skip-cold] [--quick]

The README's command as written (the noxfile hands over to ``uv run`` from its lock), with the
checkout's matrix: off a Mac that is ``map`` (every TensorFlow x tensorflow-metal release on the
index), ``abi`` for every row and ``report``. Cold: an empty tfcompat cache and reports folder
(uv's own cache, which holds nox and the locked dependencies, is the machine's: a fresh Mac
downloads them once more). Warm: the same again from that cache with every proxy pointed at a
closed local port, so it proves it needs no network. For each pass: wall time, the sessions'
outcomes, peak memory (the summed resident sets of the whole process tree: uv, nox, the map's
workers and their uv children, sampled every 0.2 s) and peak extra disk (the cache folder and
the run's temporary folder).

The main job exits 1 when a row is predicted to fail, which is an answer, not an error: a pass
counts as measured when the report was written.

``--quick`` (the smoke run CI makes): the same two passes over one row and one pair (TensorFlow
2.17.0 and tensorflow-metal 1.1.0: a one-row matrix, and the map told ``--tf``/``--metal``), the
"cold" cache starting with the suite's wheel facts and sources.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _util import (
    OFFLINE,
    QUICK_PAIR,
    ROOT,
    cache_options,
    cache_report,
    run_watched,
    seed_quick_cache,
    session_folders,
)

#: The one row of ``--quick`` (the pair of QUICK_PAIR).
QUICK_ROW = '[[row]]\ntf = "2.17.0"\nmetal = "1.1.0"\nsupports = "yes"\n'
#: nox's closing summary, one line per session: ``nox > * abi(tf='2.9.0', metal='0.5.0'): failed``.
_OUTCOME = re.compile(r"^nox > \* (?P<session>.+): (?P<outcome>\w+)", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache_options(parser)
    parser.add_argument("--quick", action="store_true", help="one row and one pair, a seeded cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-main-") as tmp:
        folder = Path(tmp)
        env, watched = session_folders(folder, args.cache)
        argv = [sys.executable, str(ROOT / "noxfile.py")]
        if args.quick:
            (folder / "one-row.toml").write_text(QUICK_ROW)
            env["TFCOMPAT_EXPECTED"] = str(folder / "one-row.toml")
            argv += ["--", *QUICK_PAIR]
            if not args.cache:
                seed_quick_cache(Path(env["TFCOMPAT_CACHE"]))
        if not args.skip_cold:
            _report("cold", run_watched(argv, env, watched), folder)
        _report("warm (no network)", run_watched(argv, {**env, **OFFLINE}, watched), folder)
        print(cache_report(Path(env["TFCOMPAT_CACHE"])))


def _report(name: str, outcome: dict, folder: Path) -> None:
    print(f"== {name}")
    answer = folder / "reports" / "compatibility.md"
    if outcome["returncode"] not in (0, 1) or not answer.is_file():
        code = outcome["returncode"]
        sys.exit(f"{name}: the main job wrote no report (exit {code}):\n{outcome['output'][-3000:]}")
    outcomes = Counter(match["outcome"] for match in _OUTCOME.finditer(outcome["output"]))
    sessions = ", ".join(f"{count} {kind}" for kind, count in sorted(outcomes.items()))
    print(
        f"{name}: {outcome['seconds']:.1f} s (exit {outcome['returncode']}; sessions: {sessions}); "
        f"peak memory {outcome['rss'] / 1e9:.2f} GB (process tree); "
        f"peak extra disk {outcome['disk'] / 1e9:.2f} GB (caches and temporary files)"
    )
    answer.unlink()  # the next pass must write its own


if __name__ == "__main__":
    main()
