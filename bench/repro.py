"""End-to-end pipeline benchmark: `dvc repro` of the defaults in a fresh copy of the working tree.

    python bench/repro.py [--workdir /tmp/invest-bench] [--runs 5] [--set train.epochs=3 ...]

Prints four tables:

1. per stage: wall seconds (from dvc's "Running stage" line to the next one, so it includes
   dvc hashing the stage's outputs and writing dvc.lock), CPU seconds and peak RSS of the
   process tree (psutil, polled every 50 ms; dvc itself included); then, inside evaluate, the
   walk-forward's wall time and the seconds its network jobs and its baseline jobs took, and the
   scoring, report and figures after them (the lines evaluate prints);
2. no-op `dvc repro` and `dvc status` right after: median / min / max of ``--runs`` runs;
3. the store: bytes per snapshot and per ticker-month, and per table (SQLite's dbstat);
4. the CPU taken by other processes meanwhile (on a shared machine wall times mean little
   without it). ``--busy N`` adds N spinning processes during the repro (a loaded machine on
   purpose; they count as "ours", so the background line does not show them).

The copy runs its own ``src`` (PYTHONPATH), so edits to the working tree during a run do not leak in.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Background, Sampler, fresh_copy, machine, median, mib, print_table, stage_env, timed_runs  # noqa: E402

STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def repro(repo: Path, until: str | None = None) -> dict:
    """Run `dvc repro [until]` once (``until``: the last stage, with the stages before it); per-stage wall, CPU
    and peak RSS."""
    env = stage_env(repo)
    marks: list[tuple[str, float]] = []
    log: list[str] = []
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["dvc", "repro", *([until] if until else [])],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    sampler = Sampler(proc.pid).start()
    sampler.set_label("dvc startup")

    def read() -> None:
        for line in proc.stdout:
            log.append(line)
            match = STAGE_LINE.match(line)
            if match:
                marks.append((match.group(1), time.perf_counter()))
                sampler.set_label(match.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.wait()
    reader.join()
    ended = time.perf_counter()
    sampler.stop()
    if proc.returncode != 0:
        sys.exit(f"dvc repro failed ({proc.returncode}):\n{''.join(log[-60:])}")
    stages = []
    bounds = [*marks, ("end", ended)]
    for (name, begin), (_, finish) in zip(bounds, bounds[1:], strict=False):
        stages.append(
            {"stage": name, "wall_s": finish - begin, "cpu_s": sampler.cpu.get(name, 0.0), "peak_rss": sampler.peak.get(name, 0)}
        )
    startup = (marks[0][1] if marks else ended) - started
    return {
        "timing": [line.strip() for line in log if line.startswith("evaluate: time:")],
        "total_s": ended - started,
        "startup_s": startup,
        "stages": stages,
        "peak_rss": sampler.overall_peak,
        "cpu_s": sum(sampler.cpu.values()),
    }


def store_sizes(db: Path) -> dict:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = {
            t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for (t,) in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        try:
            pages = dict(connection.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        except sqlite3.OperationalError:  # SQLite built without dbstat
            pages = {}
    finally:
        connection.close()
    return {"bytes": db.stat().st_size, "rows": counts, "table_bytes": pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where the fresh copy goes (default: a temporary directory)")
    parser.add_argument("--runs", type=int, default=5, help="no-op repro/status runs (median reported)")
    parser.add_argument("--busy", type=int, default=0, help="spinning processes to run during the repro (simulated load)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a params.yaml value in the copy (YAML value), e.g. data.n_tickers=300",
    )
    args = parser.parse_args()
    overrides: dict[str, dict] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="invest-bench-")) / "repo"
    repo = fresh_copy(workdir, overrides)
    print(f"machine: {machine()}\ncopy: {repo}\n")

    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        with Background() as background:
            result = repro(repo)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    if args.busy:
        print(f"({args.busy} spinning process(es) kept {args.busy} core(s) busy during the repro)\n")
    print(
        f"## dvc repro from scratch: {result['total_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
        f"peak RSS {mib(result['peak_rss'])}\n"
    )
    rows = [["(dvc startup)", f"{result['startup_s']:.1f}", "", ""]]
    rows += [[s["stage"], f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}", mib(s["peak_rss"])] for s in result["stages"]]
    rows.append(["**total**", f"**{result['total_s']:.1f}**", f"{result['cpu_s']:.1f}", mib(result["peak_rss"])])
    print_table(["stage", "wall s", "CPU s", "peak RSS (tree)"], rows)
    print(f"background: {background.describe()}\n")
    if result["timing"]:
        print("inside evaluate (the network against the rest):\n")
        for line in result["timing"]:
            print(f"    {line.removeprefix('evaluate: time: ')}")
        print()

    env = stage_env(repo)
    noop = timed_runs(["dvc", "repro"], repo, args.runs, env)
    status = timed_runs(["dvc", "status"], repo, args.runs, env)
    print(f"## no-op commands ({args.runs} runs each)\n")
    print_table(
        ["command", "median s", "min s", "max s"],
        [
            [name, f"{median(t):.2f}", f"{min(t):.2f}", f"{max(t):.2f}"]
            for name, t in (("dvc repro (nothing to do)", noop), ("dvc status", status))
        ],
    )

    sizes = store_sizes(repo / "data" / "stock_data.db")
    snapshots, months = sizes["rows"].get("snapshots", 0), sizes["rows"].get("monthly", 0)
    print(
        f"## data/stock_data.db: {sizes['bytes']:,} bytes; {sizes['bytes'] / max(snapshots, 1):,.0f} bytes per "
        f"snapshot ({snapshots:,}); {sizes['bytes'] / max(months, 1):,.0f} bytes per ticker-month ({months:,})\n"
    )
    print_table(
        ["table", "rows", "bytes", "bytes/row", "share of file"],
        [
            [
                t,
                f"{n:,}",
                f"{sizes['table_bytes'].get(t, 0):,}",
                f"{sizes['table_bytes'].get(t, 0) / max(n, 1):,.1f}",
                f"{sizes['table_bytes'].get(t, 0) / sizes['bytes']:.1%}",
            ]
            for t, n in sorted(sizes["rows"].items(), key=lambda kv: -sizes["table_bytes"].get(kv[0], 0))
        ],
    )


if __name__ == "__main__":
    main()
