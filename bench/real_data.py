"""The real-data benchmark: the real pipeline on 300 real US stocks it was not designed on.

    python bench/real_data.py [--seeds 42 1042] [--workdir /tmp/invest-real] [--n-jobs 2] [--set key=value ...]
    python bench/real_data.py --broad /path/to/folder [--top 1000] [--seeds 42 1042]
    python bench/real_data.py --broad /path/to/folder --until cache    # the data stages alone: time, memory
    python bench/real_data.py --broad /path/to/folder --reuse          # then the walk-forward on that store

``--broad FOLDER`` reads a per_ticker folder of thousands of Yahoo CSVs instead (``FOLDER/prices/<T>.csv``,
e.g. the 4,509 tickers of ``../shared/realdata-dev/broad_universe.csv`` written from the dieperdev/
yfinance-stock-data snapshot; never inside the repository) with a point-in-time liquid universe:
``data.universe: {top_dollar_volume: --top}`` (the most traded stocks on each month end, chosen with
what was known then), test years 2008-2022 (15 years). Its tables add each predictor's t on
non-overlapping annual dates and, beside every margin, the smallest margin the run could detect at
80% power (from the year-to-year spread of that margin).

Runs `dvc repro` in a fresh copy of this repository with the `files` source pointed at
`../shared/realdata-dev` (read from there, never copied): per-ticker Yahoo CSVs of 300 stocks
(2000-2024, the universe ranked by 2005 dollar volume, so chosen without look-ahead), SPY as the
index, VIX, and FRED 2-year and 10-year yields as the rates; no fundamentals, no sectors. The
walk-forward test years are 2013-2022 (the last 1-year label ends 2023-03); every other setting is
the project default. For each base seed (`train.seed`: the ensemble's members use seed, seed+1,
...) it prints one table: the ensemble, one network alone (mean ± sd over the members), every
baseline, rank IC with its Newey-West t and the bootstrap interval of the ensemble's margin, MAE
against predicting zero, hit rate against the base rate, and interval coverage; then how much the
ensemble's rank IC moved between the seeds. Nothing here is tuned to this data: it is a check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Background, apply_settings, fresh_copy, machine, mib, print_table, stage_env

DATA = REPO.parent / "shared" / "realdata-dev"
SETTINGS = {
    "data": {
        "source": "files",
        "files_dir": str(DATA),
        "files_layout": "per_ticker",
        "files_market": {
            "index_close": "market/spy_prices.csv",
            "vol_index": "market/vix-daily.csv",
            "short_rate": "fred/DGS2.csv",
            "long_rate": "fred/DGS10.csv",
        },
        "universe": str(DATA / "universe.csv"),
        "start": "2000-01-01",
        "as_of": "2024-03-08",
    },
    "evaluate": {"test_years": list(range(2013, 2023))},
}
PREDICTORS = ("model", "zero", "historical_mean", "momentum", "momentum_raw", "ridge", "gbt")


def broad_settings(folder: Path, top: int) -> dict:
    """The broad benchmark: every price file of ``folder``, the ``top`` most traded stocks each month end."""
    settings = {section: dict(values) for section, values in SETTINGS.items()}
    settings["data"]["files_dir"] = str(folder)
    settings["data"]["universe"] = {"top_dollar_volume": top}
    settings["data"]["files_market"] = {name: str(DATA / path) for name, path in SETTINGS["data"]["files_market"].items()}
    settings["evaluate"] = {"test_years": list(range(2008, 2023))}
    settings["validate"] = {
        "max_missing_share": {"prices": 0.2, "market": 0.02},
        "max_jump_share": 0.005,
        "max_stale_share": 0.05,
    }
    return settings


def run(repo: Path, seed: int) -> tuple[dict, float]:
    """`dvc repro` with ``train.seed = seed``; the evaluation summary and the wall time."""
    params_file = repo / "params.yaml"
    import yaml

    params = yaml.safe_load(params_file.read_text())
    params["train"]["seed"] = seed
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    result = subprocess.run(["dvc", "repro"], cwd=repo, env=stage_env(repo), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dvc repro failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    for line in (result.stdout + result.stderr).splitlines():  # what a stage says about its own time and size
        if line.startswith(("evaluate: time:", "cache:", "fetch:", "validate: ok")):
            print(f"    {line[:220]}")
    return json.loads((repo / "metrics" / "eval.json").read_text()), time.perf_counter() - started


def data_stages(repo: Path, until: str) -> None:
    """`dvc repro UNTIL` once: each stage's wall and CPU seconds and the peak RSS of the process tree."""
    from repro import repro

    with Background() as background:
        result = repro(repo, until)
    rows = [[s["stage"], f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}", mib(s["peak_rss"])] for s in result["stages"]]
    rows.append(["total", f"{result['total_s']:.1f}", f"{result['cpu_s']:.1f}", mib(result["peak_rss"])])
    print_table(["stage", "wall s", "CPU s", "peak RSS (tree)"], rows)
    print(f"\nother processes used {background.others_cores:.2f} cores meanwhile")
    db = repo / "data" / "stock_data.db"
    if db.is_file():
        print(f"store: {db.stat().st_size / 2**20:,.1f} MiB")


def table(summary: dict) -> list[list[str]]:
    def f(key: str, digits: int = 3) -> str:
        value = summary.get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    rows = []
    for name in PREDICTORS:
        if f"{name}_rank_ic" not in summary:
            continue
        margin = (
            ""
            if name == "model"
            else f"{f(f'margin_vs_{name}_rank_ic')} [{f(f'margin_vs_{name}_rank_ic_lo')}, {f(f'margin_vs_{name}_rank_ic_hi')}]"
        )
        detectable = "" if name == "model" else f(f"margin_vs_{name}_rank_ic_detectable")
        top_excess = summary.get(f"portfolio_{name}_top_net_excess_index_ann")
        top = "n/a" if top_excess is None or top_excess != top_excess else f"{top_excess:+.1%}"  # no book, or NaN
        rows.append(
            [name, f(f"{name}_rank_ic"), f(f"{name}_rank_ic_t_nw", 1), f(f"{name}_rank_ic_t_nonoverlap", 1), margin,
             detectable, f(f"{name}_mae"), f(f"{name}_hit_rate"), top]
        )  # fmt: skip
        if name == "model" and "model_members_rank_ic_mean" in summary:
            rows.append(
                ["one network (mean ± sd)", f"{f('model_members_rank_ic_mean')} ± {f('model_members_rank_ic_sd')}", "", "", "", "",
                 f"{f('model_members_mae_mean')} ± {f('model_members_mae_sd')}", "", ""]
            )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1042], help="base seeds (train.seed)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/invest-real/repo"))
    parser.add_argument("--n-jobs", type=int, default=2, help="evaluate.n_jobs")
    parser.add_argument("--set", action="append", default=[], help="extra section.key=value (YAML value)")
    parser.add_argument("--broad", type=Path, help="a per_ticker folder of many stocks (see the module docstring)")
    parser.add_argument("--top", type=int, default=1000, help="--broad: stocks in the liquid universe each month end")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the --workdir of an earlier run (its code, params, outputs); --set still applies",
    )
    parser.add_argument("--until", help="run `dvc repro UNTIL` once (e.g. cache) and print each stage's time and memory")
    args = parser.parse_args()
    if not (DATA / "prices").is_dir():
        sys.exit(f"{DATA} not found: the benchmark reads ../shared/realdata-dev beside the repository")
    import yaml

    overrides = broad_settings(args.broad.resolve(), args.top) if args.broad else {k: dict(v) for k, v in SETTINGS.items()}
    overrides.setdefault("evaluate", {})["n_jobs"] = args.n_jobs
    apply_settings(overrides, args.set)
    reuse = args.reuse and (args.workdir / "dvc.lock").is_file()
    repo = args.workdir if reuse else fresh_copy(args.workdir, overrides)  # reused: dvc repro skips what is up to date
    if reuse and args.set:  # the workdir keeps its data settings; --set still changes what follows them
        params = apply_settings(yaml.safe_load((repo / "params.yaml").read_text()), args.set)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    print(f"# Real-data benchmark: {machine()}\n")
    if args.until:
        data_stages(repo, args.until)
        return
    results = {}
    for seed in args.seeds:
        summary, seconds = run(repo, seed)
        results[seed] = summary
        print(
            f"## train.seed {seed}: {summary['rows']:,} test predictions on {summary['dates']} dates, dvc repro {seconds / 60:.1f} min\n"
        )
        print_table(
            ["predictor", "rank IC", "t (NW)", "t (annual dates)", "model − it: rank IC [95%]", "detectable at 80% power",
             "MAE", "hit rate", "top book − index, net/yr"],
            table(summary),
        )  # fmt: skip
        print(
            f"\nbase rate {summary['base_rate']:.3f} (a constant guess hits {summary['best_constant_hit_rate']:.3f}); "
            f"calibrated interval coverage 80%: {summary.get('interval_80_coverage', float('nan')):.3f}, "
            f"95%: {summary.get('interval_95_coverage', float('nan')):.3f}\n"
        )
    if len(results) > 1:
        ics = [summary["model_rank_ic"] for summary in results.values()]
        print(
            f"ensemble rank IC over base seeds {list(results)}: {', '.join(f'{ic:.4f}' for ic in ics)}; range {max(ics) - min(ics):.4f}"
        )


if __name__ == "__main__":
    main()
