import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from invest import registry
from invest.registry import RegistryError

ARTIFACTS = {"stock-model": {"path": "models/model.pt", "type": "model", "desc": "test model", "labels": ["test"]}}
BIN = str(Path(sys.executable).parent)  # dvc and invest live beside the interpreter


def sh(args, cwd, check=True, timeout=600):
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    sh(["git", "init", "-q", "-b", "main"], path)
    sh(["git", "config", "user.email", "test@example.com"], path)
    sh(["git", "config", "user.name", "test"], path)
    return path


def commit(path: Path, message: str) -> str:
    sh(["git", "add", "-A"], path)
    sh(["git", "commit", "-q", "-m", message], path)
    return sh(["git", "rev-parse", "HEAD"], path).stdout.strip()


def invest(monkeypatch, capsys, cwd: Path, *args: str) -> tuple[int, str, str]:
    """The console entry point, in-process, in ``cwd``: (exit code, stdout, stderr)."""
    from invest import cli

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["invest", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def tagged_repo(tmp_path):
    """A git repo whose dvc.yaml declares the artifact and whose dvc.lock records the model (no DVC needed)."""
    repo = git_repo(tmp_path / "repo")
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"train": {"cmd": "true", "outs": ["models/model.pt"]}}, "artifacts": ARTIFACTS})
    )
    (repo / "README").write_text("no model yet\n")
    commit(repo, "pipeline without a lock")
    lock = {
        "schema": "2.0",
        "stages": {"train": {"cmd": "true", "outs": [{"path": "models/model.pt", "md5": "0" * 32, "size": 1, "hash": "md5"}]}},
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    commit(repo, "trained 1")
    return repo


def test_register_promote_list_and_resolve(tagged_repo):
    repo = str(tagged_repo)
    first, note = registry.register("1.0.0", repo=repo)  # the v is optional
    assert "no default DVC remote" in note
    assert first.version == "v1.0.0" and first.stages == ()
    assert "stock-model@v1.0.0" in sh(["git", "tag"], tagged_repo).stdout.split()
    assert registry.promote("v1.0.0", "prod", repo=repo).stages == ("prod",)
    assert registry.resolve("prod", repo).version == "v1.0.0"
    (tagged_repo / "dvc.lock").write_text((tagged_repo / "dvc.lock").read_text().replace("size: 1", "size: 2"))
    second_commit = commit(tagged_repo, "trained 2")
    registry.register("v1.1.0", repo=repo)
    registry.promote("v1.0.0", "staging", repo=repo)
    time.sleep(1.1)  # git tag times have one-second resolution; GTO orders assignments by them
    registry.promote("v1.1.0", "prod", repo=repo)
    resolved = registry.resolve("prod", repo)  # GTO: the most recent assignment of the stage wins
    assert (resolved.version, resolved.commit) == ("v1.1.0", second_commit)
    assert registry.resolve("staging", repo).version == "v1.0.0"
    assert registry.resolve("latest", repo).version == "v1.1.0"
    assert registry.resolve("v1.0.0", repo).version == "v1.0.0"
    listed = {v.version: v for v in registry.versions(repo)}
    assert listed["v1.1.0"].stages == ("prod",) and listed["v1.0.0"].stages == ("staging",)
    table = registry.table(registry.versions(repo)).splitlines()
    assert table[1].split() == ["version", "stages", "commit", "registered"]
    assert table[2].split()[:3] == ["v1.1.0", "prod", second_commit[:8]]


def test_registry_errors_are_one_line(tagged_repo):
    repo = str(tagged_repo)
    with pytest.raises(RegistryError, match="not a semantic version; write it like v1.2.0"):
        registry.register("one", repo=repo)
    with pytest.raises(RegistryError, match=r"HEAD~1 has no committed dvc.lock"):
        registry.register("v0.1.0", ref="HEAD~1", repo=repo)
    registry.register("v1.0.0", repo=repo)
    with pytest.raises(RegistryError, match="already registered in this commit"):
        registry.register("v2.0.0", repo=repo)
    with pytest.raises(RegistryError, match=r"no registered version v9.9.9 \(registered: v1.0.0\)"):
        registry.promote("v9.9.9", "prod", repo=repo)
    with pytest.raises(RegistryError, match="no version of stock-model is in stage 'prod'"):
        registry.resolve("prod", repo)
    with pytest.raises(RegistryError, match="not a valid stage name"):
        registry.promote("v1.0.0", "no stage", repo=repo)
    for error in (RegistryError("x"),):
        assert "\n" not in str(error)


def test_cli_models_commands(tagged_repo, monkeypatch, capsys):
    code, out, _ = invest(monkeypatch, capsys, tagged_repo, "models", "register", "v1.0.0")
    assert code == 0 and out.startswith("registered stock-model@v1.0.0 at ")
    code, out, _ = invest(monkeypatch, capsys, tagged_repo, "models", "promote", "v1.0.0", "prod")
    assert code == 0 and out.startswith("stock-model v1.0.0 -> prod")
    code, out, _ = invest(monkeypatch, capsys, tagged_repo, "models", "list")
    assert code == 0 and out.splitlines()[2].split()[:2] == ["v1.0.0", "prod"]
    code, _, err = invest(monkeypatch, capsys, tagged_repo, "models", "promote", "v3.0.0", "prod")
    assert code == 1 and err.startswith("Error: stock-model has no registered version v3.0.0") and err.count("\n") == 1


def test_get_by_stage_from_a_clone_through_the_dvc_remote(tmp_path, monkeypatch, capsys):
    """A one-stage DVC pipeline, pushed to a local remote; a fresh clone fetches the prod model."""
    repo = git_repo(tmp_path / "origin")
    make = (
        f"{sys.executable} -c \"import pathlib; pathlib.Path('models').mkdir(exist_ok=True); "
        "pathlib.Path('models/model.pt').write_text(pathlib.Path('weights.txt').read_text())\""
    )
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump(
            {"stages": {"train": {"cmd": make, "deps": ["weights.txt"], "outs": ["models/model.pt"]}}, "artifacts": ARTIFACTS}
        )
    )
    (repo / "weights.txt").write_text("weights one\n")
    sh(["dvc", "init", "-q"], repo)
    sh(["dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], repo)
    sh(["dvc", "repro", "-q"], repo)
    commit(repo, "model one")
    sh(["dvc", "push", "-q"], repo)
    registry.register("v1.0.0", repo=str(repo))
    registry.promote("v1.0.0", "prod", repo=str(repo))
    (repo / "weights.txt").write_text("weights two\n")
    sh(["dvc", "repro", "-q"], repo)
    commit(repo, "model two")
    sh(["dvc", "push", "-q"], repo)
    registry.register("v2.0.0", repo=str(repo))  # registered, not promoted: prod stays v1.0.0

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    code, out, err = invest(monkeypatch, capsys, clone, "models", "get", "prod", "--out", "fetched/model.pt")
    assert code == 0, err
    assert out.startswith("stock-model v1.0.0 (commit ")
    assert (clone / "fetched" / "model.pt").read_text() == "weights one\n"
    code, _, err = invest(monkeypatch, capsys, clone, "models", "get", "prod", "--out", "fetched/model.pt")
    assert code == 1 and "already exists; pass --force" in err
    version, path = registry.get("latest", repo=str(repo), out=tmp_path / "latest.pt")
    assert version.version == "v2.0.0" and path.read_text() == "weights two\n"
    with pytest.raises(RegistryError, match="no version of stock-model is in stage 'dev'"):
        registry.get("dev", repo=str(clone), out=tmp_path / "dev.pt")


def dvc_pipeline(path: Path, remote: Path | None) -> Path:
    """A git + DVC repo whose one stage copies weights.txt to models/model.pt (the artifact)."""
    repo = git_repo(path)
    make = (
        f"{sys.executable} -c \"import pathlib; pathlib.Path('models').mkdir(exist_ok=True); "
        "pathlib.Path('models/model.pt').write_text(pathlib.Path('weights.txt').read_text())\""
    )
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump(
            {"stages": {"train": {"cmd": make, "deps": ["weights.txt"], "outs": ["models/model.pt"]}}, "artifacts": ARTIFACTS}
        )
    )
    (repo / "weights.txt").write_text("weights one\n")
    sh(["dvc", "init", "-q"], repo)
    if remote is not None:
        sh(["dvc", "remote", "add", "-d", "store", str(remote)], repo)
    sh(["dvc", "repro", "-q"], repo)
    commit(repo, "model one")
    return repo


def test_register_refuses_a_model_other_clones_could_not_fetch(tmp_path, monkeypatch, capsys):
    repo = dvc_pipeline(tmp_path / "origin", tmp_path / "remote")
    with pytest.raises(RegistryError, match=r"models/model.pt of \w{8} \(md5 \w{8}\) is not in the DVC remote 'store'.*dvc push"):
        registry.register("v1.0.0", repo=str(repo))  # committed, but never pushed

    (repo / "weights.txt").write_text("weights two\n")  # retrained after the commit: dvc.lock is dirty
    sh(["dvc", "repro", "-q"], repo)
    code, _, err = invest(monkeypatch, capsys, repo, "models", "register", "v1.0.0", "--push")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("Error: uncommitted changes to dvc.lock") and "git add params.yaml dvc.lock models && git commit" in err

    sh(["git", "checkout", "-q", "--", "dvc.lock", "weights.txt"], repo)  # the lock says model one, the file is model two
    with pytest.raises(
        RegistryError, match=r"models/model.pt in the workspace \(md5 \w{8}\) is not the model that dvc.lock at HEAD records"
    ):
        registry.register("v1.0.0", repo=str(repo), push=True)
    assert sh(["git", "tag"], repo).stdout == ""  # nothing was registered

    sh(["dvc", "checkout", "-q", "models/model.pt"], repo)
    origin = tmp_path / "origin.git"
    sh(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    sh(["git", "remote", "add", "origin", str(origin)], repo)
    sh(["git", "push", "-q", "origin", "main"], repo)
    code, out, err = invest(monkeypatch, capsys, repo, "models", "register", "v1.0.0", "--push")
    assert code == 0, err
    assert "pushed models/model.pt" in err and out.startswith("registered stock-model@v1.0.0")

    clone = tmp_path / "clone"  # a second machine: clone from the git remote, fetch through the DVC remote
    sh(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    code, out, err = invest(monkeypatch, capsys, clone, "models", "get", "v1.0.0", "--out", "fetched.pt")
    assert code == 0, err
    assert (clone / "fetched.pt").read_text() == "weights one\n"


def test_register_refuses_an_uncommitted_default_remote(tmp_path):
    repo = dvc_pipeline(tmp_path / "origin", None)
    sh(["dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], repo)  # configured, not committed
    sh(["dvc", "push", "-q"], repo)
    with pytest.raises(RegistryError, match=r"the default DVC remote 'store' is not committed.*git add .dvc/config"):
        registry.register("v1.0.0", repo=str(repo))
    commit(repo, "remote")
    version, note = registry.register("v1.0.0", repo=str(repo))
    assert version.version == "v1.0.0" and note is None


@pytest.mark.slow
def test_end_to_end_register_promote_fetch_predict_compare(tmp_path, monkeypatch, capsys):
    """The real pipeline (dvc repro) in a git repo with a local DVC remote, then a second clone."""
    from tests.conftest import make_dvc_repo
    from tests.tiny_pipeline import tiny_params

    repo = make_dvc_repo(tmp_path / "origin", tiny_params())
    sh(["dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], repo)
    commit(repo, "remote")
    sh(["dvc", "repro"], repo, timeout=900)
    card = yaml.safe_load((repo / "models" / "model_card.json").read_text())
    assert card["status"] == "evaluated"
    commit(repo, "model v1")
    sh(["dvc", "push"], repo)
    for args in (("models", "register", "v1.0.0"), ("models", "promote", "v1.0.0", "prod")):
        code, _, err = invest(monkeypatch, capsys, repo, *args)
        assert code == 0, err

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    code, out, err = invest(monkeypatch, capsys, clone, "models", "get", "prod", "--out", "models/model.pt")
    assert code == 0, err
    digest = hashlib.sha256((repo / "models" / "model.pt").read_bytes()).hexdigest()
    assert hashlib.sha256((clone / "models" / "model.pt").read_bytes()).hexdigest() == digest
    code, out, err = invest(monkeypatch, capsys, clone, "models", "get", "prod", "--repo", str(repo), "--out", "again.pt")
    assert code == 0, err
    assert (clone / "again.pt").read_bytes() == (repo / "models" / "model.pt").read_bytes()
    db = repo / "data" / "stock_data.db"
    code, out, err = invest(monkeypatch, capsys, clone, "predict", "--db", str(db), "--out", "latest.csv")
    assert code == 0, err
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        (listed,) = connection.execute("SELECT COUNT(*) FROM snapshots WHERE date = (SELECT MAX(date) FROM snapshots)").fetchone()
    assert len((clone / "latest.csv").read_text().splitlines()) == 1 + listed  # header + every ticker on the newest date

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["seed"] = 99
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(["dvc", "repro"], repo, timeout=900)
    commit(repo, "model v1.1: another seed")
    sh(["dvc", "push"], repo)
    code, _, err = invest(monkeypatch, capsys, repo, "models", "register", "v1.1.0")
    assert code == 0, err
    code, out, err = invest(monkeypatch, capsys, repo, "compare", "v1.0.0", "v1.1.0")
    assert code == 0, err
    assert "A: v1.0.0" in out and "B: v1.1.0" in out
    verdicts = out.rstrip().splitlines()[-3:]
    assert [line.split(":")[0] for line in verdicts] == [
        "verdict, rank IC",
        "verdict, MAE",
        "verdict, top-book net return a year",
    ]
    assert all("better (B − A = " in line or "no significant difference (B − A = " in line for line in verdicts), verdicts
    code, out, _ = invest(monkeypatch, capsys, repo, "models", "list")
    assert [line.split()[:2] for line in out.splitlines()[2:]] == [["v1.1.0", "-"], ["v1.0.0", "prod"]]


def test_register_refuses_a_commit_whose_params_yaml_is_not_the_one_its_dvc_lock_was_built_with(tagged_repo):
    """The README's recipe once left params.yaml out of the commit: the version's model was trained with
    other settings than its params.yaml says, and `dvc status` in another clone called it out of date."""
    lock = yaml.safe_load((tagged_repo / "dvc.lock").read_text())
    lock["stages"]["train"]["params"] = {"params.yaml": {"train": {"learning_rate": 0.0003, "epochs": 30}}}
    (tagged_repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tagged_repo / "params.yaml").write_text("train:\n  learning_rate: 0.001\n  epochs: 30\n")
    commit(tagged_repo, "trained with 0.0003, params.yaml left out")
    with pytest.raises(RegistryError) as error:
        registry.register("v1.0.0", repo=str(tagged_repo))
    assert str(error.value) == (
        "params.yaml at HEAD is not the one its dvc.lock was built with (train.learning_rate: 0.0003 in dvc.lock, "
        "0.001 in params.yaml); commit the params.yaml the model was trained with, or run dvc repro with this one, "
        "then commit them together (git add params.yaml dvc.lock metrics models evaluation && git commit) and register again"
    )
    (tagged_repo / "params.yaml").write_text("train:\n  learning_rate: 0.0003\n  epochs: 30\n")
    commit(tagged_repo, "params.yaml committed with its model")
    assert registry.register("v1.0.0", repo=str(tagged_repo))[0].version == "v1.0.0"
