"""The GitHub Actions workflows: their security properties, and their shell steps run for real.

Each property is a check that returns the problems it finds; the shipped workflows must have
none, and each check must find the problem in a copy of a workflow broken on purpose, so a check
that stopped looking would fail here. The steps that turn `nox -l --json` into the job matrix,
choose the runners, ask for new releases and decide on publishing are bash: they run here with
bash, jq, the suite's pinned uv and the real noxfile on a small matrix.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers.matrix import write_matrix
from helpers.paths import ROOT
from helpers.sessions import CONTROL, QUICK_FIT, run_nox

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
TAG_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
#: The only write permissions any job holds: publishing the report to GitHub Pages.
ALLOWED_WRITES = {("predict", "publish", "pages"), ("predict", "publish", "id-token")}


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    return workflow.get("on", workflow.get(True)) or {}


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def step_named(workflow: dict, job: str, name: str) -> dict:
    return next(step for step in workflow["jobs"][job]["steps"] if step.get("name") == name)


# Checks: each returns the problems it finds in one workflow --------------------------------------


def unpinned_actions(name: str, workflow: dict, text: str) -> list[str]:
    problems = [f"{job}: {step['uses']}" for job, step in steps(workflow) if "uses" in step]
    problems = [problem for problem in problems if not PINNED.fullmatch(problem.split(": ", 1)[1])]
    problems += [
        f"no version comment: {line.strip()}"
        for line in text.splitlines()
        if re.match(r"\s*(-\s+)?uses:", line) and not TAG_COMMENT.search(line)
    ]
    return problems


def permission_problems(name: str, workflow: dict, text: str) -> list[str]:
    problems = [] if workflow.get("permissions") == {} else ["the workflow grants permissions to every job"]
    for job_name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            problems.append(f"{job_name}: no permissions of its own (or a blanket one: {permissions!r})")
            continue
        problems += [
            f"{job_name}: {scope}: write"
            for scope, level in permissions.items()
            if level == "write" and (name, job_name, scope) not in ALLOWED_WRITES
        ]
    return problems


def dangerous_triggers(name: str, workflow: dict, text: str) -> list[str]:
    # Both run with the base repository's token and secrets on code a fork may control.
    return [trigger for trigger in ("pull_request_target", "workflow_run") if trigger in triggers(workflow)]


def persisted_credentials(name: str, workflow: dict, text: str) -> list[str]:
    return [
        f"{job}: checkout keeps the token in .git"
        for job, step in steps(workflow)
        if step.get("uses", "").startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def expressions_in_scripts(name: str, workflow: dict, text: str) -> list[str]:
    # An expression inside `run:` is pasted into the script before bash reads it (template
    # injection); every value reaches a script through `env:` instead.
    return [
        f"{job}: {step.get('name', step['run'][:40])}"
        for job, step in steps(workflow)
        if "${{" in step.get("run", "")
    ]


CHECKS = [
    unpinned_actions,
    permission_problems,
    dangerous_triggers,
    persisted_credentials,
    expressions_in_scripts,
]


@pytest.mark.parametrize("name", ["predict", "verify"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_workflows_have_no_security_problem(check, name):
    text = (WORKFLOWS / f"{name}.yml").read_text()
    assert check(name, yaml.safe_load(text), text) == []


def _checkout(workflow: dict) -> dict:
    return next(step for _, step in steps(workflow) if step.get("uses", "").startswith("actions/checkout@"))


def _break_pin(workflow, text):
    _checkout(workflow)["uses"] = "actions/checkout@v7"
    return text.replace("# v7.0.1", "", 1)


def _break_workflow_permissions(workflow, text):
    workflow["permissions"] = "write-all"
    return text


def _break_job_permissions(workflow, text):
    del workflow["jobs"]["verify"]["permissions"]
    return text


def _add_write(workflow, text):
    workflow["jobs"]["merge"]["permissions"]["contents"] = "write"
    return text


def _add_trigger(workflow, text):
    triggers(workflow)["pull_request_target"] = None
    return text


def _persist(workflow, text):
    _checkout(workflow)["with"].pop("persist-credentials")
    return text


def _inject(workflow, text):
    workflow["jobs"]["verify"]["steps"][1]["run"] = 'python3 noxfile.py -s "${{ matrix.session }}"'
    return text


@pytest.mark.parametrize(
    ("check", "breakage"),
    [
        (unpinned_actions, _break_pin),
        (permission_problems, _break_workflow_permissions),
        (permission_problems, _break_job_permissions),
        (permission_problems, _add_write),
        (dangerous_triggers, _add_trigger),
        (persisted_credentials, _persist),
        (expressions_in_scripts, _inject),
    ],
    ids=lambda item: item.__name__,
)
def test_each_check_finds_its_problem(check, breakage):
    text = (WORKFLOWS / "verify.yml").read_text()
    workflow = copy.deepcopy(yaml.safe_load(text))
    broken_text = breakage(workflow, text)
    assert check("verify", workflow, broken_text) != []


# The shape of each workflow ------------------------------------------------------------------------


def test_the_verify_matrix_comes_from_nox_list_json():
    workflow = load("verify")
    setup, verify = workflow["jobs"]["setup"], workflow["jobs"]["verify"]
    sessions_step = next(step for step in setup["steps"] if step.get("id") == "sessions")
    assert "noxfile.py -l --json" in sessions_step["run"]
    assert setup["outputs"]["sessions"] == "${{ steps.sessions.outputs.sessions }}"
    assert verify["needs"] == "setup"
    assert verify["strategy"] == {
        "fail-fast": False,
        "matrix": {"include": "${{ fromJSON(needs.setup.outputs.sessions) }}"},
    }
    run = step_named(workflow, "verify", "Run the session")
    assert run["env"]["SESSION"] == "${{ matrix.session }}"
    assert 'noxfile.py -s "$SESSION"' in run["run"]


def test_the_runners_come_from_the_labels_variable_or_the_hosted_input():
    workflow = load("verify")
    assert workflow["jobs"]["verify"]["runs-on"] == "${{ fromJSON(needs.setup.outputs.runner) }}"
    runner_step = next(step for step in workflow["jobs"]["setup"]["steps"] if step.get("id") == "runner")
    assert runner_step["env"] == {
        "HOSTED": "${{ inputs.hosted }}",
        "HOSTED_IMAGE": "${{ inputs.hosted_image }}",
        "MAC_RUNNER_LABELS": "${{ vars.TFCOMPAT_MAC_RUNNER_LABELS }}",
    }
    inputs = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert inputs["hosted"] == {**inputs["hosted"], "type": "boolean", "default": False}


def test_every_verify_job_uploads_its_record_and_the_merge_reports_them_all():
    workflow = load("verify")
    upload = step_named(workflow, "verify", "Upload the record and its probe logs")
    assert (upload["if"], upload["with"]["name"], upload["with"]["path"]) == (
        "always()",
        "${{ matrix.artifact }}attempt-${{ github.run_attempt }}",
        "reports/sessions/",
    )
    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == ["setup", "verify"]
    assert merge["if"].startswith("always()")  # failed pairs are results: merge them too
    download = step_named(workflow, "merge", "Download every record")
    assert download["with"] == {"pattern": "record-*", "path": "reports/sessions"}
    assert step_named(workflow, "merge", "report")["run"] == "python3 noxfile.py -s report"
    assert (
        "$GITHUB_STEP_SUMMARY"
        in step_named(workflow, "merge", "Job summary (the answer and the table)")["run"]
    )


def test_predict_runs_discover_abi_map_report_and_publishes_only_when_asked():
    workflow = load("predict")
    scripts = "\n".join(step.get("run", "") for _, step in steps(workflow))
    for command in ("-s discover -- --write", "-t abi", "-s map", "-s report", "$GITHUB_STEP_SUMMARY"):
        assert command in scripts
    assert set(triggers(workflow)) == {"push", "pull_request", "schedule", "workflow_dispatch"}
    assert triggers(workflow)["workflow_dispatch"]["inputs"]["publish"]["default"] is False
    assert workflow["jobs"]["publish"]["if"] == "needs.predict.outputs.publish == 'true'"
    decide = step_named(workflow, "predict", "Decide whether to publish")
    assert decide["env"]["ASKED"] == "${{ inputs.publish }}"
    assert '[ "$EVENT" != pull_request ]' in decide["run"]


@pytest.mark.parametrize("name", ["predict", "verify"])
def test_the_suite_runs_through_the_readme_command(name):
    workflow = load(name)
    nox_calls = [
        line
        for _, step in steps(workflow)
        for line in step.get("run", "").splitlines()
        if "noxfile.py" in line
    ]
    assert nox_calls and all("python3 noxfile.py" in line for line in nox_calls)
    # The pinned uv and the locks come through the noxfile, not a version named in the workflow.
    assert "UV_VERSION" not in (WORKFLOWS / f"{name}.yml").read_text()


# The shell steps, run for real ---------------------------------------------------------------------


def run_step(step: dict, values: dict[str, str], *, cwd: Path, temp: Path):
    """Run a step's script as GitHub does (bash -eo pipefail) with its env set to ``values``."""
    assert set(step.get("env", {})) == set(values), "the test gives every variable the step reads"
    script = temp / "step.sh"
    script.write_text(step["run"])
    output = temp / "github_output"
    output.write_text("")
    # This machine's environment (its certificates and caches), less any CI's own variables.
    inherited = {
        key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_"))
    }
    env = {**inherited, "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output), **values}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done, outputs


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A job's workspace: this repository's noxfile (which finds tfcompat, its locks and the
    pinned uv of .tools/ beside its resolved path, so a link to it is the checkout's)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "noxfile.py").symlink_to(ROOT / "noxfile.py")
    return workspace


@pytest.fixture
def small_matrix(tmp_path, monkeypatch) -> Path:
    matrix = write_matrix(
        tmp_path / "expected.toml",
        [
            {"tf": "2.19.0", "metal": "1.2.0", "supports": "ambiguous"},
            {"tf": "2.18.0", "metal": "1.1.0", "supports": "ambiguous"},
            {"tf": "2.17.0", "metal": "none"},
        ],
    )
    monkeypatch.setenv("TFCOMPAT_EXPECTED", str(matrix))
    return matrix


def _sessions_step():
    return next(step for step in load("verify")["jobs"]["setup"]["steps"] if step.get("id") == "sessions")


@pytest.mark.network  # uv run noxfile.py installs the script's dependencies from PyPI
def test_the_matrix_step_turns_the_verify_tag_into_one_job_per_session(checkout, small_matrix, tmp_path):
    done, outputs = run_step(_sessions_step(), {"TAGS": "", "SESSIONS": ""}, cwd=checkout, temp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(outputs["sessions"]) == [
        {"session": "verify(tf='2.19.0', metal='1.2.0')", "artifact": "record-verify-tf-2.19.0-metal-1.2.0-"},
        {"session": "verify(tf='2.18.0', metal='1.1.0')", "artifact": "record-verify-tf-2.18.0-metal-1.1.0-"},
        {"session": "verify(tf='2.17.0', metal='none')", "artifact": "record-verify-tf-2.17.0-metal-none-"},
    ]
    assert outputs["count"] == "3"


@pytest.mark.network  # uv run noxfile.py installs the script's dependencies from PyPI
def test_the_matrix_step_takes_session_names(checkout, small_matrix, tmp_path):
    names = " verify(tf='2.17.0', metal='none') ;verify(tf='2.19.0', metal='1.2.0');; "
    done, outputs = run_step(
        _sessions_step(), {"TAGS": "verify", "SESSIONS": names}, cwd=checkout, temp=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert sorted(entry["session"] for entry in json.loads(outputs["sessions"])) == [
        "verify(tf='2.17.0', metal='none')",
        "verify(tf='2.19.0', metal='1.2.0')",
    ]


@pytest.mark.network  # uv run noxfile.py installs the script's dependencies from PyPI
def test_an_unknown_session_name_stops_the_run_with_nox_s_line(checkout, small_matrix, tmp_path):
    done, outputs = run_step(
        _sessions_step(),
        {"TAGS": "verify", "SESSIONS": "verify(tf='9.9.9', metal='1.2.0')"},
        cwd=checkout,
        temp=tmp_path,
    )
    assert done.returncode != 0
    assert "Sessions not found: verify(tf='9.9.9', metal='1.2.0')" in done.stderr
    assert "sessions" not in outputs


def _runner_step():
    return next(step for step in load("verify")["jobs"]["setup"]["steps"] if step.get("id") == "runner")


@pytest.mark.parametrize(
    ("hosted", "image", "labels", "runner"),
    [
        ("false", "macos-15", "", ["self-hosted", "macOS", "ARM64"]),  # the schedule: no inputs, no variable
        ("", "", "", ["self-hosted", "macOS", "ARM64"]),
        (
            "false",
            "macos-15",
            '["self-hosted", "macOS", "ARM64", "m2-pro"]',
            ["self-hosted", "macOS", "ARM64", "m2-pro"],
        ),
        ("true", "macos-15", '["self-hosted", "macOS", "ARM64", "m2-pro"]', ["macos-15"]),
        ("true", "macos-26", "", ["macos-26"]),
    ],
)
def test_the_runner_labels(hosted, image, labels, runner, tmp_path):
    values = {"HOSTED": hosted, "HOSTED_IMAGE": image, "MAC_RUNNER_LABELS": labels}
    done, outputs = run_step(_runner_step(), values, cwd=tmp_path, temp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(outputs["runner"]) == runner


@pytest.mark.parametrize(
    ("hosted", "image", "labels", "line"),
    [
        ("false", "", "self-hosted", "::error title=TFCOMPAT_MAC_RUNNER_LABELS::must be a JSON array"),
        ("false", "", "[]", "::error title=TFCOMPAT_MAC_RUNNER_LABELS::must be a JSON array"),
        ("false", "", '["self-hosted", 5]', "::error title=TFCOMPAT_MAC_RUNNER_LABELS::must be a JSON array"),
        ("true", "ubuntu-24.04", "", "::error title=hosted_image::not a hosted macOS image label"),
        ("true", 'macos-15", "self-hosted', "", "::error title=hosted_image::not a hosted macOS image label"),
    ],
)
def test_bad_runner_labels_stop_with_one_line(hosted, image, labels, line, tmp_path):
    values = {"HOSTED": hosted, "HOSTED_IMAGE": image, "MAC_RUNNER_LABELS": labels}
    done, outputs = run_step(_runner_step(), values, cwd=tmp_path, temp=tmp_path)
    assert done.returncode != 0
    assert line in done.stdout
    assert "runner" not in outputs


def _discover_step():
    return step_named(load("predict"), "predict", "discover (new releases on the index)")


@pytest.mark.network
def test_discover_step_proposes_new_releases_as_a_diff(checkout, tmp_path):
    # A matrix that ends at TensorFlow 2.20.0: the index has newer releases, whatever day it is.
    write_matrix(checkout / "expected.toml", [{"tf": "2.20.0", "metal": "1.2.0", "supports": "ambiguous"}])
    before = (checkout / "expected.toml").read_text()
    done, outputs = run_step(_discover_step(), {}, cwd=checkout, temp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert outputs["new"] == "true"
    diff = (tmp_path / "discover" / "expected.toml.diff").read_text()
    assert diff.startswith("--- a/expected.toml\n+++ b/expected.toml\n")
    assert '+tf = "2.21.0"' in diff
    rows = diff.count("+[[row]]")
    assert f"::warning title=discover::new releases on the index: {rows} rows proposed" in done.stdout
    assert (checkout / "expected.toml").read_text() == before  # the checkout's matrix is untouched
    # The diff applies to the committed matrix as it is.
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(
        ["git", "-C", str(checkout), "apply", str(tmp_path / "discover" / "expected.toml.diff")], check=True
    )
    assert (checkout / "expected.toml").read_text() == (tmp_path / "discover" / "expected.toml").read_text()


def test_discover_step_without_the_index_warns_and_goes_on(checkout, tmp_path, monkeypatch):
    write_matrix(checkout / "expected.toml", [{"tf": "2.20.0", "metal": "1.2.0", "supports": "ambiguous"}])
    monkeypatch.setenv("TFCOMPAT_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    done, outputs = run_step(_discover_step(), {}, cwd=checkout, temp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "::warning title=discover::no verdict: the index could not be asked" in done.stdout
    assert "new" not in outputs


@pytest.mark.parametrize(("code", "passes"), [(0, True), (1, True), (3, False)])
def test_a_predicted_failure_is_a_result_but_a_broken_run_is_not(code, passes, tmp_path):
    # nox exits 1 when a session is red (a pair predicted to fail) and otherwise higher when it
    # could not run its sessions (3: sessions not found). A stand-in noxfile exits with that code.
    (tmp_path / "noxfile.py").write_text(f"raise SystemExit({code})\n")
    for name in ("abi (does each row's plugin load?)", "map (every TensorFlow x tensorflow-metal release)"):
        done, _ = run_step(step_named(load("predict"), "predict", name), {}, cwd=tmp_path, temp=tmp_path)
        assert (done.returncode == 0) is passes, done.stdout
        assert (f"nox exited {code}" in done.stdout) is passes


@pytest.mark.parametrize(
    ("event", "branch", "asked", "always", "publish"),
    [
        ("push", "main", "", "", "false"),  # off by default
        ("workflow_dispatch", "main", "true", "", "true"),
        ("schedule", "main", "", "true", "true"),
        ("push", "main", "", "true", "true"),
        ("workflow_dispatch", "topic", "true", "", "false"),  # only the default branch
        ("pull_request", "main", "", "true", "false"),  # never from a pull request
    ],
)
def test_pages_are_published_only_when_asked(event, branch, asked, always, publish, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    for suffix in ("md", "html", "json"):
        (reports / f"compatibility.{suffix}").write_text(suffix)
    values = {"ASKED": asked, "ALWAYS": always, "EVENT": event, "BRANCH": branch, "DEFAULT_BRANCH": "main"}
    done, outputs = run_step(
        step_named(load("predict"), "predict", "Decide whether to publish"),
        values,
        cwd=tmp_path,
        temp=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert outputs["publish"] == publish
    site = tmp_path / "site"
    if publish == "true":
        assert sorted(path.name for path in site.iterdir()) == [
            "compatibility.json",
            "compatibility.md",
            "index.html",
        ]
        assert (site / "index.html").read_text() == "html"
    else:
        assert not site.exists()


# The split-and-merge flow of verify.yml, for real ------------------------------------------------

#: The control row's fit, kept short: the flow is under test here, not the fit.


def _records(folder: Path) -> list[tuple[str, str, str, str]]:
    """(kind, tf, metal, verdict) of every record under ``folder``, sorted."""
    found = []
    for path in folder.rglob("*.json"):
        if path.parent.name != "sessions" and not path.parent.name.startswith("job-"):
            continue  # the report's own outputs
        record = json.loads(path.read_text())
        found.append((record["kind"], record["row"]["tf"], record["row"]["metal"], record["verdict"]))
    return sorted(found)


@pytest.mark.slow
@pytest.mark.network
def test_sessions_run_apart_and_merged_report_the_same_rows_as_one_run(verify_run, tmp_path):
    # conftest's REAL_ROWS: two plugin rows (abi: real macOS wheels; one loads, one fails on a
    # missing symbol) and the TensorFlow-alone control, verified here for real with tensorflow-cpu.
    matrix = verify_run.matrix
    listing = run_nox("-l", "--json", "-t", "abi", "verify", matrix=matrix, reports=tmp_path / "unused")
    assert listing.returncode == 0, listing.stderr
    sessions = [entry["session"] for entry in json.loads(listing.stdout)]
    assert len(sessions) == 5  # two abi, three verify (the plugin rows skip here: not a Mac)

    # As the verify and merge jobs do: each session in its own workspace, then every job's
    # sessions folder downloaded into one folder of its own under the merge's reports/sessions.
    # The control's job is the shared verify_run: that session, alone in its workspace.
    merged = tmp_path / "merged"
    for index, session in enumerate(sessions):
        job = tmp_path / f"job-{index}"
        if session == CONTROL:
            job = verify_run.reports
        else:
            posargs = ["--", *QUICK_FIT] if session.startswith("verify") else []
            done = run_nox("-s", session, *posargs, matrix=matrix, reports=job, timeout=1800)
            assert "Traceback" not in done.stderr, done.stderr
        if (job / "sessions").is_dir():
            shutil.copytree(job / "sessions", merged / "sessions" / f"job-{index}")
    report = run_nox("-s", "report", matrix=matrix, reports=merged)
    assert report.returncode == 0, report.stderr

    # One run of every session in one folder.
    single = tmp_path / "single"
    done = run_nox("-s", *sessions, "--", *QUICK_FIT, matrix=matrix, reports=single, timeout=1800)
    assert "Traceback" not in done.stderr, done.stderr
    report = run_nox("-s", "report", matrix=matrix, reports=single)
    assert report.returncode == 0, report.stderr

    expected_records = [
        ("abi", "2.17.0", "1.1.0", "ok"),
        ("abi", "2.18.0", "1.1.0", "fail"),
        ("verify", "2.17.0", "none", "ok"),
    ]
    assert _records(merged) == _records(single) == expected_records
    merged_report = _comparable(json.loads((merged / "compatibility.json").read_text()))
    single_report = _comparable(json.loads((single / "compatibility.json").read_text()))
    assert merged_report == single_report
    [table] = merged_report["tables"]
    assert len(table["rows"]) == 3


def _comparable(report: dict) -> dict:
    """What a report says, without when and where its runs were: the times differ, and the
    sources, locks and log links name each record's file, whose place differs between a merged
    folder and a single run's (and whose name carries the run's id)."""

    def strip(value):
        if isinstance(value, dict):
            return {
                key: strip(item)
                for key, item in value.items()
                if key not in ("lock", "logs", "newest", "source")
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(
        {key: report[key] for key in ("machines", "answers", "tables", "grids", "evidence", "flags")}
    )
