"""The fault catalogue of issue 5."""

from __future__ import annotations

# The fault catalogue (issue 5): every fault is one or more tests marked ``@pytest.mark.fault(N)``,
# and the run ends with one summary line per fault.
FAULTS = {
    1: "plugin with an undefined symbol",
    2: "plugin whose dependency library is missing",
    3: "segfault while importing",
    4: "abort while importing",
    5: "a probe that hangs",
    6: "a probe that prints no JSON, or 100 MB of output",
    7: "a fit whose loss goes NaN",
    8: "no network while provisioning",
    9: "a release that does not exist",
    10: "no wheel for this Python or platform",
    11: "Ctrl-C or SIGTERM in the middle of a session",
    12: "two sessions at once",
    13: "corrupt, truncated, empty, foreign JSON in the reports folder",
    14: "malformed expected.toml",
    15: "a version string or error text crafted to escape",
    16: "abi on a corrupt or non-Mach-O library",
    17: "a reused environment with files deleted, cut or replaced",
    18: "a cache entry garbled, cut, emptied or answering another question",
    19: "a full disk under records, reports, the cache, an environment or a download",
    20: "a run killed with SIGKILL mid-download or mid-write",
    21: "a configured folder that is a file, cannot be made, or is read-only",
    22: "files written 0600, or a symlinked matrix replaced by a file",
}
