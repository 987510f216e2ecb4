"""A checkpoint records the code of its stage, and committing results does not change that."""

from __future__ import annotations

import subprocess
from pathlib import Path

from invest.modelling.provenance import PACKAGE_DIR, code_version, module_closure

SOURCES = {
    "__init__.py": "from invest.model import Net\n",
    "errors.py": "class E(Exception):\n    pass\n",
    "train.py": (
        "from typing import TYPE_CHECKING\nfrom invest import model\nfrom invest.errors import E\n"
        "from invest.lib.scaling import Scaler\n\nif TYPE_CHECKING:\n    from invest import predict\n\n"
        "def main():\n    from invest.io import save\n"
    ),
    "model.py": "class Net:\n    pass\n",
    "io.py": "def save():\n    pass\n",
    "predict.py": "from invest.model import Net\n",
    "lib/__init__.py": "NAME = 'model'\n",
    "lib/scaling.py": "class Scaler:\n    pass\n",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    package = repo / "src" / "invest"
    package.mkdir(parents=True)
    for name, text in SOURCES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "code")
    return repo, package


def test_the_closure_follows_imports_also_inside_functions_and_skips_shared_modules(tmp_path):
    """Imports inside functions count, a subpackage's __init__ counts, type-hint-only imports do not."""
    _, package = make_repo(tmp_path)
    closure = list(module_closure("invest.train", package))
    assert closure == ["invest.io", "invest.lib", "invest.lib.scaling", "invest.model", "invest.train"]


def test_the_real_train_stage_depends_on_its_model_but_not_on_the_cli():
    closure = module_closure("invest.train", PACKAGE_DIR)
    assert {"invest.train", "invest.modelling.model", "invest.modelling.checkpoint", "invest.modelling.provenance"} <= set(
        closure
    )
    assert not {"invest.cli", "invest.params", "invest.predict"} & set(closure)


def test_committing_results_or_other_modules_leaves_the_recorded_code_unchanged(tmp_path):
    repo, package = make_repo(tmp_path)
    before = code_version("invest.train", package)
    assert before["git_commit"] and before["created"] and before["code_dirty"] is False
    (repo / "dvc.lock").write_text("outs: []\n")  # the results of a run, committed afterwards
    (package / "predict.py").write_text("# not imported by train\n")
    (package / "errors.py").write_text("class E(Exception):\n    '''config-level'''\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "results and other code")
    assert code_version("invest.train", package) == before


def test_a_change_to_the_stage_code_changes_the_hash_and_is_flagged_until_committed(tmp_path):
    repo, package = make_repo(tmp_path)
    before = code_version("invest.train", package)
    (package / "io.py").write_text("def save():\n    return 1\n")
    dirty = code_version("invest.train", package)
    assert dirty["code_hash"] != before["code_hash"] and dirty["code_dirty"] is True
    assert dirty["git_commit"] == before["git_commit"]
    git(repo, "commit", "-q", "-am", "change")
    committed = code_version("invest.train", package)
    assert committed["code_hash"] == dirty["code_hash"] and committed["code_dirty"] is False
    assert committed["git_commit"] != before["git_commit"]


def test_outside_git_only_the_hash_is_known(tmp_path):
    package = tmp_path / "invest"
    package.mkdir()
    for name, text in SOURCES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    version = code_version("invest.train", package)
    assert version["git_commit"] is None and version["code_dirty"] is None and len(version["code_hash"]) == 64
