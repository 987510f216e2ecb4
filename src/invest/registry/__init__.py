"""The model registry: GTO git tags over the ``stock-model`` artifact declared in dvc.yaml.

* register: ``stock-model@vX.Y.Z`` tag on a commit whose dvc.lock holds a trained model, only once
  that model can be fetched by another clone (committed, in the workspace as locked, in the default
  DVC remote that the commit's .dvc/config names; ``--push`` pushes it);
* promote:  ``stock-model#STAGE#N`` tag assigning a stage to a registered version;
* list:     versions, their commits and the stages GTO considers them in;
* get:      ``dvc artifacts get`` of a version or stage, from this repo or another one.

A stage resolves to a version exactly as ``gto show stock-model#STAGE`` does: the version
whose assignment of that stage is the most recent (one version per stage, by tag time).
GTO is used through its Python API (``gto.api``); DVC through its command line
(``python -m dvc``), except one call of its data-cloud API that asks whether the remote holds an object. Every failure is one
:class:`RegistryError` line.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from invest.registry.common import ARTIFACT, RegistryError, artifact_path, dvc_error, one_line
from invest.registry.publish import check_publishable, ensure_in_remote

__all__ = ["ARTIFACT", "RegistryError", "Version", "artifact_path", "get", "promote", "register", "resolve", "table", "versions"]
LATEST = "latest"


@dataclass(frozen=True)
class Version:
    version: str
    commit: str
    stages: tuple[str, ...]
    registered_at: str


def normalise_version(value: str) -> str:
    """``1.2.0`` or ``v1.2.0`` -> ``v1.2.0``; anything else is an error naming the expected form."""
    from gto.constants import semver

    candidate = value if value.startswith("v") else f"v{value}"
    if not re.fullmatch(f"v{semver}", candidate):
        raise RegistryError(f"version {value!r} is not a semantic version; write it like v1.2.0")
    return candidate


def is_version(value: str) -> bool:
    try:
        normalise_version(value)
        return True
    except RegistryError:
        return False


def _check_stage(stage: str) -> None:
    from gto.constants import name_re

    if not name_re.match(stage) or is_version(stage):
        raise RegistryError(
            f"stage {stage!r} is not a valid stage name; use letters, digits, '-' or '_' (e.g. dev, staging, prod)"
        )


@contextlib.contextmanager
def _gto(action: str) -> Iterator[None]:
    """Run a gto.api call quietly; its exceptions become one RegistryError line."""
    from gto.exceptions import GTOException
    from scmrepo.exceptions import SCMError

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except GTOException as exc:
        raise RegistryError(f"{action}: {one_line(exc)}") from None
    except SCMError as exc:
        text = one_line(exc)
        hint = "" if "git repo" in text.lower() else " (is this a git repository with commits?)"
        raise RegistryError(f"{action}: {text}{hint}") from None


def register(
    version: str, ref: str = "HEAD", repo: str | os.PathLike[str] = ".", message: str | None = None, push: bool = False
) -> tuple[Version, str | None]:
    """Tag ``ref`` as ``stock-model@VERSION`` once the model it records is fetchable by other clones.

    ``push``: push the model to the default DVC remote when missing there, and the tag to git's origin.
    Returns the version and a note for the user (None when there is nothing to say).
    """
    from gto import api

    version = normalise_version(version)
    commit, path, md5 = check_publishable(repo, ref)
    note = ensure_in_remote(repo, commit, path, md5, push)
    with _gto(f"cannot register {version}"):
        api.register(str(repo), ARTIFACT, commit, version=version, message=message, push=push)
    return _find(repo, version), note


def promote(
    version: str, stage: str, repo: str | os.PathLike[str] = ".", message: str | None = None, push: bool = False
) -> Version:
    """Assign ``stage`` to a registered version (a new ``stock-model#STAGE#N`` tag)."""
    from gto import api

    version = normalise_version(version)
    _check_stage(stage)
    _find(repo, version)  # a clear error for an unknown version
    with _gto(f"cannot promote {version} to {stage}"):
        api.assign(str(repo), ARTIFACT, stage, version=version, message=message, push=push)
    return _find(repo, version)


def versions(repo: str | os.PathLike[str] = ".") -> list[Version]:
    """Registered versions, newest first, each with the stages GTO puts it in."""
    from gto import api

    with _gto(f"cannot read the registry of {repo}"):
        shown = api.show(str(repo), ARTIFACT, registered_only=True)
    out = []
    for item in shown:
        registrations = item.get("registrations") or []
        when = registrations[0]["created_at"] if registrations else item.get("created_at")
        out.append(
            Version(
                version=item["version"],
                commit=item["commit_hexsha"],
                stages=tuple(sorted({stage["stage"] for stage in item.get("stages") or []})),
                registered_at=when.isoformat() if hasattr(when, "isoformat") else str(when),
            )
        )
    return out


def _find(repo: str | os.PathLike[str], version: str) -> Version:
    known = versions(repo)
    for item in known:
        if item.version == version:
            return item
    listing = ", ".join(v.version for v in known) or "none yet"
    raise RegistryError(f"{ARTIFACT} has no registered version {version} (registered: {listing}); see `invest models list`")


def resolve(version_or_stage: str, repo: str | os.PathLike[str] = ".") -> Version:
    """A version (``v1.2.0``), ``latest``, or a stage (the version most recently assigned to it)."""
    from gto import api

    if is_version(version_or_stage):
        return _find(repo, normalise_version(version_or_stage))
    if version_or_stage == LATEST:
        known = versions(repo)
        if not known:
            raise RegistryError(f"{ARTIFACT} has no registered versions yet; `invest models register v1.0.0` first")
        return _latest(known)
    _check_stage(version_or_stage)
    with _gto(f"cannot resolve stage {version_or_stage}"):
        found = api.find_versions_in_stage(str(repo), ARTIFACT, version_or_stage)
    if not found:
        stages = sorted({stage for v in versions(repo) for stage in v.stages})
        raise RegistryError(
            f"no version of {ARTIFACT} is in stage {version_or_stage!r} (stages in use: {', '.join(stages) or 'none'}); "
            f"promote one with `invest models promote VERSION {version_or_stage}`"
        )
    vstage = found[0] if isinstance(found, list) else found
    return _find(repo, vstage.version)


def _latest(known: list[Version]) -> Version:
    from gto.constants import semver

    def key(item: Version) -> tuple[int, int, int]:
        match = re.fullmatch(f"v{semver}", item.version)
        return (int(match["major"]), int(match["minor"]), int(match["patch"])) if match else (-1, -1, -1)

    return max(known, key=key)


def get(
    version_or_stage: str, repo: str = ".", out: str | os.PathLike[str] | None = None, force: bool = False
) -> tuple[Version, Path]:
    """Download the model of a version or stage with ``dvc artifacts get``; returns it and the file's path.

    ``repo`` is this repository (``.``), another clone's path or a git URL; the model comes
    from that repository's DVC remote (or, for a local path, its cache).
    """
    resolved = resolve(version_or_stage, repo)
    name = Path(artifact_path(repo, resolved.commit)).name if Path(repo, ".git").exists() else "model.pt"
    target = Path(out) if out is not None else Path(name)
    if target.is_dir():
        target = target / name
    if target.exists() and not force:
        raise RegistryError(f"{target} already exists; pass --force to overwrite it or --out to choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "dvc",
        "artifacts",
        "get",
        str(repo),
        ARTIFACT,
        "--rev",
        resolved.version,
        "-o",
        str(target),
        "--force",
    ]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=1800, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RegistryError(f"dvc artifacts get failed: {one_line(exc)}") from None
    if result.returncode != 0 or not target.is_file():
        detail = dvc_error(result.stderr or result.stdout)
        raise RegistryError(
            f"cannot download {ARTIFACT} {resolved.version} from {repo}: {detail}; "
            "was the model pushed (`dvc push`) to that repository's default DVC remote?"
        )
    return resolved, target


def table(rows: list[Version]) -> str:
    """An aligned text table of versions for the terminal."""
    if not rows:
        return f"{ARTIFACT}: no registered versions (register one with `invest models register v1.0.0`)"
    header = ("version", "stages", "commit", "registered")
    body = [(v.version, ", ".join(v.stages) or "-", v.commit[:8], v.registered_at) for v in rows]
    widths = [max(len(str(r[i])) for r in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in (header, *body)
    ]
    return "\n".join([f"{ARTIFACT}", *lines])
