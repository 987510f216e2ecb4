"""Can other clones fetch this model? The checks ``invest models register`` runs before it tags.

A version is a commit; other clones download its model through the default DVC remote named in
that commit's ``.dvc/config``. So the commit must record the model in its ``dvc.lock``, the
workspace must hold that very model when registering HEAD (not one retrained since), the remote
must be committed, and the model must be in it (``--push`` sends it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from invest.registry.common import RegistryError, artifact_path, dvc_error, git, one_line


def _locked_md5(repo: str | os.PathLike[str], commit: str, path: str, ref: str) -> str:
    """The md5 that ``commit``'s dvc.lock records for the output ``path``."""
    try:
        lock = yaml.safe_load(git(repo, "show", f"{commit}:dvc.lock")) or {}
    except RegistryError:
        raise RegistryError(f"{ref} has no committed dvc.lock; run `dvc repro`, commit dvc.lock and `dvc push` first") from None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path and out.get("md5"):
                return str(out["md5"])
    raise RegistryError(f"dvc.lock at {ref} records no {path}; run `dvc repro`, commit dvc.lock and `dvc push` first")


def check_params_match(repo: str | os.PathLike[str], commit: str, ref: str) -> None:
    """Refuse a commit whose params.yaml is not the one its dvc.lock was built with: in another clone
    `dvc status` would call the model out of date, and nobody could tell which settings made it."""
    lock = yaml.safe_load(git(repo, "show", f"{commit}:dvc.lock")) or {}
    try:
        committed = yaml.safe_load(git(repo, "show", f"{commit}:params.yaml")) or {}
    except RegistryError:
        committed = {}
    differ = []
    for stage in (lock.get("stages") or {}).values():
        for key, value in ((stage.get("params") or {}).get("params.yaml") or {}).items():
            differ += [d for d in _differences(key, value, _lookup(committed, key)) if d not in differ]
    if differ:
        shown = "; ".join(f"{key}: {_shown(new)} in dvc.lock, {_shown(old)} in params.yaml" for key, new, old in differ[:3])
        more = f" (+{len(differ) - 3} more)" if len(differ) > 3 else ""
        raise RegistryError(
            f"params.yaml at {ref} is not the one its dvc.lock was built with ({shown}{more}); commit the params.yaml "
            "the model was trained with, or run dvc repro with this one, then commit them together (git add params.yaml "
            "dvc.lock metrics models evaluation && git commit) and register again"
        )


_MISSING = object()


def _lookup(tree: dict, dotted: str):
    value = tree
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _differences(key: str, locked, committed) -> list[tuple[str, object, object]]:
    """(dotted key, value in dvc.lock, value in params.yaml) for every leaf that differs."""
    if isinstance(locked, dict) and isinstance(committed, dict):
        found = []
        for name in sorted(set(locked) | set(committed), key=str):
            found += _differences(f"{key}.{name}", locked.get(name, _MISSING), committed.get(name, _MISSING))
        return found
    if locked == committed:
        return []
    return [(key, locked, committed)]


def _shown(value) -> str:
    return "absent" if value is _MISSING else repr(value)


def file_md5(path: str | os.PathLike[str]) -> str:
    """The md5 DVC records for a file (of its bytes)."""
    import hashlib

    digest = hashlib.md5()  # noqa: S324 - DVC's content address, not a security hash
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_publishable(repo: str | os.PathLike[str], ref: str) -> tuple[str, str, str]:
    """(commit, artifact path, md5) of a model that another clone will be able to fetch.

    Refuses (RegistryError) when the commit's dvc.lock records no model; and, when ``ref`` is the
    checked-out commit, when dvc.lock or the model's folder have uncommitted changes or the model
    file in the workspace is not the one that dvc.lock records (a model trained after the commit).
    """
    commit = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    path = artifact_path(repo, commit)
    md5 = _locked_md5(repo, commit, path, ref)
    check_params_match(repo, commit, ref)
    if commit != git(repo, "rev-parse", "HEAD").strip():
        return commit, path, md5
    folder = str(Path(path).parent)
    dirty = git(repo, "status", "--porcelain", "--", "dvc.lock", folder).splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:4])
        raise RegistryError(
            f"uncommitted changes to {shown}: the model in the workspace is not the one {ref} records; "
            f"commit them first (git add params.yaml dvc.lock {folder} && git commit) and register again"
        )
    workspace = Path(repo, path)
    if workspace.is_file() and file_md5(workspace) != md5:
        raise RegistryError(
            f"{path} in the workspace (md5 {file_md5(workspace)[:8]}) is not the model that dvc.lock at {ref} records "
            f"(md5 {md5[:8]}); run `dvc repro` and commit its outputs, or restore it with `dvc checkout {path}`"
        )
    return commit, path, md5


def ensure_in_remote(repo: str | os.PathLike[str], commit: str, path: str, md5: str, push: bool) -> str | None:
    """Make sure another clone can download the model: it must be in the default DVC remote that
    ``commit``'s .dvc/config names. Returns a note for the user (None when all is well).

    With ``push`` a missing model is pushed (`dvc push`); without, a missing one is refused.
    """
    committed_remote = _default_remote(repo, commit)
    workspace_remote = _default_remote(repo, None)
    if committed_remote is None:
        if workspace_remote is not None:
            raise RegistryError(
                f"the default DVC remote {workspace_remote!r} is not committed (.dvc/config at {commit[:8]} names none), "
                "so other clones cannot download this model; `git add .dvc/config && git commit`, then register again"
            )
        return "no default DVC remote: other clones cannot download this model (set one up: docs/remotes.md)"
    if _remote_has(repo, md5):
        return None
    if not push:
        raise RegistryError(
            f"{path} of {commit[:8]} (md5 {md5[:8]}) is not in the DVC remote {committed_remote!r}, so `invest models get` "
            "would fail in other clones; run `dvc push` first, or register with --push"
        )
    pushed = subprocess.run(
        [sys.executable, "-m", "dvc", "push", path],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    if pushed.returncode != 0 or not _remote_has(repo, md5):
        raise RegistryError(
            f"cannot push {path} to the DVC remote {committed_remote!r}: {dvc_error(pushed.stderr or pushed.stdout)}"
        )
    return f"pushed {path} (md5 {md5[:8]}) to the DVC remote {committed_remote!r}"


def _default_remote(repo: str | os.PathLike[str], commit: str | None) -> str | None:
    """The default remote's name in ``commit``'s .dvc/config, or the workspace's config (incl. .dvc/config.local)."""
    import configparser

    parser = configparser.ConfigParser()
    if commit is None:
        parser.read([Path(repo, ".dvc", "config"), Path(repo, ".dvc", "config.local")])
    else:
        try:
            parser.read_string(git(repo, "show", f"{commit}:.dvc/config"))
        except (RegistryError, configparser.Error):
            return None
    return parser.get("core", "remote", fallback=None) or None


def _remote_has(repo: str | os.PathLike[str], md5: str) -> bool:
    """Whether the default DVC remote holds the object ``md5`` (DVC's data-cloud API)."""
    from dvc.repo import Repo

    try:
        with Repo(str(repo)) as dvc_repo:
            return bool(dvc_repo.cloud.get_remote_odb(None, "register").exists(md5))
    except Exception as exc:  # noqa: BLE001 - unreachable server, bad credentials, ...: one line
        raise RegistryError(f"cannot check the DVC remote: {one_line(exc)}") from None
