"""Environments that prove themselves: real uv installs, real files deleted, cut and replaced.

The quick tests install a small wheel made here with the real uv, from a folder of wheels
(``UV_FIND_LINKS``, offline) into a uv cache of their own, so damaging a hard-linked file never
touches the machine's uv cache. The slow ones damage a real tensorflow-cpu environment and show
that the next run rebuilds it and TensorFlow imports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers.environments import build_wheel
from helpers.matrix import write_matrix
from helpers.paths import PYTHON, TF_MAIN
from helpers.sessions import CONTROL, QUICK_FIT, record_dicts, run_nox
from tfcompat.core import uvcall
from tfcompat.core.matrix import Row
from tfcompat.verify import installed, provision
from tfcompat.verify.runner import probe_script, run_probe

SAMPLE = "tfcompat-sample"
DATA = "tfcompat_sample/data.bin"


def site_of(python: Path) -> Path:
    return installed.site_packages(python.parent.parent, PYTHON)


def imports(python: Path) -> bool:
    done = subprocess.run([python, "-c", "import tfcompat_sample"], capture_output=True, check=False)
    return done.returncode == 0


def test_a_new_environment_is_sealed_and_reused_without_hashing(sample):
    python, reused, lines = sample()
    assert not reused and lines[0].startswith("creating ")
    env_dir = python.parent.parent
    assert (env_dir / installed.MANIFEST).is_file()
    record = (site_of(python) / "tfcompat_sample-1.0.dist-info/RECORD").read_text().splitlines()
    checked = [line for line in record if not line.startswith("tfcompat_sample/__pycache__/")]
    python, reused, lines = sample()
    assert reused and lines[0].startswith(f"reusing {env_dir}: {len(checked)} files match their RECORD (")
    checked = installed.check(env_dir, site_of(python), key=_key(env_dir), expected=[f"{SAMPLE}==1.0"])
    assert (checked.sealed, checked.hashed_bytes) == (False, 0)


def _key(env_dir: Path) -> dict:
    """The question the environment's manifest answers, read from its header."""
    return json.loads((env_dir / installed.MANIFEST).read_bytes().partition(b"\n")[0])["key"]


# What the line says after the site-packages folder, for each damage.
DAMAGES = {
    "delete": f"/{DATA}: missing",
    "truncate in place": f"/{DATA}: 51200 bytes, its RECORD says 102400",
    "truncate in place, then restore the mtime": f"/{DATA}: 51200 bytes, its RECORD says 102400",
    "replace with other bytes of the same size": f"/{DATA}: content differs from its RECORD",
    "rewrite in place": f"/{DATA}: content differs from its RECORD",
    "remove RECORD": "/tfcompat_sample-1.0.dist-info/RECORD: missing",
    "remove site-packages": ": missing",
}


