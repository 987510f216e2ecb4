"""Interrupted runs: SIGKILL each stage mid-run; nothing half-written may look complete, and the next run completes.

For each stage a workspace first holds the outputs of a complete run with params A. The stage
is then run with params B (outputs that differ) and killed with SIGKILL, either while it
computes or exactly while it moves its outputs into place (a wrapper holds ``os.replace`` at
the k-th rename in the workspace so the kill lands there every time). After the kill every
file under the final names must be byte-identical to A's version or to what the completed B
run writes (absent is allowed too); the only other leftovers may be hidden ``.*.tmp`` files,
which .gitignore and .dvcignore ignore. Then the stage is run again and must complete.

The last test kills a whole ``dvc repro`` (process group) during training in a real
git + DVC repository; ``dvc repro`` must then finish the pipeline and leave it up to date.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import TINY_NETWORK, invest_args, make_dvc_repo

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PARAMS_A = {
    "data": {"n_tickers": 15, "start": "2012-01-01", "as_of": "2018-12-31", "seed": 11},
    "train": {
        "horizon": "6m",
        "train_end": "2014-12-31",
        "val_end": "2016-06-30",
        "epochs": 20,
        "patience": 20,
        **TINY_NETWORK,
        "mc_samples": 4,
        "device": "cpu",
    },
    "evaluate": {"mode": "single", "test_years": [2017], "val_months": 12, "bootstrap_samples": 20, "block_months": 3},
}
STAGES = ("fetch", "validate", "cache", "train", "evaluate")
CHANGE_FOR_B = {  # a params change that changes each stage's outputs
    "fetch": {"data": {"seed": 12}},
    "validate": {"validate": {"max_gap_days": 2}},
    "cache": {"cache": {"min_history_days": 300}},
    "train": {"train": {"seed": 43}},
    "evaluate": {"evaluate": {"seed": 8}},
}
OUTPUT_DIRS = ("data", "metrics", "models", "evaluation")
NOT_OUTPUTS = ("models/*.run.json",)  # wall-clock run log: differs on every run by design
IGNORED_LEFTOVERS = [line.strip() for line in (REPO / ".dvcignore").read_text().splitlines() if line.startswith(".*")]

# Runs `invest` with os.replace held at the KILL_AT_REPLACE-th rename inside the workspace: it
# touches KILL_MARKER and sleeps, so the test can SIGKILL it exactly between two renames.
WRAPPER = """
import os, sys, time
root = os.path.realpath(os.getcwd())
at = int(os.environ.get("KILL_AT_REPLACE", "0"))
real_replace, count = os.replace, [0]
def replace(src, dst, *args, **kwargs):
    if os.path.realpath(os.fspath(dst)).startswith(root + os.sep):
        count[0] += 1
        if count[0] == at:
            open(os.environ["KILL_MARKER"], "w").close()
            time.sleep(600)
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
from invest.cli import main
sys.argv = ["invest", *sys.argv[1:]]
main()
"""


def write_params(workdir: Path, *changes: dict) -> None:
    merged = {section: dict(values) for section, values in PARAMS_A.items()}
    for change in changes:
        for section, values in change.items():
            merged.setdefault(section, {}).update(values)
    (workdir / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))


def env() -> dict[str, str]:
    variables = {key: value for key, value in os.environ.items() if key != "INVEST_DEBUG"}
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables.get('PATH', '')}"
    return variables


def invest(stage: str, workdir: Path) -> float:
    """Run a stage to completion; its duration in seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "invest", *invest_args(stage)], cwd=workdir, capture_output=True, text=True, timeout=300, env=env()
    )
    assert result.returncode == 0, f"invest {stage} failed:\n{result.stderr}"
    return time.perf_counter() - started


def snapshot(workdir: Path) -> tuple[dict[str, bytes], list[str]]:
    """(output files -> bytes, hidden temporary leftovers) under the workspace's output directories."""
    files, leftovers = {}, []
    for top in OUTPUT_DIRS:
        for path in sorted((workdir / top).rglob("*")):
            relative = path.relative_to(workdir).as_posix()
            if any(part.startswith(".") for part in Path(relative).parts):
                leftovers.append(relative)
            elif path.is_file() and not any(fnmatch.fnmatch(relative, pattern) for pattern in NOT_OUTPUTS):
                files[relative] = path.read_bytes()
    return files, leftovers


@pytest.fixture(scope="module")
def complete_a(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    """A workspace after a complete run of every stage with params A, and each stage's duration."""
    workdir = tmp_path_factory.mktemp("kill_a")
    write_params(workdir)
    durations = {stage: invest(stage, workdir) for stage in STAGES}
    return workdir, durations


def start(stage: str, workdir: Path, at_replace: int = 0) -> subprocess.Popen:
    variables = env() | {"KILL_AT_REPLACE": str(at_replace), "KILL_MARKER": str(workdir / "kill.marker")}
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *invest_args(stage)],
        cwd=workdir,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"the stage ended (code {process.returncode}) before the kill point:\n{process.stderr.read().decode()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the kill point was never reached")
        time.sleep(0.005)


