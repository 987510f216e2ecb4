"""Shared helpers of the benchmark scripts (run by hand, never by pytest).

* ``fresh_copy``: the working tree without outputs, caches or git history, as a new git
  repository with one commit (pinned dates), so ``dvc repro`` runs every stage from scratch;
* ``Sampler``: polls a process tree with psutil for its summed RSS (peak per label) and CPU time;
* ``Background``: CPU used by *other* processes on the machine while we measure (a shared CPU
  makes wall times meaningless unless this is known);
* ``print_table``: a Markdown table on stdout.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
PINNED_GIT_DATE = "2024-01-02T03:04:05+00:00"
OUTPUTS = ("data", "models", "metrics", "evaluation", "dvc.lock", "dvclive")
NOT_COPIED = (
    ".git",
    ".venv",
    ".dvc/cache",
    ".dvc/tmp",
    "__pycache__",
    "*.egg-info",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    "*.run.json",
)


def fresh_copy(dest: Path, overrides: dict[str, dict] | None = None) -> Path:
    """Copy the working tree (code, dvc.yaml, params.yaml; no outputs) to ``dest`` as a new one-commit git repo."""
    import yaml

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(REPO)
        skipped = set(shutil.ignore_patterns(*(p for p in NOT_COPIED if "/" not in p))(directory, names))
        for name in names:
            path = (relative / name).as_posix()
            if path in NOT_COPIED or (relative == Path(".") and name in OUTPUTS):
                skipped.add(name)
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    (dest / "data" / "external").mkdir(parents=True)  # fetch's files dependency (data.files_dir)
    shutil.copy(REPO / "data" / "external" / "README.md", dest / "data" / "external" / "README.md")
    if overrides:
        params = yaml.safe_load((dest / "params.yaml").read_text())
        for section, values in overrides.items():
            params[section].update(values)
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "GIT_AUTHOR_DATE": PINNED_GIT_DATE, "GIT_COMMITTER_DATE": PINNED_GIT_DATE}
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "benchmark snapshot"]):
        subprocess.run(git + args, cwd=dest, env=env, check=True, capture_output=True)
    if not (dest / ".dvc").exists():
        subprocess.run(["dvc", "init", "-q"], cwd=dest, check=True)
    return dest


def apply_settings(params: dict, items: Iterable[str]) -> dict:
    """``params`` with each ``section.key=value`` of ``items`` set (the value read as YAML); the benches' ``--set``."""
    import yaml

    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        params.setdefault(section, {})[name] = yaml.safe_load(value)
    return params


def stage_env(repo: Path) -> dict[str, str]:
    """Environment that makes ``invest`` run the copy's code, not the editable install's."""
    return {**os.environ, "PYTHONPATH": str(Path(repo) / "src")}


class Sampler:
    """Poll the process tree under ``pid`` every ``interval`` s: peak summed RSS and CPU seconds per label."""

    def __init__(self, pid: int, interval: float = 0.05, rss_limit: int | None = None, on_limit=None):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.rss_limit = rss_limit
        self.on_limit = on_limit
        self.label = "start"
        self.peak: dict[str, int] = {}
        self.cpu: dict[str, float] = {}
        self._seen: dict[tuple[int, float], tuple[str, float]] = {}  # (pid, create_time) -> (label, cpu s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for label, cpu in self._seen.values():
            self.cpu[label] = self.cpu.get(label, 0.0) + cpu

    def set_label(self, label: str) -> None:
        self.label = label

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = 0
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss += proc.memory_info().rss
                        times = proc.cpu_times()
                        key = (proc.pid, proc.create_time())
                except psutil.Error:
                    continue
                label = self._seen.get(key, (self.label, 0.0))[0]  # a process belongs to the label it started under
                self._seen[key] = (label, times.user + times.system)
            self.peak[self.label] = max(self.peak.get(self.label, 0), rss)
            if self.rss_limit and rss > self.rss_limit and self.on_limit:
                self.on_limit(rss)
            time.sleep(self.interval)

    @property
    def overall_peak(self) -> int:
        return max(self.peak.values(), default=0)


class Background:
    """Busy CPU seconds of the whole machine minus ours: how loaded the CPU was by others."""

    def __enter__(self) -> Background:
        self._t0 = time.perf_counter()
        self._busy0 = _busy()
        self._ours0 = _own_cpu()
        self.load_start = os.getloadavg()[0]
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._t0
        ours = _own_cpu() - self._ours0
        self.others_cpu = max(0.0, _busy() - self._busy0 - ours)
        self.load_end = os.getloadavg()[0]

    @property
    def others_cores(self) -> float:
        """Average number of cores other processes kept busy."""
        return self.others_cpu / self.wall if self.wall else 0.0

    def describe(self) -> str:
        return (
            f"other processes used {self.others_cores:.2f} of {psutil.cpu_count()} cores on average "
            f"(load average {self.load_start:.2f} -> {self.load_end:.2f})"
        )


def _busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _own_cpu() -> float:
    """CPU seconds of this process, its live descendants and its reaped children."""
    import resource

    total = sum(
        resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def timed_runs(args: Sequence[str], cwd: Path, runs: int, env: dict | None = None) -> list[float]:
    """Wall seconds of ``runs`` executions of a command (each must succeed)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MiB"


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{psutil.cpu_count()} x {cpu}, {memory:.0f} GiB RAM, Python {platform.python_version()}, torch {torch.__version__}"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()
