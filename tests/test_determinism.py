"""Determinism: two `dvc repro` runs in fresh repositories write byte-identical outputs.

Both repositories hold the same commit (the checkpoint records HEAD, so the commit dates are
pinned) and run their own copy of ``src`` (PYTHONPATH), so an edit to the working tree during
the test cannot reach one run and not the other. They run at the same time, which also shows
the outputs do not depend on CPU load. Every output hash in the two ``dvc.lock`` files must
match: raw Parquet tables, the SQLite store, the checkpoint, the model cards, metrics, plot
data and the report's PNG figures.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import TINY_NETWORK, make_dvc_repo

pytestmark = pytest.mark.slow

STAGES = {"check", "fetch", "validate", "cache", "splits", "train", "evaluate"}
# A small universe (labels for 1y returns reach 2017) and a tiny network: two full repros in well under 90 s.
PARAMS = {
    "data": {"n_tickers": 15, "start": "2012-01-01", "as_of": "2018-12-31", "seed": 3},
    "train": {
        "train_end": "2013-12-31",
        "val_end": "2016-06-30",
        "epochs": 2,
        "patience": 2,
        **TINY_NETWORK,
        "mc_samples": 8,
    },
    "evaluate": {"test_years": [2017], "val_months": 12, "bootstrap_samples": 50, "block_months": 3},
}
PINNED_GIT_DATE = "2024-01-02T03:04:05+00:00"


def _outputs(lock_path: Path) -> dict[str, str]:
    """Output path -> md5 for every output of every stage in a dvc.lock."""
    lock = yaml.safe_load(lock_path.read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def _file_hashes(root: Path, path: str) -> dict[str, str]:
    target = root / path
    files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def test_two_fresh_repros_write_identical_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_DATE", PINNED_GIT_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", PINNED_GIT_DATE)
    first = make_dvc_repo(tmp_path / "first", PARAMS)
    second = tmp_path / "second"
    shutil.copytree(first, second, symlinks=True)  # the very same files and commit

    procs = {}
    for repo in (first, second):
        env = {**os.environ, "PYTHONPATH": str(repo / "src")}
        procs[repo] = subprocess.Popen(
            ["dvc", "repro"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    for repo, proc in procs.items():
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"dvc repro failed in {repo}:\n{output[-4000:]}"
        ran = {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
        assert ran == STAGES, output[-4000:]

    ours, theirs = _outputs(first / "dvc.lock"), _outputs(second / "dvc.lock")
    assert set(ours) == set(theirs)
    assert {"data/raw", "data/stock_data.db", "models/model.pt", "metrics/eval.json", "evaluation"} <= set(ours)
    differing = sorted(path for path in ours if ours[path] != theirs[path])
    detail = []
    for path in differing:  # name the very files that differ inside a directory output
        a, b = _file_hashes(first, path), _file_hashes(second, path)
        detail += [name for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    assert not differing, f"outputs differ between two identical runs: {differing} (files: {detail})"
