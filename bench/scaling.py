"""How the data stages and one training epoch grow with the universe size.

    python bench/scaling.py [--tickers 100 300 1000 3000] [--profile] [--workdir DIR]

For each size, a fresh process runs in its own directory, with params.yaml's defaults and
``data.n_tickers`` set: fetch (simulated market) -> validate -> cache -> train (load the store
and build the arrays; then one epoch, validation loss included) through the stage modules'
own functions. It reports wall and CPU seconds and the peak RSS during each step (psutil,
polled every 20 ms), the raw/store sizes and the rows. The parent kills a run whose RSS
passes ``--rss-limit-gib`` (default 20) and reports where it was.

``--profile`` then runs the largest size once more under cProfile and prints, per step,
the functions with the most own time (``tottime``) and the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, Background, machine, print_table  # noqa: E402

STEPS = ("fetch", "validate", "cache", "train: load + arrays", "train: 1 epoch")


class StepMemory:
    """Peak RSS of this process while each step runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.current = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.current = max(self.current, self.process.memory_info().rss)
            time.sleep(0.02)

    def reset(self) -> None:
        self.current = self.process.memory_info().rss

    def stop(self) -> None:
        self._stop.set()


def worker(n_tickers: int, base: Path, profile_dir: Path | None) -> None:
    """Run the steps for one size; one JSON line per step on stdout (flushed, so a killed run still reports)."""
    from invest import cache, fetch, validate
    from invest import params as params_module
    from invest.data.panel import load_panel
    from invest.modelling.device import resolve_device
    from invest.modelling.engine import fit_stack
    from invest.modelling.training import prepare

    params = params_module.load(REPO / "params.yaml")
    params = replace(params, data=replace(params.data, n_tickers=n_tickers), train=replace(params.train, epochs=1))
    memory = StepMemory()
    state: dict = {}

    def train_arrays() -> None:
        state["prepared"] = prepare(load_panel(base / "stock_data.db"), params.train)

    def train_epoch() -> None:  # the whole ensemble, stacked, as the train stage and every walk-forward job run it
        members = list(range(params.train.ensemble_size))
        fit_stack(state["prepared"], params.train, members, resolve_device("cpu"), verbose=False)

    steps = {
        "fetch": lambda: fetch.main(params, raw_dir=base / "raw", report_path=base / "fetch.json"),
        "validate": lambda: validate.main(params, raw_dir=base / "raw", report_path=base / "quality.json"),
        "cache": lambda: cache.main(params, raw_dir=base / "raw", db_path=base / "stock_data.db"),
        "train: load + arrays": train_arrays,
        "train: 1 epoch": train_epoch,
    }
    for name, step in steps.items():
        print(json.dumps({"step": name, "started": True}), flush=True)
        memory.reset()
        profiler = cProfile.Profile() if profile_dir else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.runcall(step)
            profiler.dump_stats(profile_dir / f"{name.replace(':', '').replace(' ', '_').replace('+', '')}.prof")
        else:
            step()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        extra = {}
        if name == "cache":
            extra = {
                "db_bytes": (base / "stock_data.db").stat().st_size,
                "raw_bytes": sum(p.stat().st_size for p in (base / "raw").iterdir()),
            }
        if name == "train: load + arrays":
            prepared = state["prepared"]
            extra = {
                "snapshots": len(prepared.target),
                "train_rows": int(prepared.masks["train"].sum()),
                "arrays_bytes": prepared.past.nbytes + prepared.static.nbytes + prepared.arrays.past.nbytes,
            }
        print(json.dumps({"step": name, "wall_s": wall, "cpu_s": cpu, "peak_rss": memory.current, **extra}), flush=True)
    memory.stop()


