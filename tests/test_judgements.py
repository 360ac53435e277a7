"""The judgements of a verify run, each on outputs of the probes' real code paths.

The probes run for real in a TensorFlow environment (CPU only: no accelerator exists here).
Where a judgement needs a Mac's GPU, the one Mac-only fact is added and labelled: the devices
listing a Mac prints (``/physical_device:GPU:0``, as in tensorflow/tensorflow issue 84167).
Each test turns red when its judgement is deleted or inverted.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from helpers.network import OFFLINE
from helpers.paths import PYTHON, TF_MAIN
from helpers.plugins import build_plugin
from helpers.sessions import QUICK_FIT
from tfcompat.core.host import host_info
from tfcompat.core.matrix import PROBES, Row, load_matrix
from tfcompat.core.record import Provision, new_record, write_record
from tfcompat.report import write_reports
from tfcompat.report.history import ABI_SAID_OK
from tfcompat.verify.classify import DATASET_DOWNLOAD
from tfcompat.verify.run import judge, verdict_of
from tfcompat.verify.runner import probe_script, run_probe

ALONE = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
PLUGIN = Row(number=2, python=PYTHON, tf=TF_MAIN, metal="1.1.0", supports="yes")
#: What the devices probe lists on a Mac with tensorflow-metal (recorded shape, not run here:
#: ``[PhysicalDevice(name='/physical_device:GPU:0', device_type='GPU')]`` in tensorflow issue 84167).
MAC_GPUS = ["/physical_device:GPU:0"]
DATASET_FIX = (
    "dataset download failed: the CIFAR-100 download needs network; "
    "run with -- --data synthetic, or fix the network/certificates"
)

pytestmark = [pytest.mark.slow, pytest.mark.network]  # a real TensorFlow environment from PyPI


@pytest.fixture(scope="module")
def runs(tf_python):
    """Each probe run once for real, as verify runs them; the speed-up given 1 s, so it times out."""
    done = {
        name: run_probe(tf_python, probe_script(name), [], timeout=300)
        for name in ("import", "devices", "agree")
    }
    done["fit"] = run_probe(tf_python, probe_script("fit"), QUICK_FIT, timeout=300)
    done["speedup"] = run_probe(tf_python, probe_script("speedup"), [], timeout=1)
    return done


def sections(runs, row: Row, **replaced) -> dict:
    """The probe sections of a record, each judged as ``verify`` judges it."""
    judged = {
        name: judge(name, runs[name], row=row, timeout=1 if name == "speedup" else 300) for name in PROBES
    }
    return {**judged, **replaced}


def test_a_row_with_a_plugin_must_list_a_gpu(runs):
    failed = judge("devices", runs["devices"], row=PLUGIN, timeout=300)
    assert (failed.status, failed.signature) == ("fail", "no GPU device listed")
    assert judge("devices", runs["devices"], row=ALONE, timeout=300).status == "ok"


def test_a_gpu_listed_by_the_devices_probe_and_a_fit_on_the_cpu_fails(runs):
    """The fit's own process listed no GPU and trained on the CPU; the devices probe (a Mac's
    listing) saw one: the training was not placed on the GPU."""
    fit = runs["fit"].result
    assert (fit["gpus"], fit["device"]) == ([], "/CPU:0") and "CPU" in fit["placed_on"]
    failed = judge("fit", runs["fit"], row=PLUGIN, timeout=300, listed_gpus=MAC_GPUS)
    assert (failed.status, failed.signature) == ("fail", "training not placed on the GPU")
    assert judge("fit", runs["fit"], row=PLUGIN, timeout=300, listed_gpus=[]).status == "ok"


def test_a_fit_placed_on_the_gpu_passes(runs):
    """The same real run, with what a Mac's fit reports (its listing, and its variables on the GPU
    under TensorFlow's device name): labelled, since no GPU exists here."""
    on_gpu = {
        **runs["fit"].result,
        "gpus": MAC_GPUS,
        "placed_on": "/job:localhost/replica:0/task:0/device:GPU:0",
    }
    run = runs["fit"]
    mac_run = type(run)(**{**run.__dict__, "result": on_gpu})
    assert judge("fit", mac_run, row=PLUGIN, timeout=300, listed_gpus=MAC_GPUS).status == "ok"
    on_cpu = type(run)(**{**run.__dict__, "result": {**on_gpu, "placed_on": run.result["placed_on"]}})
    assert (
        judge("fit", on_cpu, row=PLUGIN, timeout=300, listed_gpus=[]).signature
        == "training not placed on the GPU"
    )


def test_a_failed_speed_up_never_fails_the_pair(runs):
    probes = sections(runs, ALONE)
    assert (probes["speedup"].status, probes["speedup"].signature) == ("fail", "timeout after 1 s")
    assert [probes[name].status for name in PROBES[:4]] == ["ok"] * 4
    assert verdict_of(Provision(status="ok"), probes) == "ok"


