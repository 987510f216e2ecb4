"""What the registry modules share: their error, git and dvc.yaml access, and DVC's error lines."""

from __future__ import annotations

import os
import subprocess

from invest import pipeline
from invest.errors import ConfigError, InvestError

ARTIFACT = pipeline.ARTIFACT


class RegistryError(InvestError):
    """A registry operation failed (unknown version or stage, no git repo, download failed...)."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.rstrip(".")


def git(repo: str | os.PathLike[str], *args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RegistryError(f"git {' '.join(args)} failed: {one_line(exc)}") from None
    if result.returncode != 0:
        raise RegistryError(f"git {' '.join(args)}: {one_line(Exception(result.stderr.strip() or result.stdout.strip()))}")
    return result.stdout


def artifact_path(repo: str | os.PathLike[str] = ".", ref: str = "HEAD") -> str:
    """The artifact's path as declared under ``artifacts:`` in dvc.yaml at ``ref``."""
    where = f"dvc.yaml at {ref}"
    try:
        return pipeline.artifact_path(pipeline.parse(git(repo, "show", f"{ref}:dvc.yaml"), where), where)
    except ConfigError as exc:
        raise RegistryError(str(exc)) from None


def dvc_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("ERROR")]
    line = lines[-1] if lines else (text.strip().splitlines() or ["unknown error"])[-1]
    return " ".join(line.removeprefix("ERROR:").split()).rstrip(".")
