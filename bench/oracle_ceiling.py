"""How much of the oracle's rank IC the features can reach at all, on simulated markets.

Usage (run by hand; about 30 s per market on an idle 2-core machine, plus 2-4 min with --with-model):
    python bench/oracle_ceiling.py [--data-seeds 42 7 11] [--workdir DIR] [--with-model]

The oracle ranks by the planted expected return, which no feature contains: the model sees it only
through noisy, lagged fundamentals and prices. "Share of the oracle" therefore mixes two gaps: what
the features cannot say, and what the model fails to learn from them. This script measures the first.
For each walk-forward test year it fits gradient-boosted trees from the model's own inputs (the
static vector and the monthly sequence's last step, 3rd and 6th step back and mean) to the planted
expected return itself on every earlier month end: noise-free labels, which no real model has.
Scored like the model (mean per-date rank IC against the realised 1-year label on the test rows),
that "feature ceiling" is a practical bound for a model learning from returns: a more flexible
estimator could score a little higher; a model learning from noisy realised returns should score lower.

It also prints each predictor's mean per-date rank correlation with the oracle itself ("recovers"),
which, unlike the rank IC, does not depend on the test years' return noise. With --with-model it
runs the walk-forward of params.yaml's defaults on the same store (what bench/model_configs.py
calls setting B) and prints the model beside the ceiling. Stores are reused from --workdir when
there (bench/model_configs.py's layout), else built with ``dvc repro cache`` in a fresh copy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import REPO, machine, print_table
from model_configs import build_store

sys.path.insert(0, str(REPO / "src"))

from invest.data.panel import Panel, load_panel  # noqa: E402
from invest.evaluation import MODEL, ORACLE  # noqa: E402
from invest.modelling.dataset import Arrays, load_arrays  # noqa: E402
from invest.modelling.ranking import rank_ic_by_date  # noqa: E402
from invest.modelling.training import configure_runtime  # noqa: E402
from invest.params import Params, from_dict  # noqa: E402


def ceiling_inputs(arrays: Arrays) -> np.ndarray:
    """The model's inputs flattened for trees: static vector, last / 3rd / 6th step back, sequence mean."""
    past = arrays.past
    steps = [past[:, -k, :] for k in (1, 3, 6) if k <= past.shape[1]]
    with warnings.catch_warnings():  # a feature missing in every step is NaN, as the trees expect
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(past, axis=1)
    return np.concatenate([arrays.static, *steps, mean], axis=1)


def test_rows(panel: Panel, params: Params) -> tuple[pd.DataFrame, np.ndarray, Arrays]:
    """Every labelled row after the validation block (the walk-forward's test years), with the oracle."""
    arrays = load_arrays(panel, params.train)
    rows = pd.DataFrame({"ticker": arrays.tickers, "date": pd.to_datetime(arrays.dates), "target": arrays.target})
    oracle = panel.oracle.assign(date=lambda f: pd.to_datetime(f["date"]))[["ticker", "date", "expected_return_1y"]]
    rows = rows.merge(oracle.rename(columns={"expected_return_1y": ORACLE}), on=["ticker", "date"], how="left")
    test = (rows["date"] > pd.Timestamp(params.train.val_end)).to_numpy() & ~np.isnan(arrays.target)
    return rows, test, arrays


def feature_ceiling(rows: pd.DataFrame, test: np.ndarray, arrays: Arrays, seed: int) -> pd.Series:
    """Per test row: trees fitted to the planted expected return on every month end before its test year."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    inputs = ceiling_inputs(arrays)
    known = rows[ORACLE].notna().to_numpy()
    out = pd.Series(np.nan, index=rows.index)
    for year in sorted(rows.loc[test, "date"].dt.year.unique()):
        fit = known & (rows["date"] < pd.Timestamp(f"{year}-01-01")).to_numpy()
        scored = test & (rows["date"].dt.year == year).to_numpy()
        trees = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, random_state=seed)
        out[scored] = trees.fit(inputs[fit], rows.loc[fit, ORACLE]).predict(inputs[scored])
    return out


def recovers(frame: pd.DataFrame, column: str) -> float:
    """Mean per-date rank correlation of ``column`` with the oracle."""
    return float(rank_ic_by_date(frame, column, ORACLE).mean())


def model_frame(panel: Panel, params: Params) -> pd.DataFrame:
    from invest.evaluation import walk_forward

    with contextlib.redirect_stderr(io.StringIO()):
        return walk_forward.walk_forward(panel, params)[["ticker", "date", MODEL]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[42, 7, 11])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/invest-configs"))
    parser.add_argument("--with-model", action="store_true", help="also run the defaults' walk-forward on each store")
    args = parser.parse_args()
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    params = from_dict(raw)
    configure_runtime(params.train.num_threads)
    print(f"# Feature ceiling on simulated markets: {machine()}\n")
    rows_out = []
    for data_seed in args.data_seeds:
        store = args.workdir / f"data-seed-{data_seed}" / "data" / "stock_data.db"
        panel = load_panel(store if store.is_file() else build_store(args.workdir, data_seed))
        rows, test, arrays = test_rows(panel, params)
        frame = rows[test].assign(ceiling=feature_ceiling(rows, test, arrays, params.train.seed)[test])
        if args.with_model:
            frame = frame.merge(model_frame(panel, params), on=["ticker", "date"], how="left")
        oracle_ic = float(rank_ic_by_date(frame, ORACLE, "target").mean())
        for name in ["ceiling", MODEL] if args.with_model else ["ceiling"]:
            ic = float(rank_ic_by_date(frame, name, "target").mean())
            rows_out.append(
                [data_seed, name, f"{ic:.3f}", f"{oracle_ic:.3f}", f"{ic / oracle_ic:.3f}", f"{recovers(frame, name):.3f}",
                 len(frame), frame["date"].nunique()]
            )  # fmt: skip
            print(" | ".join(str(cell) for cell in rows_out[-1]), file=sys.stderr, flush=True)
    print_table(["data.seed", "predictor", "rank IC", "oracle", "share", "recovers", "rows", "dates"], rows_out)


if __name__ == "__main__":
    main()