def test_a_failed_judged_probe_fails_the_pair(runs):
    probes = sections(runs, PLUGIN)  # the devices probe lists no GPU for a row with a plugin
    assert verdict_of(Provision(status="ok"), probes) == "fail"


def test_dataset_download_without_network_is_no_verdict(runs, tf_python, tmp_path):
    """Apple's procedure downloads CIFAR-100; here there is no route to it."""
    env = {**os.environ, **OFFLINE, "HOME": str(tmp_path)}  # HOME: no dataset cached in ~/.keras
    run = run_probe(
        tf_python, probe_script("fit"), ["--model", "small", "--samples", "64"], timeout=300, env=env
    )
    result = judge("fit", run, row=PLUGIN, timeout=300)
    assert (result.status, result.signature, result.reason) == (
        "error",
        DATASET_DOWNLOAD,
        DATASET_FIX,
    )
    assert "URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in result.error
    assert verdict_of(Provision(status="ok"), sections(runs, ALONE, fit=result)) == "error"


def test_missing_certificates_are_no_verdict(runs, tf_python, tmp_path):
    """A certificate the machine cannot verify (a python.org Python before "Install
    Certificates.command", an intercepting proxy): made for real by a proxy that presents a
    self-signed certificate for the dataset's host."""
    env = {**os.environ, "HOME": str(tmp_path)}
    with tls_interceptor(tmp_path) as proxy:
        env.update(https_proxy=proxy, HTTPS_PROXY=proxy)
        run = run_probe(
            tf_python, probe_script("fit"), ["--model", "small", "--samples", "64"], timeout=300, env=env
        )
    result = judge("fit", run, row=PLUGIN, timeout=300)
    assert (result.status, result.reason) == ("error", DATASET_FIX)
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in result.error


def test_abi_predicted_a_load_and_the_real_import_failed_is_flagged(tf_python, tmp_path):
    """The import failure is real (a plugin library built here that TensorFlow cannot load); the
    record is filed under a plugin row, as a Mac's would be, next to an abi record predicting ok."""
    library = build_plugin(tmp_path / "plugin", "undefined")
    env = {**os.environ, "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": str(library)}
    failed = judge(
        "import",
        run_probe(tf_python, probe_script("import"), [], timeout=300, env=env),
        row=PLUGIN,
        timeout=300,
    )
    started = "2026-11-24T10:00:00.000000+00:00"
    verify = new_record("verify", PLUGIN, host=MAC_HOST, tools={}, started=started)
    verify.update(
        provision={"status": "ok", "error": None, "signature": None, "packages": []},
        probes={
            "import": msgspec.to_builtins(failed),
            **{name: {"status": "not_reached"} for name in PROBES[1:]},
        },
        finished=started,
    )
    verify["verdict"] = verdict_of(Provision(status="ok"), {"import": failed})
    abi = new_record("abi", PLUGIN, host=host_info(), tools={}, started=started)
    abi.update(
        abi={"verdict": "ok", "first": None, "unresolved": [], "unresolved_count": 0, "wheels": []},
        verdict="ok",
        finished=started,
    )
    reports = tmp_path / "reports"
    for record in (verify, abi):
        write_record(record, reports / "sessions")
    matrix = tmp_path / "expected.toml"
    matrix.write_text(
        f'[defaults]\npython = "{PYTHON}"\n[[row]]\ntf = "{TF_MAIN}"\nmetal = "none"\n[[row]]\ntf = "{TF_MAIN}"\nmetal = "1.1.0"\nsupports = "yes"\n'
    )
    write_reports(load_matrix(matrix), reports, generated=started, host_os="Darwin")
    markdown = (reports / "compatibility.md").read_text()
    assert "Records skipped" not in markdown
    assert f": {ABI_SAID_OK}" in markdown.split("## Claim against observation", 1)[1]


MAC_HOST = {
    "os": "Darwin",
    "os_version": "15.6.1",
    "machine": "arm64",
    "chip": "Apple M1",
    "python": "3.10.18",
}


@contextmanager
def tls_interceptor(folder: Path):
    """An HTTPS proxy at ``http://127.0.0.1:PORT`` that accepts CONNECT and then answers the TLS
    handshake itself, with a self-signed certificate for the requested host."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=www.cs.toronto.edu",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return  # closed
            with connection:
                connection.recv(65536)  # "CONNECT www.cs.toronto.edu:443 HTTP/1.1" and its headers
                connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                try:
                    context.wrap_socket(connection, server_side=True).close()
                except (ssl.SSLError, OSError):
                    pass  # the client refuses the certificate: that is the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
