"""DVC-tracked data moving between two clones through real remotes on 127.0.0.1.

Remotes: a local directory, OpenSSH's sshd (dvc-ssh) and an S3 server (``rclone serve s3``, dvc-s3),
each started and stopped by the fixtures in ``servers.py``.  Repo A is a copy of a real ``git init`` +
``dvc init`` repository built once per session (``template``: ``servers.create_repo`` with a one-stage toy
pipeline, cheap enough to repeat for every remote and fault; ``project_template``: this project's own
pipeline on a small simulated market, for the SSH round trip; queued trials run in tests/test_readme.py), a bare git repository
is its ``origin``, and clone B is ``git clone`` of that with its own ``.dvc/config.local`` credentials.  The default remote is committed in ``.dvc/config``; credentials never are.

Missing server binaries or plugins skip these tests (fail with INVEST_REQUIRE_SERVERS=1).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import servers
from servers import (
    DVC,
    Remote,
    Repo,
    ThrottledProxy,
    add_bulk_files,
    copy_repo,
    create_repo,
    expected_objects,
    kill_group,
    local_remote,
    run,
    s3_remote,
    ssh_remote,
    toy_metrics,
    toy_project,
    tracked_files,
)

# Fixtures from servers.py, registered here by name (sshd_server and s3_server start on first use).
dvc_env = servers.dvc_env
sshd_server = servers.sshd_server
s3_server = servers.s3_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KINDS = ["local", "ssh", "s3"]
UP_TO_DATE = "Data and pipelines are up to date."


# --- helpers -----------------------------------------------------------------------------------------


@pytest.fixture
def make_remote(request, tmp_path: Path, dvc_env: dict):
    """``make_remote(kind, port=None)``: a fresh remote of that kind (servers are started on first use)."""

    def factory(kind: str, port: int | None = None) -> Remote:
        if kind == "local":
            return local_remote(tmp_path)
        if kind == "ssh":
            server = request.getfixturevalue("sshd_server")
            if port is not None:
                server.trust(Path(dvc_env["HOME"]), port)
            return ssh_remote(server, tmp_path, port=port)
        if kind == "s3":
            server = request.getfixturevalue("s3_server")
            return s3_remote(server, prefix=tmp_path.name, port=port)
        raise ValueError(kind)

    return factory


@pytest.fixture(scope="session")
def template(tmp_path_factory, dvc_env: dict) -> Repo:
    """The project every test starts from, built once (git init, dvc init, populate, commit) and copied.

    The toy pipeline for now; for the real one: ``create_repo(..., populate=copy_project(REPO_ROOT))``.
    """
    return create_repo(tmp_path_factory.mktemp("template") / "repo", dvc_env, populate=toy_project)


def publish(tmp_path: Path, template: Repo, remote: Remote, setup=None) -> tuple[Repo, Path]:
    """Repo A (a copy of ``template``) with ``remote`` as its default remote COMMITTED in .dvc/config
    (credentials only in .dvc/config.local), and a bare repository as its git ``origin``."""
    env = template.env
    bare = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path, env)
    repo = copy_repo(template, tmp_path / "A")
    if setup is not None:
        setup(repo)
    remote.add(repo)
    repo.commit("remote")
    repo.git("remote", "add", "origin", str(bare))
    assert_no_credentials_committed(repo, remote)
    return repo, bare


def clone(bare: Path, path: Path, env: dict, remote: Remote) -> Repo:
    run(["git", "clone", "-q", str(bare), str(path)], bare.parent, env)
    repo = Repo(path, env)
    remote.add_credentials(repo)
    return repo


def assert_no_credentials_committed(repo: Repo, remote: Remote) -> None:
    config = (repo.path / ".dvc" / "config").read_text()
    for key in remote.local_options:
        assert not re.search(rf"^\s*{key}\s*=", config, re.MULTILINE), f"{key} leaked into .dvc/config"
    for key in ("secret_access_key", "keyfile", "password"):
        if key in remote.local_options:
            assert remote.local_options[key] not in config, f"{key} leaked into .dvc/config"
    ignored = repo.git("check-ignore", ".dvc/config.local", check=False)
    assert ignored.returncode == 0, ".dvc/config.local must be git-ignored"


def assert_up_to_date(repo: Repo) -> None:
    """`dvc status` finds nothing to do, `dvc repro` runs nothing, and the remote holds everything."""
    status = repo.dvc("status")
    assert UP_TO_DATE in status.stdout, status.stdout
    out = repo.path / "out" / "data.bin"
    before = out.stat().st_mtime_ns
    repro = repo.dvc("repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert UP_TO_DATE in repro.stdout, repro.stdout
    assert out.stat().st_mtime_ns == before
    cloud = repo.dvc("status", "--cloud")
    assert "in sync" in cloud.stdout, cloud.stdout


def repro_commit_push(repo: Repo) -> None:
    repo.dvc("repro")
    repo.commit("repro")
    repo.dvc("push")
    repo.git("push", "-q", "origin", "main")


# --- push / pull round trip, then an experiment through exp push / exp pull ------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_push_pull_and_experiment(kind: str, tmp_path: Path, dvc_env: dict, template: Repo, make_remote) -> None:
    remote = make_remote(kind)
    a, bare = publish(tmp_path, template, remote)  # default remote committed BEFORE any experiment
    repro_commit_push(a)
    assert remote.objects() == expected_objects(a)  # raw/input.txt (dvc add) + out/data.bin (stage output)

    # Clone B gets everything from git + the remote, byte for byte, and has nothing to rerun.
    b = clone(bare, tmp_path / "B", dvc_env, remote)
    assert not (b.path / "out" / "data.bin").exists()
    b.dvc("pull")
    assert tracked_files(b) == tracked_files(a)
    assert_up_to_date(b)

    # An experiment in A: its git refs go to origin, its data to the remote in ITS commit's .dvc/config.
    baseline = a.read("out/data.bin")
    a.dvc("exp", "run", "-S", "p=7", "-n", "exp-p7")
    a.dvc("exp", "push", "origin", "exp-p7")
    expected = {name: a.read(name) for name in ("out/data.bin", "metrics.json", "params.yaml")}
    assert expected["out/data.bin"] != baseline
    assert json.loads(expected["metrics.json"]).items() >= toy_metrics(7).items()

    b.dvc("exp", "pull", "origin", "exp-p7")
    b.dvc("exp", "apply", "exp-p7")  # checks the experiment's outputs out of the (pulled) cache
    assert {name: b.read(name) for name in expected} == expected
    assert UP_TO_DATE in b.dvc("status").stdout


# --- an interrupted push, resumed ---------------------------------------------------------------------

# Runs `dvc ...` with every local-filesystem file copy slowed down (a slow disk), so that a push to a
# local-directory remote can be killed part-way; SSH and S3 are slowed by a throttling TCP relay instead.
SLOW_LOCAL_DVC = """\
import os, sys, time
import dvc_objects.fs.local as local
_copyfile = local.copyfile
def copyfile(*args, **kwargs):
    time.sleep(float(os.environ["INVEST_TEST_COPY_DELAY"]))
    return _copyfile(*args, **kwargs)
