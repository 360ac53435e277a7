"""``nox -s doctor -- [PYTHON] [--json] [--fix] [--macos V] [--probes auto|yes|no]``.

Reads the environment, asks the engine, judges, prints the diagnosis and the one fix, and
returns the exit code: 0 healthy, 1 a problem found, 2 cannot tell (the reason is the last
line). Nothing in the environment changes unless ``--fix`` is given (and only on a Mac).
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
from collections.abc import Callable
from typing import TextIO

import msgspec

from tfcompat.core.errors import TfcompatError
from tfcompat.core.host import host_info
from tfcompat.core.uvcall import uv_binary
from tfcompat.doctor import answer, checks
from tfcompat.doctor.environment import READ, Environment, find_python, read_environment
from tfcompat.doctor.fix import fix_for, run_fix
from tfcompat.doctor.model import (
    EXIT_CODES,
    Diagnosis,
    Distribution,
    EnvironmentFacts,
    Finding,
    Pair,
    ProbeResult,
)
from tfcompat.doctor.probes import run_probes

_MACOS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}")
ON_A_MAC = platform.system() == "Darwin"
NOT_A_MAC = (
    f"not run here: the probes need a Mac for the GPU (this is {platform.system()}); --probes yes runs them"
)


#: The exit codes of the doctor's runs in this process, for the noxfile (its exit code 2).
RUNS: list[int] = []


class BadOption(TfcompatError):
    """An option that cannot be used; one line."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nox -s doctor --",
        description="Check the TensorFlow + tensorflow-metal environment you already have, and print "
        "the one command that fixes it. Exit 0 healthy, 1 a problem found, 2 cannot tell.",
    )
    parser.add_argument(
        "python",
        nargs="?",
        help="an interpreter or a virtual environment's folder (default: the active virtual "
        "environment, else python3 on PATH)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the diagnosis as JSON (schemas/doctor.schema.json)"
    )
    parser.add_argument(
        "--fix", action="store_true", help="run the fix in that environment, then probe again (a Mac only)"
    )
    parser.add_argument(
        "--macos", help="judge the floors for this macOS (default: this Mac's; none elsewhere)"
    )
    parser.add_argument(
        "--probes",
        choices=("auto", "yes", "no"),
        default="auto",
        help="run the import and devices probes in the environment: auto (on a Mac), yes, no",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the engine's progress lines")
    return parser.parse_args(argv)


def main(argv: list[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the doctor; return its exit code. A bad option is exit 2 (argparse's own)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = parse(argv)
    except SystemExit as exc:
        RUNS.append(0 if exc.code == 0 else 2)
        return RUNS[-1]
    diagnosis = diagnose(args, log=lambda line: print(line, file=err))
    RUNS.append(diagnosis.exit_code)
    if args.json:
        out.write(msgspec.json.format(msgspec.json.encode(diagnosis), indent=1).decode() + "\n")
    else:
        out.write(render(diagnosis))
    return diagnosis.exit_code


def diagnose(args: argparse.Namespace, *, log: Callable[[str], None]) -> Diagnosis:
    """The whole diagnosis; every error the doctor expects ends as a diagnosis of "cannot tell"."""
    engine_log = log if args.verbose else (lambda line: None)
    try:
        if args.macos is not None and not _MACOS.fullmatch(args.macos):
            raise BadOption(f"--macos {args.macos[:40]!r}: not a macOS version (e.g. 15.3)")
        if args.fix and not ON_A_MAC:
            raise BadOption(
                f"--fix runs only on a Mac (tensorflow-metal has no wheels for {platform.system()}): "
                "nothing was changed; the commands are printed without it"
            )
        env = read_environment(find_python(args.python))
    except TfcompatError as exc:
        return _cannot_tell(str(exc))
    host = host_info() if ON_A_MAC else {}
    macos = args.macos or (
        host.get("os_version") if ON_A_MAC and host.get("os_version") != "unknown" else None
    )
    chip = host.get("chip")
    tf, metal = env.tensorflow, env.version_of(checks.PLUGIN)
    uv_binary()  # asked once here: the engine's threads must not be the first to ask (sysconfig)
    answers = answer.ask(env.minor, tf.version if tf else None, metal, macos=macos, chip=chip, log=engine_log)
    findings = judge(env, answers, macos)
    fix = fix_for(env, answers) if any(f.severity == "problem" for f in findings) else None
    probes: list[ProbeResult] = []
    if args.probes == "yes" or (args.probes == "auto" and ON_A_MAC):
        if tf is not None:
            probes = run_probes(env.python, python_minor=env.minor, tf=tf.version, metal=metal)
            findings += [_seen(probe) for probe in probes]
    elif tf is not None:
        probes = [ProbeResult(probe="import", status="not_run", detail=NOT_A_MAC)]
    fixed = None
    if args.fix and fix is not None and fix.commands:
        try:
            run_fix(fix, log=log)
            fixed = True
        except TfcompatError as exc:
            fixed = False
            findings.append(checks._read("fix", "problem", f"the fix failed: {exc}"))
        after = read_environment(env.python)
        new_tf = after.tensorflow
        if new_tf is not None:
            probes += run_probes(
                env.python,
                python_minor=env.minor,
                tf=new_tf.version,
                metal=after.version_of(checks.PLUGIN),
                after_fix=True,
            )
    status = _status(findings, probes, fixed)
    return Diagnosis(
        status=status,
        exit_code=EXIT_CODES[status],
        summary=_summary(status, findings, answers),
        environment=_facts(env, macos, chip),
        pair=Pair(tf=tf.version if tf else "none", metal=metal or "none"),
        findings=findings,
        fix=fix,
        probes=probes,
        fixed=fixed,
    )


def judge(env: Environment, answers: answer.Answers, macos: str | None) -> list[Finding]:
    """Every judgement, in the order it is printed."""
    found = checks.installed_set(env) + checks.python_served(env, answers) + checks.on_index(env, answers)
    if answers.unknown:
        found.append(
            checks._read(
                "engine",
                "unknown",
                f"the map's engine cannot answer: {answers.unknown}; run nox -s map once with network",
            )
        )
    required = checks.requirements(env)
    found += required
    found += checks.new_majors(env, answers, {finding.check for finding in required})
    found += checks.load(env, answers) + checks.floors(env, answers, macos) + checks.hazard(env, answers)
    if answers.recommended is None and answers.reason and not answers.unknown:
        found.append(checks._read("answer", "unknown", f"no fix to offer: {answers.reason}"))
    return found


def _seen(probe: ProbeResult) -> Finding:
    severity = "ok" if probe.status == "ok" else "problem"
    return Finding(
        check=f"probe {probe.probe}",
        severity=severity,
        kind="seen",
        text=f"{probe.probe} probe in this environment: {probe.detail}",
        source="probes/" + probe.probe + ".py, run in this environment",
    )


def _status(findings: list[Finding], probes: list[ProbeResult], fixed: bool | None) -> str:
    if fixed and probes and all(p.status == "ok" for p in probes if p.after_fix):
        return "healthy"
    severities = {finding.severity for finding in findings}
    if "problem" in severities:
        return "problem"
    if "unknown" in severities:
        return "unknown"
    return "healthy"


def _summary(status: str, findings: list[Finding], answers: answer.Answers) -> str:
    if status == "healthy":
        return "healthy: nothing wrong found"
    first = next(f for f in findings if f.severity == ("problem" if status == "problem" else "unknown"))
    count = sum(f.severity == "problem" for f in findings)
    if status == "problem":
        return f"{count} problem{'s' if count > 1 else ''} found; the first: {first.text}"
    return f"cannot tell: {first.text}"


def _cannot_tell(reason: str) -> Diagnosis:
    return Diagnosis(
        status="unknown", exit_code=EXIT_CODES["unknown"], summary=f"cannot tell: {reason}", environment=None
    )


def _facts(env: Environment, macos: str | None, chip: str | None) -> EnvironmentFacts:
    return EnvironmentFacts(
        python=str(env.python),
        version=env.version,
        virtual=env.virtual,
        prefix=env.prefix,
        distributions=[
            Distribution(name=d.name, version=d.version, metadata=d.metadata)
            for name in READ
            if (d := env.distributions.get(name)) is not None
        ],
        os=platform.system(),
        macos=macos,
        chip=chip,
    )


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as text: the environment, one line per finding, the fix, the verdict last."""
    lines = []
    env = diagnosis.environment
    if env is not None:
        kind = "virtual environment" if env.virtual else "not a virtual environment"
        lines.append(f"tfcompat doctor: {env.python} (Python {env.version}, {kind})")
        installed = ", ".join(f"{d.name} {d.version}" for d in env.distributions if d.name != "pip")
        lines.append(f"installed: {installed or 'none of the distributions that matter'}")
        if env.macos:
            lines.append(f"macOS: {env.macos}" + (f" ({env.chip})" if env.chip else ""))
        else:
            lines.append(
                f"macOS: none ({env.os}): judged for any Apple-silicon Mac; --macos VERSION names one"
            )
        lines.append("")
    for finding in diagnosis.findings:
        source = f"  [{finding.kind}: {finding.source}]" if finding.source else f"  [{finding.kind}]"
        lines.append(f"{finding.mark} {finding.text}{source}")
    for probe in diagnosis.probes:
        if probe.status == "not_run":
            lines.append(f"· {probe.probe} probe: {probe.detail}")
    fix = diagnosis.fix
    if fix is not None:
        lines.append("")
        if fix.recommendation is not None:
            rec = fix.recommendation
            where = "a new environment on " if fix.new_environment else ""
            lines.append(
                f"fix: {where}the pair the answer recommends for Python {rec.python}: "
                f"TensorFlow {rec.pair.tf} + tensorflow-metal {rec.pair.metal} ({rec.evidence}; {rec.source})"
            )
        lines += [f"  {text}" for text in fix.text]
        if fix.note:
            lines.append(f"  note: {fix.note}")
    if diagnosis.fixed is not None:
        lines.append(f"fix run: {'done' if diagnosis.fixed else 'failed'}")
    lines.append("")
    lines.append(f"{diagnosis.summary} (exit {diagnosis.exit_code})")
    return "\n".join(lines) + "\n"
