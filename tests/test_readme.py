"""The README's first commands, read out of README.md and run as a new user would.

Each run gets a scrubbed machine: a fresh HOME (so fresh pip, uv and tfcompat caches), a copy
of this checkout, and a PATH whose ``python3`` is the interpreter under test:
- "apple": CPython 3.9 with pip 21.2.4, the Python and pip of a fresh Mac (Apple's 3.9.6);
- "pep668": CPython 3.9 whose stdlib carries an EXTERNALLY-MANAGED marker, as Homebrew's and
  Debian's do (pip refuses to install into it, which the test checks first);
- "3.10" - "3.13": pyenv's interpreters.
What is kept from this machine: its TLS certificate settings and proxies (the network, not the
user), and the tests' tfcompat cache (KEPT). This machine cannot download interpreters, so uv finds pyenv's 3.11 on PATH (under the
name ``python3.11`` only; ``python3`` stays the one under test); on a Mac uv downloads one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.paths import ROOT

PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
#: What is kept from this machine's environment: how it reaches the network.
NETWORK_KEYS = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
)
#: And the tests' tfcompat cache (conftest: the machine's, like uv's): the main job's complete map
#: is built in it once, not on every fresh HOME (five minutes cold here; the map's cold run is
#: proved by tests/test_map.py and measured by benchmarks/main_job.py). pip's and uv's caches and
#: everything else the commands make stay the fresh HOME's.
KEPT = (*NETWORK_KEYS, "TFCOMPAT_CACHE")
#: A one-row matrix for the main job: a pair the engine predicts to load.
ONE_ROW = '[[row]]\ntf = "2.17.0"\nmetal = "1.1.0"\nsupports = "yes"\n'


def readme_commands() -> tuple[list[str], list[str]]:
    """The main job and the tests command: the first ``sh`` block of README.md, exactly two lines."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, commands
    return commands[0], commands[1]


def interpreter(version: str) -> Path:
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"no CPython {version} under {PYENV}")
    return found[-1]


class Machine:
    """A scrubbed machine in ``root``: its HOME, its PATH, a copy of this checkout."""

    def __init__(self, root: Path, python: Path):
        self.home = root / "home"
        self.bin = root / "bin"
        self.repo = root / "repo"
        for folder in (self.home, self.bin):
            folder.mkdir(parents=True)
        (self.bin / "python3").symlink_to(python)
        found = root / "found"  # what uv may find: a 3.11 under its versioned name only
        found.mkdir()
        (found / "python3.11").symlink_to(interpreter("3.11"))
        self.path = os.pathsep.join([str(self.bin), "/usr/bin", "/bin", str(found)])
        _copy_checkout(self.repo)

    def run(self, argv: list[str], *, env: dict | None = None, timeout: float = 900):
        clean = {"HOME": str(self.home), "PATH": self.path, "LANG": "C.UTF-8", "PIP_CONFIG_FILE": os.devnull}
        clean |= {key: os.environ[key] for key in KEPT if key in os.environ}
        return subprocess.run(
            argv, cwd=self.repo, env=clean | (env or {}), capture_output=True, text=True, timeout=timeout
        )


def _copy_checkout(target: Path) -> None:
    """The files a clone would have (tracked, and new files not ignored), nothing built or cached."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def python_copy(
    tmp_path: Path, *, pip: str | None = None, externally_managed: bool = False, no_pip: bool = False
) -> Path:
    """A private copy of pyenv's CPython 3.9, as a Mac or a distribution would ship it."""
    home = tmp_path / "py39"
    shutil.copytree(interpreter("3.9").parent.parent, home, symlinks=True)
    python = home / "bin" / "python3.9"
    if pip:
        subprocess.run([python, "-m", "pip", "install", "-q", f"pip=={pip}"], check=True, timeout=300)
    if no_pip:  # as Debian's python3 without the python3-pip package
        for found in (home / "lib" / "python3.9" / "site-packages").glob("pip*"):
            shutil.rmtree(found)
    if externally_managed:
        marker = home / "lib" / "python3.9" / "EXTERNALLY-MANAGED"
        marker.write_text("[externally-managed]\nError=This Python is managed by the system.\n")
    return python


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.xdist_group("readme-main-job")  # one worker: the first run's map is the second's
@pytest.mark.parametrize("kind", ["apple", "pep668"])
def test_the_readme_commands_work_on_a_fresh_mac_python_and_a_pep668_python(tmp_path, kind):
    python = python_copy(
        tmp_path, pip="21.2.4" if kind == "apple" else None, externally_managed=kind == "pep668"
    )
    machine = Machine(tmp_path / "machine", python)
    main_job, tests = readme_commands()
    if kind == "pep668":
        refused = machine.run(["python3", "-m", "pip", "install", "uv"])
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr

    matrix = machine.repo / "one-row.toml"
    matrix.write_text(ONE_ROW)
    done = machine.run(main_job, env={"TFCOMPAT_EXPECTED": str(matrix)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Session abi(tf='2.17.0', metal='1.1.0') was successful" in done.stderr
    assert (machine.repo / "reports" / "compatibility.md").is_file()

    # The tests command as written; PYTEST_ADDOPTS keeps this run to one quick test file.
    done = machine.run(tests, env={"PYTEST_ADDOPTS": "-q tests/test_record.py"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ passed", done.stdout)


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_the_readme_route_lists_sessions_as_clean_json_on_every_python(tmp_path, version):
    machine = Machine(tmp_path, interpreter(version))
    main_job, _ = readme_commands()

    first = machine.run([*main_job, "-l", "--json", "-t", "verify"])
    assert first.returncode == 0, first.stderr
    sessions = json.loads(first.stdout)  # nothing but JSON on stdout, even on the first run
    assert "verify(tf='2.19.0', metal='1.2.0')" in {session["session"] for session in sessions}

    warm = machine.run([*main_job, "-l", "--json", "-t", "verify"])
    assert json.loads(warm.stdout) == sessions
    assert warm.stderr == ""  # a warm run installs nothing and says nothing


def test_the_tests_read_their_commands_from_the_readme():
    main_job, tests = readme_commands()
    assert main_job == ["python3", "noxfile.py"]
    assert tests == [*main_job, "-s", "tests"]


def test_a_python_without_pip_is_told_what_to_do_in_one_line(tmp_path):  # offline: it stops before uv
    # Debian's python3 without python3-pip: the noxfile cannot put uv in .tools/ itself.
    machine = Machine(tmp_path / "machine", python_copy(tmp_path, no_pip=True))
    main_job, _ = readme_commands()
    done = machine.run(main_job)
    assert done.returncode == 2
    installing, line = done.stderr.splitlines()
    assert installing.startswith("tfcompat: installing uv ")
    assert line.startswith("tfcompat: could not install uv ") and "has no pip" in line
    assert "install uv" in line.split(";")[-1]
    assert not (machine.repo / ".tools" / "bin" / "uv").exists()


@pytest.mark.network  # uv lock --locked resolves against the index
def test_the_locks_are_current_and_the_readme_runs_from_them():
    # An upstream release changes nothing until `nox -s lock` updates the locks on purpose.
    from tfcompat.core.uvcall import uv_binary

    for selection in (["--script", "noxfile.py"], []):
        done = subprocess.run(
            [uv_binary(), "lock", "--locked", "--quiet", *selection], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert '"run", "--locked"' in (ROOT / "tfcompat" / "core" / "bootstrap.py").read_text()
