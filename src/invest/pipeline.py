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
