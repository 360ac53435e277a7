"""One verify run: provision a row, run its probes in order, judge them, write the record.

Probe statuses: ``ok``; ``fail`` (the pair failed); ``error`` (no verdict: the machine failed,
e.g. the dataset could not be downloaded); ``skipped`` (could not measure here, e.g. a speed-up
with no GPU); ``not_reached`` (an earlier probe did not pass). The record's verdict is ``fail``
when a judged probe failed, else ``error`` when one could not decide, else ``ok``; the speed-up
is a measurement and never decides it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tfcompat.core.config import sessions_dir
from tfcompat.core.host import host_info, tool_versions
from tfcompat.core.matrix import PROBES, Row
from tfcompat.core.record import (
    Probe,
    Provision,
    Record,
    make_record,
    new_id,
    now,
    row_fields,
    stem,
    write_record,
)
from tfcompat.core.uvcall import uv_binary
from tfcompat.resolve.binaryonly import NotInstallable
from tfcompat.resolve.resolver import ResolveError
from tfcompat.verify.classify import (
    error_excerpt,
    known_signature,
    no_verdict_reason,
    signature_of_signal,
    signature_of_text,
    signature_of_timeout,
)
from tfcompat.verify.provision import provision
from tfcompat.verify.runner import TAIL_BYTES, ProbeRun, probe_script, run_probe

#: Probes whose status decides the verdict: all but the speed-up, a measurement.
JUDGED = tuple(name for name in PROBES if name != "speedup")
#: Statuses after which the next probe still runs.
PASSING = ("ok", "skipped")


def probe_args(fit_argv: list[str]) -> dict[str, list[str]]:
    """Each probe's arguments, from ``nox -s verify -- ARGS`` (the fit probe's options).

    The fit probe's own parser checks them before anything is built (it is the one definition
    of its options, and imports TensorFlow only in ``main``, so loading it here is cheap);
    argparse exits with its usage line on a bad option. ``--device cpu`` is refused: verify
    judges training on the GPU wherever one is listed. The speed-up probe times the same model
    and batch size as the fit.
    """
    spec = importlib.util.spec_from_file_location("tfcompat_fit_probe", probe_script("fit"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fit = module.parse_args(fit_argv)
    if fit.device == "cpu":
        print(
            "fit: --device cpu is for running probes/fit.py by hand: verify trains on the GPU",
            file=sys.stderr,
        )
        raise SystemExit(2)
    args = {name: [] for name in PROBES}
    args["fit"] = list(fit_argv)
    args["speedup"] = ["--model", fit.model, "--batch-size", str(fit.batch_size)]
    return args


def run_verify(
    row: Row,
    *,
    timeouts: dict[str, float],
    args: dict[str, list[str]],
    log: Callable[[str], None] = print,
    echo: BinaryIO | None = None,
) -> tuple[Record, Path]:
    """Verify ``row`` here; return its record and where it was written.

    The probes' whole stdout and stderr go to ``<record stem>.logs/`` beside the record; their
    stdout is also copied to ``echo`` (default: this process's stdout) while they run. An
    interrupted run (Ctrl-C, SIGTERM, any exception) writes no record and removes its logs.
    Raises ``NotRunnableHere`` (before anything is installed or written) when this OS cannot run
    the row at all.
    """
    started = now()
    host, tools = host_info(), tool_versions(uv_binary())
    record_id = new_id(started)
    folder = sessions_dir()
    logs = folder / f"{stem('verify', row_fields(row), record_id)}.logs"
    probes: dict[str, Probe] = {}
    try:
        try:
            env = provision(row, timeout=timeouts["provision"], log=log)
        except NotInstallable as exc:
            # Neither a pass nor a failure of the pair: no set of wheels installs it here.
            section = Provision(
                status="not_installable",
                signature=exc.signature,
                error=str(exc),
                detail=exc.detail[-TAIL_BYTES:],
                missing=exc.missing,
            )
            log(f"not installable from wheels: {exc}")
        except ResolveError as exc:  # provisioning, or a resolution, reached no verdict
            section = Provision(
                status="error",
                signature=exc.signature,
                error=str(exc),
                detail=exc.detail[-TAIL_BYTES:],  # uv's own words, bounded like a probe's tail
            )
            log(f"provisioning failed: {exc}")
        else:
            section = Provision(
                status="ok",
                seconds=env.seconds,
                interpreter=env.interpreter,
                requirements=env.requirements,
                exclude_newer=env.exclude_newer,
                packages=env.packages,
                reused=env.reused,
                missing=env.missing,
                exclude_newer_package=env.exclude_newer_package,
                sdists=env.sdists,
            )
            log(f"provisioned in {env.seconds:.1f} s: {', '.join(env.requirements)}")
            log(f"probe output, in full: {logs}")
            echo = echo if echo is not None else sys.stdout.buffer
            probes = _run_probes(row, env.python, timeouts=timeouts, args=args, log=log, logs=logs, echo=echo)
        record = make_record(
            "verify",
            row,
            host=host,
            tools=tools,
            started=started,
            id=record_id,
            verdict=verdict_of(section, probes),
            provision=section,
            probes=probes,
        )
        return record, write_record(record, folder)
    except BaseException:
        # Nothing half-written: the logs of a run without a record would explain nothing.
        shutil.rmtree(logs, ignore_errors=True)
        raise


def verdict_of(provision: Provision, probes: dict[str, Probe]) -> str:
    """``not_installable`` when no set of wheels installs the row, ``fail`` if a judged probe
    failed, ``error`` if provisioning or a judged probe could not decide, else ``ok``; the
    speed-up never decides."""
    if provision.status in ("error", "not_installable"):
        return provision.status
    judged = [probes[name].status for name in JUDGED if name in probes]
    if "fail" in judged:
        return "fail"
    if "error" in judged:
        return "error"
    return "ok"


def _run_probes(
    row: Row, python: Path, *, timeouts, args, log, logs: Path, echo: BinaryIO
) -> dict[str, Probe]:
    results: dict[str, Probe] = {}
    env = dict(os.environ)  # passed through: TF_PLUGGABLE_DEVICE_LIBRARY_PATH, proxies, TF_* flags
    for name in PROBES:
        if any(result.status not in PASSING for result in results.values()):
            results[name] = Probe(status="not_reached")
            continue
        run = run_probe(
            python, probe_script(name), args[name], timeout=timeouts[name], env=env, log_dir=logs, echo=echo
        )
        devices = results.get("devices")
        listed = (devices.result if devices else None) or {}
        outcome = judge(name, run, row=row, timeout=timeouts[name], listed_gpus=listed.get("gpus") or [])
        # Relative to the record's folder, so a collected folder of records keeps its links.
        stdout, stderr = run.logs
        outcome.logs = {"stdout": f"{logs.name}/{stdout.name}", "stderr": f"{logs.name}/{stderr.name}"}
        results[name] = outcome
        log(f"probe {name}: {outcome.status} in {run.seconds:.1f} s" + _because(outcome))
    return results


def judge(name: str, run: ProbeRun, *, row: Row, timeout: float, listed_gpus: list[str] = ()) -> Probe:
    """The probe's result section: its status and, when it did not pass, the signature and why.

    ``listed_gpus``: the GPUs the devices probe listed (a fit judged against its own listing
    alone would pass on the CPU when its process does not see the GPU).
    """
    error = None
    skipped = None
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
        signature = _observed_failure(name, run.result, row, listed_gpus)
        skipped = run.result.get("skipped") if signature is None else None
    reason = no_verdict_reason(signature)
    if signature is None:
        status = "skipped" if skipped else "ok"
    else:
        status = "error" if reason else "fail"
    return Probe(
        status=status,
        returncode=run.returncode,
        signal=run.signal,
        seconds=run.seconds,
        timed_out=run.timed_out,
        signature=signature,
        reason=reason or (str(skipped) if skipped else None),
        error=error,
        stdout_tail=run.stdout_tail,
        stderr_tail=run.stderr_tail,
        result=run.result,
    )


def _observed_failure(name: str, result: dict, row: Row, listed_gpus: list[str]) -> str | None:
    """What is wrong with a probe that ran to the end, judged from what it printed."""
    if name == "devices" and row.has_plugin and not result.get("gpus"):
        return "no GPU device listed"
    if name == "fit":
        if not result.get("finite", False):
            return "non-finite loss"
        if (listed_gpus or result.get("gpus")) and "GPU" not in str(result.get("placed_on", "")):
            return "training not placed on the GPU"
    if name == "agree":
        # The known bug first ("wrong numbers: fused Dense+ReLU in graph mode on GPU:0, max error
        # 0.31, tensorflow#62137"), then the reference workload's disagreements as before.
        found = [_check_failure(entries) for entries in _failed_checks(result.get("checks"))]
        worst = [c for c in result.get("comparisons", []) if not c.get("agrees")]
        if worst or (not found and not result.get("agrees", False)):
            where = ", ".join(_where(c) for c in worst)
            found.append(f"disagrees with {result.get('reference')}: {where}")
        return "; ".join(found) or None
    return None


def _failed_checks(checks: object) -> list[list[dict]]:
    """The agree probe's failed named checks, grouped by check, device and kind of failure (the
    modes that failed alike form one group), in the order they ran."""
    groups: dict[tuple, list[dict]] = {}
    for entry in checks if isinstance(checks, list) else []:
        if isinstance(entry, dict) and entry.get("status") == "fail":
            key = (_text(entry.get("check")), _text(entry.get("device")), _text(entry.get("failure")))
            groups.setdefault(key, []).append(entry)
    return list(groups.values())


def _check_failure(entries: list[dict]) -> str:
    """``KIND: TITLE[ in MODE mode] on DEVICE, FINDING, SOURCES``; a raised error is named by its
    known signature (``missing GPU kernel: OP``) where it has one."""
    first = entries[0]
    modes = [_text(e.get("mode")) for e in entries if e.get("mode") in ("eager", "graph")]
    mode = f" in {' and '.join(modes)} mode" if modes else ""
    finding = _text(first.get("finding"))
    if first.get("failure") == "op fails":
        finding = known_signature(_text(first.get("error"), 4000)) or finding
    sources = first.get("sources") if isinstance(first.get("sources"), list) else []
    parts = [f"{_text(first.get('title'))}{mode} on {_text(first.get('device')).lstrip('/')}", finding]
    parts += [_text(source) for source in sources[:4]]
    return f"{_text(first.get('failure')) or 'failed'}: " + ", ".join(part for part in parts if part)


def _text(value: object, limit: int = 200) -> str:
    """A field of the probe's result as one bounded line (the result is the probe's output)."""
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:limit]


def _where(comparison: dict) -> str:
    """``matmul on GPU:0``; a comparison without a device (an older agree probe) is its name alone."""
    device = str(comparison.get("device") or "").lstrip("/")
    return f"{comparison.get('name')} on {device}" if device else str(comparison.get("name"))


def _because(outcome: Probe) -> str:
    why = outcome.reason or outcome.signature
    prefix = "no verdict: " if outcome.status == "error" else ""
    return f": {prefix}{why}" if why else ""
