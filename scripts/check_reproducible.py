#!/usr/bin/env python3
"""Check that a fresh clone's `dvc repro` reproduces the committed dvc.lock, byte for byte.

    python scripts/check_reproducible.py [--repo .] [--keep]

1. The active environment must match requirements.lock (a different numpy or pyarrow writes
   different bytes); a mismatch is named with the command that fixes it.
2. HEAD is cloned into a temporary directory and `dvc repro` runs there on the clone's own
   code (PYTHONPATH), with nothing cached.
3. Every output hash must equal the committed dvc.lock and `git status` must be clean;
   otherwise the differing outputs are listed (committed md5 -> reproduced md5). Exit 1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import yaml


def lock_mismatches(lock_file: Path) -> list[str]:
    """'name installed X, locked Y' for every locked package whose installed version differs."""
    problems = []
    for line in lock_file.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if not match:
            continue
        name, locked = match.groups()
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} missing, locked {locked}")
            continue
        if installed.split("+")[0] != locked.split("+")[0]:  # torch 2.13.0+cpu is torch 2.13.0
            problems.append(f"{name} installed {installed}, locked {locked}")
    return problems


def outputs(lock: dict) -> dict[str, str]:
    """Output path -> md5 for every stage in a parsed dvc.lock."""
    found = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            found[out["path"]] = out.get("md5")
    return found


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository to check (its HEAD is cloned)")
    parser.add_argument("--keep", action="store_true", help="keep the clone for inspection")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()

    problems = lock_mismatches(repo / "requirements.lock")
    if problems:
        shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        print(f"check: the environment differs from requirements.lock ({shown}); run: pip install -r requirements.lock -e .")
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="invest-repro-"))
    clone = workdir / "clone"
    try:
        cloned = run(["git", "clone", "-q", str(repo), str(clone)], workdir)
        if cloned.returncode != 0:
            print(f"check: git clone failed: {cloned.stderr.strip()}")
            return 1
        env = {**os.environ, "PYTHONPATH": str(clone / "src"), "DVC_NO_ANALYTICS": "1"}
        started = time.perf_counter()
        repro = run([sys.executable, "-m", "dvc", "repro"], clone, env)
        seconds = time.perf_counter() - started
        if repro.returncode != 0:
            print(f"check: dvc repro failed in the clone after {seconds:.0f} s:\n{repro.stdout[-3000:]}\n{repro.stderr[-3000:]}")
            return 1
        committed = outputs(yaml.safe_load(run(["git", "show", "HEAD:dvc.lock"], repo).stdout))
        reproduced = outputs(yaml.safe_load((clone / "dvc.lock").read_text()))
        differ = [p for p in sorted(set(committed) | set(reproduced)) if committed.get(p) != reproduced.get(p)]
        status = run(["git", "status", "--porcelain"], clone).stdout.splitlines()
        if differ or status:
            print(f"check: NOT reproduced: a fresh clone's dvc repro ({seconds:.0f} s) differs from the committed dvc.lock")
            for path in differ:
                print(f"  {path}: committed {committed.get(path)} -> reproduced {reproduced.get(path)}")
            for line in status:
                print(f"  git status: {line}")
            print("  (see docs/reproducibility.md: same requirements.lock, same code, x86-64 with AVX2)")
            return 1
        print(f"check: reproduced: all {len(committed)} outputs of dvc.lock identical, git status clean ({seconds:.0f} s)")
        return 0
    finally:
        if args.keep:
            print(f"check: clone kept at {clone}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
