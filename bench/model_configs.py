"""Model settings side by side on simulated markets with a known answer (the oracle).

Usage (run by hand; about 1-4 minutes per setting and market on 2 cores):
    python bench/model_configs.py [--data-seeds 42 7 11] [--configs A B D] [--set train.seed=1] [--workdir DIR]

For each simulated market (``data.seed``) it builds the store once (``dvc repro cache`` in a fresh
copy of this repository), then runs the walk-forward evaluation of ``evaluate`` for each named
setting on that same store and prints one row per market and setting: the ensemble's rank IC,
its share of the oracle's, the margin over ridge with its 95% interval, a single member's rank IC
(mean ± sd), MAE against predicting zero, interval coverage and the seconds it took. The
settings differ from params.yaml only as listed in CONFIGS.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from common import REPO, apply_settings, fresh_copy, machine, print_table, stage_env

sys.path.insert(0, str(REPO / "src"))

from invest.data.panel import load_panel  # noqa: E402
from invest.evaluation import metrics, predictors, scoring, summary, walk_forward  # noqa: E402
from invest.modelling.training import configure_runtime  # noqa: E402
from invest.params import from_dict  # noqa: E402

CONFIGS: dict[str, dict[str, object]] = {
    "A": {"ensemble_size": 1},
    "B": {},  # the defaults
    "C": {"select_by": "rank_ic"},
    "D": {"feature_norm": "cs_rank"},
    "E": {"feature_norm": "cs_rank", "label_transform": "cs_rank", "select_by": "rank_ic"},
    "F": {"label_transform": "cs_rank", "select_by": "rank_ic"},
    "G": {"feature_norm": "cs_rank", "select_by": "rank_ic"},
    "H": {"ic_loss_weight": 1.0},  # Huber plus the per-date rank-correlation term, batches of whole dates
    "I": {"aux_horizons": ["1m", "3m", "6m"]},  # heads for the shorter horizons train beside the label's
    "J": {"ic_loss_weight": 1.0, "aux_horizons": ["1m", "3m", "6m"]},  # H and I together
    "K": {"cross_section_layers": 1},  # each stock's summary attends to the other stocks of its date
    "L": {"ic_loss_weight": 1.0, "aux_horizons": ["1m", "3m", "6m"], "cross_section_layers": 1},  # H, I and K together
    "M": {"point_map": "median"},  # the point forecast mapped by the validation block's least-absolute-deviations line
    # controls: the network learns from shuffled labels (baselines keep the real ones); should score ~0
    "B-shuffled": {"control": "shuffled_labels"},
    "E-shuffled": {"feature_norm": "cs_rank", "label_transform": "cs_rank", "select_by": "rank_ic", "control": "shuffled_labels"},
}


def build_store(workdir: Path, data_seed: int) -> Path:
    """The simulated market of ``data.seed`` through fetch, validate and cache; the store's path."""
    repo = fresh_copy(workdir / f"data-seed-{data_seed}", {"data": {"seed": data_seed}})
    result = subprocess.run(["dvc", "repro", "cache"], cwd=repo, env=stage_env(repo), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dvc repro cache failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return repo / "data" / "stock_data.db"


def evaluate(panel, raw: dict, change: dict[str, object]) -> tuple[dict, list[float], float]:
    """Flat metrics of the walk-forward evaluation with ``train`` changed; member rank ICs; seconds."""
    params = from_dict({**raw, "train": {**raw["train"], **change}})
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        frame = walk_forward.walk_forward(panel, params)
        flat = summary.flatten(scoring.evaluate_predictions(frame, predictors.baseline_names(), params))
    members = [column for column in frame.columns if column.startswith("model_member_")]
    return flat, [float(metrics.rank_ic_by_date(frame, m).mean()) for m in members], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[42, 7, 11])
    parser.add_argument("--configs", nargs="+", default=[name for name in CONFIGS if "-" not in name], choices=list(CONFIGS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/invest-configs"))
    parser.add_argument("--set", action="append", default=[], metavar="section.key=value", help="also change params (YAML value)")
    args = parser.parse_args()
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    apply_settings(raw, args.set)
    configure_runtime(raw["train"].get("num_threads", 1))
    print(f"# Model settings on simulated markets: {machine()}{'; ' + ', '.join(args.set) if args.set else ''}\n")
    for name in args.configs:
        print(f"- {name}: {CONFIGS[name] or 'params.yaml defaults'}")
    print()
    rows = []
    for data_seed in args.data_seeds:
        panel = load_panel(build_store(args.workdir, data_seed))
        for name in args.configs:
            flat, members, seconds = evaluate(panel, raw, CONFIGS[name])
            spread = float(np.std(members, ddof=1)) if len(members) > 1 else 0.0

            def f(key: str, digits: int = 3, flat: dict = flat) -> str:
                value = flat.get(key)
                return "n/a" if value is None else f"{value:.{digits}f}"

            rows.append(
                [data_seed, name, f("model_rank_ic"), f("oracle_rank_ic"), f("model_share_of_oracle_ic"),
                 f"{f('margin_vs_ridge_rank_ic')} [{f('margin_vs_ridge_rank_ic_lo')}, {f('margin_vs_ridge_rank_ic_hi')}]",
                 f"{np.mean(members):.3f} ± {spread:.3f}", f"{f('model_mae')} / {f('zero_mae')}",
                 f"{f('interval_80_coverage')} / {f('interval_95_coverage')}", f"{seconds:.0f}"]
            )  # fmt: skip
            print(" | ".join(str(cell) for cell in rows[-1]), file=sys.stderr, flush=True)
    print_table(
        ["data.seed", "setting", "rank IC", "oracle", "share", "− ridge [95%]", "one member", "MAE / zero", "cover 80/95", "s"],
        rows,
    )


if __name__ == "__main__":
    main()
