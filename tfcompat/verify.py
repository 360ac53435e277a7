"""One verify run: provision a row, run its probes in order, judge them, write the record."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from tfcompat.binaryonly import NotInstallable
from tfcompat.classify import (
    error_excerpt,
    known_signature,
    signature_of_signal,
    signature_of_text,
    signature_of_timeout,
)
from tfcompat.host import host_info, tool_versions
from tfcompat.matrix import PROBES, Row
from tfcompat.provision import ProvisionError, provision, uv_binary
from tfcompat.record import new_record, now, write_record
from tfcompat.runner import TAIL_BYTES, ProbeRun, probe_script, run_probe


def probe_args(fit_argv: list[str]) -> dict[str, list[str]]:
    """Each probe's arguments, from ``nox -s verify -- ARGS`` (the fit probe's options).

    The fit probe's own parser checks them before anything is built (it is the one definition
    of its options, and imports TensorFlow only in ``main``, so loading it here is cheap);
    argparse exits with its usage line on a bad option. The speed-up probe times the same model
    and batch size as the fit.
    """
    spec = importlib.util.spec_from_file_location("tfcompat_fit_probe", probe_script("fit"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fit = module.parse_args(fit_argv)
    args = {name: [] for name in PROBES}
    args["fit"] = list(fit_argv)
    args["speedup"] = ["--model", fit.model, "--batch-size", str(fit.batch_size)]
    return args


def run_verify(
    row: Row, *, timeouts: dict[str, float], args: dict[str, list[str]], log: Callable[[str], None] = print
) -> tuple[dict, Path]:
    """Verify ``row`` here; return its record and where it was written.

    Raises ``NotRunnableHere`` (before anything is installed or written) when this OS cannot run
    the row at all.
    """
    started = now()
    uv = uv_binary()
    record = new_record("verify", row, host=host_info(), tools=tool_versions(uv), started=started)
    record["probes"] = {}
    try:
        env = provision(row, timeout=timeouts["provision"], log=log)
    except NotInstallable as exc:
        # Neither a pass nor a failure of the pair: no set of wheels installs it here.
        record["provision"] = {
            "status": "not_installable",
            "signature": exc.signature,
            "error": str(exc),
            "detail": exc.detail[-TAIL_BYTES:],
            "missing": exc.missing,
        }
        record["verdict"] = "not_installable"
        log(f"not installable from wheels: {exc}")
    except ProvisionError as exc:
        record["provision"] = {
            "status": "error",
            "signature": exc.signature,
            "error": str(exc),
            "detail": exc.detail[-TAIL_BYTES:],  # uv's own words, bounded like a probe's tail
        }
        record["verdict"] = "error"
        log(f"provisioning failed: {exc}")
    else:
        record["provision"] = {
            "status": "ok",
            "error": None,
            "signature": None,
            "seconds": env.seconds,
            "interpreter": env.interpreter,
            "requirements": env.requirements,
            "exclude_newer": env.exclude_newer,
            "packages": env.packages,
            "reused": env.reused,
            "missing": env.missing,
            "exclude_newer_package": env.exclude_newer_package,
            "sdists": env.sdists,
        }
        log(f"provisioned in {env.seconds:.1f} s: {', '.join(env.requirements)}")
        record["probes"] = _run_probes(row, env.python, timeouts=timeouts, args=args, log=log)
        # The speed-up is a measurement, not a check: it never fails a pair.
        judged = [probe["status"] for name, probe in record["probes"].items() if name != "speedup"]
        record["verdict"] = "ok" if all(status == "ok" for status in judged) else "fail"
    record["finished"] = now()
    return record, write_record(record)


def _run_probes(row: Row, python: Path, *, timeouts, args, log) -> dict[str, dict]:
    results: dict[str, dict] = {}
    env = dict(os.environ)  # passed through: TF_PLUGGABLE_DEVICE_LIBRARY_PATH, proxies, TF_* flags
    for name in PROBES:
        if any(result["status"] != "ok" for result in results.values()):
            results[name] = {"status": "not_reached"}
            continue
        run = run_probe(python, probe_script(name), args[name], timeout=timeouts[name], env=env)
        results[name] = judge(name, run, row=row, timeout=timeouts[name])
        outcome = results[name]
        log(f"probe {name}: {outcome['status']} in {run.seconds:.1f} s" + _because(outcome))
    return results


def judge(name: str, run: ProbeRun, *, row: Row, timeout: float) -> dict:
    """The probe's result section: its status and, when it failed, the signature and error."""
    error = None
    if run.timed_out:
        signature = signature_of_timeout(timeout)
    elif run.signal:
        # An abort can carry the reason before it ("platform is already registered ..."):
        # that names the failure better than the signal does.
        signature = known_signature(run.stderr_tail) or signature_of_signal(-run.returncode)
        error = error_excerpt(run.stderr_tail)
    elif run.returncode != 0:
        error = error_excerpt(run.stderr_tail)
        signature = signature_of_text(error) or f"exit code {run.returncode}"
    elif run.result is None:
        signature = "probe produced no result"
    else:
        signature = _observed_failure(name, run.result, row)
    return {
        "status": "ok" if signature is None else "fail",
        "returncode": run.returncode,
        "signal": run.signal,
        "seconds": run.seconds,
        "timed_out": run.timed_out,
        "signature": signature,
        "error": error,
        "stdout_tail": run.stdout_tail,
        "stderr_tail": run.stderr_tail,
        "result": run.result,
    }


def _observed_failure(name: str, result: dict, row: Row) -> str | None:
    """What is wrong with a probe that ran to the end, judged from what it printed."""
    if name == "devices" and row.has_plugin and not result.get("gpus"):
        return "no GPU device listed"
    if name == "fit":
        if not result.get("finite", False):
            return "non-finite loss"
        if row.has_plugin and result.get("gpus") and "GPU" not in str(result.get("placed_on", "")):
            return "training not placed on the GPU"
    if name == "agree" and not result.get("agrees", False):
        worst = [c for c in result.get("comparisons", []) if not c.get("agrees")]
        return f"disagrees with {result.get('reference')}: " + ", ".join(c["name"] for c in worst)
    return None


def _because(outcome: dict) -> str:
    return f": {outcome['signature']}" if outcome.get("signature") else ""
