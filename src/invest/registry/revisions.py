"""The model of any git revision: a DVC experiment (the names ``dvc exp show`` lists), a commit, a
branch or a tag. ``invest compare`` takes these beside registered versions and stages.

An experiment is a commit under ``refs/exps/``; its ``dvc.lock`` records the model's md5, and the
model comes from the local DVC cache (where ``dvc exp run`` left it) or, failing that, through
``dvc get`` from the default remote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from invest.pipeline import cached_object
from invest.registry.common import RegistryError, artifact_path, dvc_error, git


def experiment_refs(repo: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Experiment name -> its refs (one name can exist on several baselines)."""
    try:
        listed = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    except RegistryError:
        return {}
    found: dict[str, list[str]] = {}
    for ref in listed:
        found.setdefault(ref.rsplit("/", 1)[-1], []).append(ref)
    return found


def commit_of(repo: str | os.PathLike[str], spec: str) -> str | None:
    """The commit an experiment name, a commit hash, a branch or a tag names; None if nothing does."""
    refs = experiment_refs(repo).get(spec, [])
    if len(refs) > 1:
        head = _rev(repo, "HEAD")
        on_head = [ref for ref in refs if head and ref.split("/")[2] + ref.split("/")[3] == head]
        if len(on_head) != 1:
            raise RegistryError(f"experiment {spec!r} exists on {len(refs)} baselines; name one by its commit (dvc exp show)")
        refs = on_head
    return _rev(repo, refs[0]) if refs else _rev(repo, spec)


def _rev(repo: str | os.PathLike[str], spec: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").strip() or None
    except RegistryError:
        return None


def model_at(repo: str | os.PathLike[str], commit: str, spec: str, out: Path) -> Path:
    """Write the model that ``commit``'s dvc.lock records to ``out``: from the DVC cache, else the remote."""
    path = artifact_path(repo, commit)
    lock = yaml.safe_load(_show(repo, commit, "dvc.lock", spec)) or {}
    md5 = next(
        (o.get("md5") for s in (lock.get("stages") or {}).values() for o in s.get("outs") or [] if o.get("path") == path),
        None,
    )
    if not md5:
        raise RegistryError(f"{spec} ({commit[:8]}) has not run `{path}`'s stage: its dvc.lock records no {path}")
    cached = cached_object(md5, repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cached.is_file():
        shutil.copyfile(cached, out)
        return out
    args = [sys.executable, "-m", "dvc", "get", str(repo), path, "--rev", commit, "-o", str(out), "--force"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if result.returncode != 0 or not out.is_file():
        raise RegistryError(
            f"cannot get {path} of {spec} ({commit[:8]}): {dvc_error(result.stderr or result.stdout)}; "
            "pull it first (dvc exp pull origin NAME, or dvc pull)"
        )
    return out


def _show(repo: str | os.PathLike[str], commit: str, name: str, spec: str) -> str:
    try:
        return git(repo, "show", f"{commit}:{name}")
    except RegistryError:
        raise RegistryError(f"{spec} ({commit[:8]}) has no {name}; it is not a commit of this pipeline") from None