def run_size(n_tickers: int, workdir: Path, rss_limit: int, profile: bool) -> dict:
    base = workdir / f"n{n_tickers}"
    base.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, __file__, "--worker", str(n_tickers), "--workdir", str(base)]
    if profile:
        (base / "profile").mkdir(exist_ok=True)
        args.append("--profile")
    # the worker reads params.yaml and the code of this checkout (PYTHONPATH), not the editable install's
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, killed = [0], []

    def guard() -> None:
        process = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                return
            peak[0] = max(peak[0], rss)
            if rss > rss_limit:
                killed.append(rss)
                proc.kill()
                return
            time.sleep(0.05)

    threading.Thread(target=guard, daemon=True).start()
    steps, current = {}, None
    with Background() as background:
        for line in proc.stdout:
            record = json.loads(line)
            if record.get("started"):
                current = record["step"]
            else:
                steps[record["step"]] = record
        proc.wait()
    error = proc.stderr.read()
    outcome = "ok"
    if killed:
        outcome = f"killed at {killed[0] / 2**30:.1f} GiB RSS during {current}"
    elif proc.returncode != 0:
        outcome = f"failed during {current}: {error.strip().splitlines()[-1] if error.strip() else proc.returncode}"
    return {
        "n": n_tickers,
        "steps": steps,
        "outcome": outcome,
        "peak_rss": peak[0],
        "others_cores": background.others_cores,
        "dir": base,
    }


def print_profile(profile_dir: Path, top: int) -> None:
    for path in sorted(profile_dir.glob("*.prof"), key=lambda p: p.stat().st_mtime):
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(str(path), stream=out)
            stats.sort_stats(order).print_stats(top)
            lines = [line for line in out.getvalue().splitlines() if line.strip()]
            start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
            print(f"### {path.stem}: top {top} by {order}\n\n```")
            print("\n".join(line[:160] for line in lines[start : start + top + 1]))
            print("```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, nargs="+", default=[100, 300, 1000, 3000])
    parser.add_argument("--profile", action="store_true", help="profile the largest size in an extra run")
    parser.add_argument("--top", type=int, default=12, help="profile entries per step")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--rss-limit-gib", type=float, default=20.0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.workdir, args.workdir / "profile" if args.profile else None)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="invest-scaling-"))
    limit = int(args.rss_limit_gib * 2**30)
    print(f"machine: {machine()}\nworkdir: {workdir}\n")
    results = [run_size(n, workdir, limit, profile=False) for n in args.tickers]

    print("## wall seconds per step (CPU seconds in brackets)\n")
    rows = []
    for r in results:
        cells = [f"{r['steps'][s]['wall_s']:.1f} ({r['steps'][s]['cpu_s']:.1f})" if s in r["steps"] else "-" for s in STEPS]
        total = sum(step["wall_s"] for step in r["steps"].values())
        rows.append([f"{r['n']:,}", *cells, f"{total:.1f}", r["outcome"], f"{r['others_cores']:.2f}"])
    print_table(["tickers", *STEPS, "total", "outcome", "other processes (cores)"], rows)

    print("## peak RSS per step (MiB) and sizes\n")
    rows = []
    for r in results:
        cells = [f"{r['steps'][s]['peak_rss'] / 2**20:,.0f}" if s in r["steps"] else "-" for s in STEPS]
        cache_step = r["steps"].get("cache", {})
        arrays = r["steps"].get("train: load + arrays", {})
        rows.append(
            [
                f"{r['n']:,}",
                *cells,
                f"{r['peak_rss'] / 2**20:,.0f}",
                f"{cache_step.get('raw_bytes', 0) / 2**20:,.0f}",
                f"{cache_step.get('db_bytes', 0) / 2**20:,.0f}",
                f"{arrays.get('snapshots', 0):,}",
                f"{arrays.get('train_rows', 0):,}",
            ]
        )
    print_table(["tickers", *STEPS, "process peak", "raw MiB", "db MiB", "snapshots", "train rows"], rows)

    ok = [r for r in results if r["outcome"] == "ok"]
    if len(ok) >= 2:
        small, large = ok[0], ok[-1]
        factor = large["n"] / small["n"]
        print(f"## growth from {small['n']:,} to {large['n']:,} tickers (x{factor:g}): time and memory ratio per step\n")
        rows = []
        for s in STEPS:
            if s in small["steps"] and s in large["steps"]:
                a, b = small["steps"][s], large["steps"][s]
                rows.append([s, f"x{b['wall_s'] / a['wall_s']:.1f}", f"x{b['peak_rss'] / a['peak_rss']:.1f}"])
        print_table(["step", "wall time", "peak RSS"], rows)

    if args.profile:
        n = max(args.tickers)
        print(f"## profile of the {n:,}-ticker run (cProfile; adds some overhead to Python-level calls)\n")
        result = run_size(n, workdir / "profiled", limit, profile=True)
        print(f"outcome: {result['outcome']}\n")
        print_profile(result["dir"] / "profile", args.top)


if __name__ == "__main__":
    main()
