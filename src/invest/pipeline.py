"""The pipeline's file names as ``dvc.yaml`` declares them: the one place they are written.

Stage commands get every path on their command line (``dvc.yaml``'s ``cmd``); commands that are
not stages (``predict``, ``compare``) default to the store and the model that ``dvc.yaml``
declares: the ``cache`` stage's database and the ``stock-model`` artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from invest.errors import ConfigError

PIPELINE_FILE = "dvc.yaml"
ARTIFACT = "stock-model"


def parse(text: str, where: str = PIPELINE_FILE) -> dict[str, Any]:
    try:
        pipeline = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{where} is not valid YAML; fix its syntax") from None
    if not isinstance(pipeline, dict):
        raise ConfigError(f"{where} is not a DVC pipeline (a mapping with stages:)")
    return pipeline


def load(path: str | Path = PIPELINE_FILE) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{path} not found: run from the repository root, or name the files (--db, --model)") from None
    return parse(text, str(path))


def artifact_path(pipeline: dict[str, Any], where: str = PIPELINE_FILE) -> str:
    """The model file of the ``stock-model`` artifact."""
    declared = (pipeline.get("artifacts") or {}).get(ARTIFACT)
    if not isinstance(declared, dict) or "path" not in declared:
        raise ConfigError(f"{where} declares no artifact {ARTIFACT!r} (artifacts: {ARTIFACT}: path: ...)")
    return str(declared["path"])


def stage_output(pipeline: dict[str, Any], stage: str, suffix: str, where: str = PIPELINE_FILE) -> str:
    """The one output of ``stage`` whose name ends in ``suffix``."""
    outs = (pipeline.get("stages") or {}).get(stage, {}).get("outs") or []
    names = [next(iter(out)) if isinstance(out, dict) else str(out) for out in outs]
    found = [name for name in names if name.endswith(suffix)]
    if len(found) != 1:
        raise ConfigError(f"{where}: stage {stage!r} has no single {suffix} output; name the file on the command line")
    return found[0]


def default_model() -> Path:
    return Path(artifact_path(load()))


def default_store() -> Path:
    return Path(stage_output(load(), "cache", ".db"))


LOCK_FILE = "dvc.lock"
CACHE_OBJECTS = ".dvc/cache/files/md5"  # where DVC 3 keeps a file by its md5 (the default local cache)


def cached_object(md5: str, repo: str | Path = ".") -> Path:
    """The path of the object ``md5`` in the repository's default DVC cache (it may not exist)."""
    return Path(repo, CACHE_OBJECTS, md5[:2], md5[2:])


def restore_hint(path: str | Path, otherwise: str) -> str:
    """How to get a missing pipeline output back, for the "not found" line: `dvc checkout` when DVC's cache
    holds the version dvc.lock records, `dvc pull` when only a remote can, `git checkout` for an output
    kept in git; ``otherwise`` (e.g. "run `dvc repro train`") when dvc.lock records no such output."""
    try:
        lock = yaml.safe_load(Path(LOCK_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return otherwise
    wanted = Path(path)
    for stage, spec in (lock.get("stages") or {}).items():
        for out in spec.get("outs") or []:
            name = Path(str(out.get("path", "")))
            if wanted != name and name not in wanted.parents:
                continue
            md5 = str(out.get("md5", ""))
            if not md5:  # cache: false, kept in git
                return f"restore it with `git checkout -- {name}`, or rebuild it with `dvc repro {stage}`"
            if cached_object(md5).exists():
                return f"restore it with `dvc checkout {name}` (DVC's cache has it), or rebuild it with `dvc repro {stage}`"
            return f"fetch it with `dvc pull {name}` (from the DVC remote), or rebuild it with `dvc repro {stage}`"
    return otherwise
