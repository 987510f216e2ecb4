"""Which code trained a model, recorded so that committing the results does not change it.

A checkpoint cannot hold the id of the commit that records it (committing ``dvc.lock`` makes a
new HEAD), so recording HEAD would make every fresh clone's ``dvc repro`` differ from the
committed ``dvc.lock``. Instead a checkpoint records the *code of its stage*: the modules the
stage imports (the same set ``tests/test_structure.py`` requires in the stage's ``deps``), as a
hash of their bytes, plus the last commit that changed them. Both stay put while results, params,
data or unrelated modules are committed, and change exactly when DVC reruns the stage for a code
change. Wall-clock facts (when, how long, HEAD) go to ``models/model.run.json``, not versioned.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
from pathlib import Path

import invest

PACKAGE_DIR = Path(invest.__file__).resolve().parent
# changes to these are configuration-level: they do not rerun a stage (not in its dvc.yaml deps)
SHARED_MODULES = frozenset({"invest", "invest.errors", "invest.params", "invest.cli"})


def _module_path(package_dir: Path, module: str) -> Path | None:
    parts = module.split(".")[1:]
    for candidate in (package_dir.joinpath(*parts).with_suffix(".py"), package_dir.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """``invest`` modules a file imports, at top level or inside functions; not those imported only for
    type hints (``if TYPE_CHECKING:``), which never run."""
    names = set()
    for node in ast.walk(_without_type_checking(ast.parse(path.read_bytes()))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "invest" and not node.level:
            if node.module == "invest":
                names.update(f"invest.{alias.name}" for alias in node.names)
            else:  # `from invest.data.sources import sim` may name a module too; non-modules are skipped later
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.split(".")[0] == "invest")
    return names


def _without_type_checking(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    return tree


def module_closure(module: str, package_dir: str | os.PathLike[str] = PACKAGE_DIR) -> dict[str, Path]:
    """Every ``invest`` module ``module`` imports, directly or not (top level or inside functions),
    shared configuration modules left out: name -> source file."""
    root = Path(package_dir)
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name in SHARED_MODULES:
            continue
        path = _module_path(root, name)
        if path is None:
            continue
        found[name] = path
        todo.extend(_imports(path))
        todo.append(name.rpartition(".")[0])  # importing a.b.c runs a/b/__init__.py first
    return dict(sorted(found.items()))


def code_hash(files: list[Path], package_dir: str | os.PathLike[str] = PACKAGE_DIR) -> str:
    """sha256 over the files' paths (relative to the package) and bytes, in path order."""
    root = Path(package_dir)
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version(stage: str = "invest.train", package_dir: str | os.PathLike[str] = PACKAGE_DIR) -> dict[str, object]:
    """``code_hash`` of the stage's modules; where the package lives in a git work tree also
    ``git_commit`` and ``created`` (the last commit that changed them, and its time) and
    ``code_dirty`` (uncommitted changes to them)."""
    root = Path(package_dir)
    files = list(module_closure(stage, root).values())
    version: dict[str, object] = {"code_hash": code_hash(files, root), "git_commit": None, "created": None, "code_dirty": None}
    names = [str(path.relative_to(root)) for path in files]
    last = _git(root, "log", "-1", "--format=%H %cI", "--", *names) if names else None
    if last:
        commit, when = last.split()
        status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *names)
        version.update(git_commit=commit, created=when, code_dirty=bool(status))
    return version


def head_commit() -> str | None:
    """HEAD of the repository the command runs in (for the unversioned run log only)."""
    return _git(Path.cwd(), "rev-parse", "HEAD")