@pytest.mark.fault(17)
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_environment_is_rebuilt_with_one_line(sample, damage):
    python, _, _ = sample()
    env_dir, data = python.parent.parent, site_of(python) / DATA
    original = data.read_bytes()
    # Break the hard link to the test's own uv cache first, so the damage is the environment's only.
    data.unlink()
    data.write_bytes(original)
    assert sample()[1], "a copy with the same bytes is still the installed file"
    if damage == "delete":
        data.unlink()
    elif damage == "truncate in place":
        os.truncate(data, len(original) // 2)
    elif damage == "truncate in place, then restore the mtime":
        before = data.stat()
        os.truncate(data, len(original) // 2)
        os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif damage == "replace with other bytes of the same size":
        other = data.with_name("other")
        other.write_bytes(bytes(len(original)))
        os.replace(other, data)
    elif damage == "rewrite in place":
        with open(data, "r+b") as handle:
            handle.write(b"\xff")
    elif damage == "remove RECORD":
        (site_of(python) / "tfcompat_sample-1.0.dist-info/RECORD").unlink()
    else:
        shutil.rmtree(site_of(python))
    python, reused, lines = sample()
    assert not reused
    assert lines == [f"rebuilding {env_dir}: damaged: {site_of(python)}{DAMAGES[damage]}"]
    assert data.read_bytes() == original and imports(python)
    assert sample()[1]  # and the rebuilt one is reused


def test_a_touched_file_is_hashed_once_and_still_reused(sample):
    python, _, _ = sample()
    env_dir, data = python.parent.parent, site_of(python) / DATA
    os.utime(data, ns=(time.time_ns(), time.time_ns() + 10**9))
    checked = installed.check(env_dir, site_of(python), key=_key(env_dir), expected=[f"{SAMPLE}==1.0"])
    assert checked.hashed_bytes == data.stat().st_size and not checked.sealed
    again = installed.check(env_dir, site_of(python), key=_key(env_dir), expected=[f"{SAMPLE}==1.0"])
    assert again.hashed_bytes == 0  # the manifest was refreshed


def test_bytecode_is_not_judged(sample):
    python, _, _ = sample()
    caches = list(site_of(python).glob("tfcompat_sample/__pycache__/*.pyc"))
    assert caches, "uv compiled the sample's bytecode"
    for pyc in caches:
        pyc.unlink()
    assert sample()[1] and imports(python)


def test_a_package_added_by_hand_is_another_set(sample, tmp_path):
    python, _, _ = sample()
    build_wheel(tmp_path / "wheels", name="tfcompat_extra")
    uv = uvcall.uv_binary()
    subprocess.run([uv, "pip", "install", "-q", "--python", python, "tfcompat_extra"], check=True)
    python, reused, lines = sample()
    assert not reused and "not the resolved set: added tfcompat-extra==1.0" in lines[0]


def test_a_damaged_or_foreign_manifest_means_a_full_hash(sample, caplog):
    python, _, _ = sample()
    env_dir = python.parent.parent
    manifest = env_dir / installed.MANIFEST
    manifest.write_bytes(manifest.read_bytes()[:-10])
    python, reused, _ = sample()
    assert reused, "the files are intact: a full hash proves it without a rebuild"
    assert f"cache: {manifest}: its content does not match its checksum; removed it" in caplog.text
    assert (
        installed.check(env_dir, site_of(python), key=_key(env_dir), expected=[f"{SAMPLE}==1.0"]).hashed_bytes
        == 0
    )


def test_an_environment_damaged_again_by_its_rebuild_is_no_verdict(sample, tmp_path):
    """The damage is in uv's own cache: every rebuild hard-links the same bad file."""
    python, _, _ = sample()
    data = site_of(python) / DATA
    with open(data, "r+b") as handle:  # in place: the test's own uv cache holds the same inode
        handle.write(b"\xff")
    with pytest.raises(provision.ProvisionError) as caught:
        sample()
    assert caught.value.signature == "damaged environment"
    message = str(caught.value)
    assert "\n" not in message and f"{data}: content differs from its RECORD" in message
    assert message.endswith("run `uv cache clean tfcompat_sample` and rerun")


# A real TensorFlow environment: the failure issue 14 found, made for real.


def _tf_row() -> Row:
    return Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)


@pytest.fixture
def tf_env(damageable_tf, monkeypatch):
    """``make(log)``: the real TensorFlow environment of the test's own cache (damageable_tf)."""
    monkeypatch.setenv("TFCOMPAT_CACHE", str(damageable_tf))
    return lambda log=lambda _: None: provision.provision(_tf_row(), timeout=900, log=log)


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(17)
def test_a_tensorflow_environment_without_its_library_is_rebuilt_by_the_next_session(tmp_path, tf_env):
    env = tf_env()
    library = site_of(env.python) / "tensorflow/python/_pywrap_tensorflow_internal.so"
    library.unlink()
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": TF_MAIN, "metal": "none"}])
    done = run_nox("-s", CONTROL, "--", *QUICK_FIT, matrix=matrix, reports=tmp_path / "reports")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"rebuilding {env.python.parent.parent}: damaged: {library}: missing" in done.stderr
    assert "Traceback" not in done.stderr
    [record] = record_dicts(tmp_path / "reports")
    assert (record["verdict"], record["provision"]["reused"], record["probes"]["import"]["status"]) == (
        "ok",
        False,
        "ok",
    )


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(17)
def test_a_tensorflow_environment_missing_half_its_files_is_rebuilt_and_imports(tf_env):
    env = tf_env()
    files = sorted(path for path in (env.python.parent.parent / "lib").rglob("*") if path.is_file())
    for path in files[::2]:
        path.unlink()
    lines: list[str] = []
    again = tf_env(lines.append)
    assert not again.reused and lines[0].startswith(f"rebuilding {env.python.parent.parent}: damaged: ")
    run = run_probe(again.python, probe_script("import"), [], timeout=300)
    assert run.returncode == 0 and run.result["tensorflow"] == TF_MAIN, run.stderr_tail


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(17)
def test_a_damaged_environment_that_cannot_be_rebuilt_is_no_verdict(tmp_path, tf_env):
    """Rebuilding needs the wheels: with an empty uv cache and no network, it fails, and the
    record says no verdict, never a verdict on the pair."""
    env = tf_env()
    (site_of(env.python) / "tensorflow/python/_pywrap_tensorflow_internal.so").unlink()
    matrix = write_matrix(tmp_path / "m.toml", [{"tf": TF_MAIN, "metal": "none"}])
    offline = {"UV_CACHE_DIR": str(tmp_path / "empty-uv-cache"), "UV_OFFLINE": "1"}
    done = run_nox("-s", CONTROL, "--", *QUICK_FIT, matrix=matrix, reports=tmp_path / "reports", env=offline)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no verdict: uv pip: " in done.stderr
    [record] = record_dicts(tmp_path / "reports")
    assert (record["verdict"], record["provision"]["status"], record["probes"]) == ("error", "error", {})
    # The next run, with its uv cache back, repairs it.
    again = tf_env()
    assert (
        not again.reused and run_probe(again.python, probe_script("import"), [], timeout=300).returncode == 0
    )