local.copyfile = copyfile
from dvc.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_push_resumes(kind: str, request, tmp_path: Path, dvc_env: dict, template: Repo, make_remote) -> None:
    # 8 x 128 KiB files pushed one at a time at 256 KiB/s through the relay (or 0.3 s per local file
    # copy): the push takes ~4 s and is SIGKILLed once 3 objects have landed on the remote.
    proxy = None
    if kind == "local":
        remote = make_remote("local")
        cmd = [sys.executable, "-c", SLOW_LOCAL_DVC, "push", "-j", "1"]
        env = {**dvc_env, "INVEST_TEST_COPY_DELAY": "0.3"}
    else:
        server = request.getfixturevalue("sshd_server" if kind == "ssh" else "s3_server")
        proxy = ThrottledProxy(server.port, bytes_per_second=256 * 1024).__enter__()
        remote = make_remote(kind, port=proxy.port)
        cmd = [*DVC, "push", "-j", "1"]
        env = dvc_env
    try:
        a, bare = publish(tmp_path, template, remote, setup=lambda repo: add_bulk_files(repo, count=8, size=131072))
        a.dvc("repro")
        a.commit("repro")
        a.git("push", "-q", "origin", "main")
        expected = expected_objects(a, dirs=("bulk",))
        assert len(expected) == 11  # 8 files + bulk .dir + raw/input.txt + out/data.bin

        log = tmp_path / "push.log"
        with open(log, "wb") as out:
            push = subprocess.Popen(
                cmd, cwd=a.path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 60
            while len(remote.objects()) < 3 and push.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert push.poll() is None, f"push ended before it could be interrupted:\n{log.read_text()}"
        finally:
            kill_group(push)
        partial = remote.objects()
        assert 3 <= len(partial) < len(expected), (len(partial), log.read_text())

        if proxy is not None:
            proxy.bytes_per_second = None
        rerun = a.dvc("push")
        assert "pushed" in rerun.stdout, rerun.stdout
        assert remote.objects() == expected  # every object, none of them a leftover partial file

        b = clone(bare, tmp_path / "B", dvc_env, remote)
        b.dvc("pull")
        assert tracked_files(b) == tracked_files(a)
        assert UP_TO_DATE in b.dvc("status").stdout
    finally:
        if proxy is not None:
            proxy.close()


# --- the real pipeline: laptop <-> GPU box over SSH ---------------------------------------------


def small_project(repo: Repo) -> None:
    """This project's pipeline (dvc.yaml, src, params.yaml) on the small simulated market of conftest.py."""
    from conftest import PIPELINE_FILES, REPO, SMALL_PARAMS

    for name in PIPELINE_FILES:
        (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / name).write_bytes((REPO / name).read_bytes())
    shutil.copytree(REPO / "src", repo.path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    merged = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in SMALL_PARAMS.items():
        merged[section].update(values)
    (repo.path / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))


@pytest.fixture(scope="session")
def project_template(tmp_path_factory, dvc_env: dict) -> Repo:
    return create_repo(tmp_path_factory.mktemp("project") / "repo", dvc_env, populate=small_project)


def pipeline_files(repo: Repo) -> dict[str, bytes]:
    """The workspace files git or DVC versions (wall-clock run logs, which neither keeps, left out)."""
    return {name: data for name, data in tracked_files(repo).items() if not name.endswith(".run.json")}


def test_the_real_pipeline_travels_over_ssh(tmp_path: Path, dvc_env: dict, project_template: Repo, make_remote) -> None:
    remote = make_remote("ssh")
    a, bare = publish(tmp_path, project_template, remote)
    repro_commit_push(a)  # "the GPU box": builds raw data, database, model and metrics, pushes them

    b = clone(bare, tmp_path / "B", dvc_env, remote)  # "the laptop"
    assert not (b.path / "models" / "model.pt").exists() and not (b.path / "data" / "stock_data.db").exists()
    b.dvc("pull")
    assert pipeline_files(b) == pipeline_files(a)
    assert UP_TO_DATE in b.dvc("status").stdout
    repro = b.dvc("repro")
    assert "Running stage" not in repro.stdout, repro.stdout

    predicted = run([sys.executable, "-m", "invest", "predict", "--ticker", "S001", "--out", "p.csv"], b.path, dvc_env)
    assert "S001" in predicted.stdout and (b.path / "p.csv").is_file()
