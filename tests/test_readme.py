"""The README's shell examples, run as a newcomer would: each one that needs no network or GPU, in order,
in a fresh repository of this pipeline (a small universe so it takes minutes), and the error example
compared with what `dvc repro` prints, line for line.

Not run here: installing (`pip install`, no network in tests), `pytest` itself, `export`, and the
section "Train on a GPU machine", whose SSH remote and experiment push/pull are replayed against a
real sshd on 127.0.0.1 in tests/test_remotes.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import HEADLINE, REPO, assert_screen_fits_120_columns, make_dvc_repo, run

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text(encoding="utf-8")
SKIPPED = ("python3 -m venv", "pip install", "pytest", "export ")
NOT_HERE = "Train on a GPU machine"  # tests/test_remotes.py
BIN = str(Path(sys.executable).parent)


def shell_examples(text: str) -> list[tuple[str, str]]:
    """(section, command) for every line of every ```bash block, comments stripped, in README order."""
    examples, section, block = [], "", None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("```bash"):
            block = []
        elif line.startswith("```") and block is not None:
            examples += [(section, command) for command in block]
            block = None
        elif block is not None:
            command = re.sub(r"\s{2,}#.*$", "", line).strip()  # a comment line stays: it can say where to run
            if command:
                block.append(command)
    return examples


def error_example(text: str) -> tuple[str, list[str]]:
    """The README's `$ dvc repro` example after a typo: the edit it describes and the lines it shows."""
    after = text.split("With `epochs: ten` under `train:`:", 1)[1]
    block = after.split("```", 2)[1].strip().splitlines()
    assert block[0] == "$ dvc repro"
    return "epochs: ten", block[1:]


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A repository of this pipeline with its results and a default DVC remote (a folder) committed, and a git origin."""
    base = tmp_path_factory.mktemp("readme")
    repo = make_dvc_repo(base / "repo")
    run(["git", "init", "-q", "--bare", "-b", "main", str(base / "origin.git")], base)
    run(["git", "remote", "add", "origin", str(base / "origin.git")], repo)
    run(["dvc", "remote", "add", "-d", "storage", str(base / "dvc-remote")], repo)
    run(["git", "commit", "-q", "-am", "default DVC remote"], repo)
    run(["dvc", "repro", "-q"], repo)  # a clone of this project holds its results, as this one's main does
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "results"], repo)
    run(["git", "push", "-q", "-u", "origin", "main"], repo)
    return base, repo


def test_every_offline_shell_example_runs(workspace):
    base, repo = workspace
    where, ran = repo, []
    for section, command in shell_examples(README):
        if section.startswith(NOT_HERE) or command.startswith(SKIPPED):
            continue
        if command.startswith("#"):  # a comment line
            if "in any other clone" in command:
                where = base / "clone"
                run(["git", "clone", "-q", str(base / "origin.git"), str(where)], base)
            continue
        if "<name>" in command:
            command = command.replace("<name>", _an_experiment(repo))
        result = sh(command, where)
        if "git commit" in command and "nothing to commit" in result.stdout:  # the tour's adopted trial is the version
            result = subprocess.CompletedProcess(result.args, 0, result.stdout, result.stderr)
        assert result.returncode == 0, f"{section}: `{command}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ran.append(command)
        if command.startswith("dvc queue start"):  # it returns at once; a reader waits for `dvc queue status`
            _wait_for_the_queue(where)
            _assert_each_trial_trained_its_own_model(where)
        if command.startswith("dvc exp show --only-changed"):  # "fits a terminal of 120 columns ... after the three trials"
            assert_screen_fits_120_columns(
                lambda columns, command=command, where=where: sh(f"COLUMNS={columns} {command} --no-pager", where).stdout,
                "train.learning_rate",
            )
        if command.startswith("invest compare"):
            assert [line.split(":")[0] for line in result.stdout.splitlines()[-3:]] == [
                "verdict, rank IC",
                "verdict, MAE",
                "verdict, top-book net return a year",
            ]
    assert any(c.startswith("dvc exp run --queue") for c in ran) and any(c.startswith("invest models get") for c in ran)
    assert (base / "clone" / "prod.pt").is_file()


def _wait_for_the_queue(repo: Path, limit_s: float = 900) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        status = run(["dvc", "queue", "status"], repo).stdout
        assert "Failed" not in status, status
        if not re.search(r"\b(Running|Queued)\b", status):
            return
        assert time.monotonic() < deadline, f"the queue was not done after {limit_s} s:\n{status}"
        time.sleep(2)


def _assert_each_trial_trained_its_own_model(repo: Path) -> None:
    """The tour's three trials (one run, two queued) are listed with their own learning rate and headline:
    the five headline metrics, never eval.json's full detail (a target away, not a column)."""
    trials = {}
    for entry in json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout):
        for experiment in entry.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                if rev.get("name"):
                    trials[rev["name"]] = rev.get("data") or {}
    rates, ranks = set(), set()
    for data in trials.values():
        rates.add(data["params"]["params.yaml"]["data"]["train"]["learning_rate"])
        headline = data["metrics"]["metrics/headline.json"]["data"]
        assert list(headline) == HEADLINE
        assert "metrics/eval.json" not in data["metrics"]
        ranks.add(headline["rank_ic"])
    assert rates == {0.0003, 0.003, 0.01}, trials.keys()
    assert len(ranks) == 3  # each trial trained its own model
    # queued trials add DVC's State and Executor columns, which the README's command drops
    assert "Executor" in sh("COLUMNS=400 dvc exp show --only-changed --no-pager", repo).stdout


def _an_experiment(repo: Path) -> str:
    """The name of the first of the tour's trials (dvc keeps each under refs/exps/.../NAME)."""
    refs = run(["git", "for-each-ref", "--sort=creatordate", "--format=%(refname)", "refs/exps/"], repo).stdout.split()
    names = [ref.rsplit("/", 1)[-1] for ref in refs if ref.count("/") >= 4]
    assert names, "no experiment to name"
    return names[0]


def test_the_error_example_is_what_dvc_repro_prints(tmp_path):
    edit, shown = error_example(README)
    repo = make_dvc_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    key, value = (part.strip() for part in edit.split(":"))
    params["train"][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(["dvc", "repro"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert result.returncode != 0
    assert [line for line in result.stdout.splitlines() if line.strip()] == shown