def first_epoch_logged(workdir: Path):
    """True once this run has logged a training loss (dvclive writes train_loss.tsv after each epoch)."""
    since = (workdir / "params.yaml").stat().st_mtime_ns

    def logged() -> bool:
        for path in (workdir / "metrics").rglob("train_loss.tsv"):
            try:
                if path.stat().st_mtime_ns > since and path.stat().st_size > 0:
                    return True
            except FileNotFoundError:  # moved while we looked
                pass
        return False

    return logged


def ignored(leftover: str) -> bool:
    """Whether .dvcignore (and .gitignore) ignore this path: one of its parts is a temporary's name."""
    return any(fnmatch.fnmatch(part, pattern) for part in Path(leftover).parts for pattern in IGNORED_LEFTOVERS)


def temp_file_appeared(workdir: Path):
    """True once this run has started writing an output (a hidden temporary beside it exists)."""
    return lambda: any(
        path.name.startswith(".") and path.name.endswith(".tmp") for top in OUTPUT_DIRS for path in (workdir / top).rglob(".*")
    )


# (stage, kill point): "replace:<k>" (held at the k-th rename, i.e. after k-1 outputs were moved into place),
# "temp" (as soon as the first temporary output file appears: mid-write), "epoch" (train: once an epoch is
# logged), or "compute:<fraction of the complete run's duration>"
KILLS = [
    ("fetch", "temp"),
    ("fetch", "replace:3"),
    ("validate", "compute:0.6"),
    ("validate", "replace:1"),
    ("cache", "temp"),
    ("cache", "replace:1"),
    ("train", "epoch"),
    ("train", "replace:2"),  # between the two renames that swap metrics/train for the new curves
    ("evaluate", "replace:2"),
]


def kill_midway(stage: str, point: str, workdir: Path, duration: float) -> bool:
    """Start the stage and SIGKILL it at ``point``; False if it ended before getting there."""
    kind, _, value = point.partition(":")
    process = start(stage, workdir, int(value) if kind == "replace" else 0)
    conditions = {
        "replace": (workdir / "kill.marker").exists,
        "epoch": first_epoch_logged(workdir),
        "temp": temp_file_appeared(workdir),
    }
    try:
        if kind == "compute":
            deadline = time.monotonic() + float(value) * duration
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.005)
        else:
            deadline = time.monotonic() + 120
            while not conditions[kind]() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        process.stderr.close()
    (workdir / "kill.marker").unlink(missing_ok=True)
    return process.returncode == -signal.SIGKILL


@pytest.mark.parametrize(("stage", "point"), KILLS, ids=[f"{stage}-{point}" for stage, point in KILLS])
def test_a_killed_stage_leaves_old_or_complete_outputs_and_reruns(stage, point, complete_a, tmp_path):
    source, durations = complete_a
    for attempt in range(3):  # a fast machine can finish before a timed or polled kill point: try again sooner
        workdir = tmp_path / f"work{attempt}"
        shutil.copytree(source, workdir)
        before, _ = snapshot(workdir)
        time.sleep(0.05)  # params.yaml is newer than any output of A
        write_params(workdir, CHANGE_FOR_B[stage])
        if kill_midway(stage, point, workdir, durations[stage] / 2**attempt):
            break
    else:
        pytest.fail(f"invest {stage} always finished before the kill point {point}")
    killed, leftovers = snapshot(workdir)

    invest(stage, workdir)  # the next run completes
    after, after_leftovers = snapshot(workdir)

    assert killed.keys() <= before.keys() | after.keys(), "the killed run left files no complete run writes"
    changed = sorted(path for path in before if before[path] != after.get(path))
    assert changed, f"params B do not change the outputs of {stage}; the test would prove nothing"
    for path, data in killed.items():
        assert data in (before.get(path), after.get(path)), f"{path} is neither the old nor a complete new version"
    unignored = [leftover for leftover in leftovers + after_leftovers if not ignored(leftover)]
    assert unignored == [], "leftovers .dvcignore does not ignore"


def test_a_killed_dvc_repro_finishes_on_the_next_repro(tmp_path):
    repo = make_dvc_repo(tmp_path / "repo", PARAMS_A)
    dvc = [sys.executable, "-m", "dvc"]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*dvc, *args], cwd=repo, capture_output=True, text=True, timeout=600, env=env())
        assert not check or result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    run("repro")
    model_a = (repo / "models" / "model.pt").read_bytes()
    trained_a = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]
    time.sleep(0.05)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["seed"] = 43  # check, splits, train and evaluate are out of date now
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    process = subprocess.Popen(
        [*dvc, "repro"], cwd=repo, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_for(first_epoch_logged(repo), process, timeout=300)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # dvc and the stage it runs, like an OOM kill or a lost terminal
        process.wait(timeout=60)
        process.stderr.close()
    model = repo / "models" / "model.pt"  # dvc removes a stage's outputs before running it (its cache keeps them)
    assert not model.exists() or model.read_bytes() == model_a
    # nothing recorded for the killed stage (check and splits, which finished before it, may record the new seed)
    assert yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"] == trained_a

    run("repro")
    status = run("status")
    assert "up to date" in status.stdout, status.stdout
    assert (repo / "models" / "model.pt").read_bytes() != model_a
    assert "train" in (repo / "dvc.lock").read_text()
