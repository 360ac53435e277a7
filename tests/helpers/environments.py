"""Environments for the tests: a small wheel made here, installed with the real uv."""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path


def build_wheel(folder: Path, version: str = "1.0", *, name: str = "tfcompat_sample") -> Path:
    """A pure-Python wheel with a module, 100 kB of data and a correct RECORD.

    Like numpy's, it ships a ``.pyc`` that ``--compile-bytecode`` rewrites, so the installed one
    no longer matches RECORD's hash.
    """
    dist_info = f"{name}-{version}.dist-info"
    tag = sys.implementation.cache_tag
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{name}/__pycache__/__init__.{tag}.pyc": b"a bytecode file of another build",
        f"{name}/data.bin": bytes(range(256)) * 400,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tfcompat-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", record + f"{dist_info}/RECORD,,\n")
    return wheel
