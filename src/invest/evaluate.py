"""Stage ``evaluate``: walk-forward (or single-split) scores of the model beside baselines and the oracle.

Walk-forward, for each test year Y (expanding window, embargo e >= horizon):
  validation = the ``val_months`` of snapshots ending e months before Y starts,
  train      = every snapshot up to e months before the validation block,
so no training or validation label window reaches into the test year.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from invest import baselines, metrics, report, uncertainty
from invest.checkpoint import STEP_MASK, LoadedModel, check_schema, load_model
from invest.dataset import Arrays, Panel, Split, load_panel
from invest.device import resolve_device
from invest.errors import ConfigError, DataError
from invest.inference import calibrate_on, predict_with_uncertainty
from invest.io import write_json
from invest.params import EvaluateParams, Params, TrainParams
from invest.train import fit, load_arrays, prepare, seed_everything

BASELINES = ("zero", "historical_mean", "momentum", "ridge", "gbt")
SUMMARY_KEYS = (
    "rank_ic",
    "rank_ic_std",
    "icir",
    "rank_ic_t_nw",
    "mae",
    "rmse",
    "pearson",
    "spearman",
    "hit_rate",
    "quintile_spread",
    "calibration_slope",
)


def walk_forward_split(year: int, embargo_months: int, val_months: int) -> Split:
    test_start = pd.Timestamp(year=year, month=1, day=1) - pd.Timedelta(days=1)
    val_end = test_start - pd.DateOffset(months=embargo_months)
    val_start = val_end - pd.DateOffset(months=val_months)
    return Split(val_start - pd.DateOffset(months=embargo_months), val_start, val_end, test_start)


def predict_block(
    panel: Panel,
    arrays: Arrays,
    train_params: TrainParams,
    split: Split,
    test_rows: np.ndarray,
    device,
    loaded: LoadedModel | None = None,
) -> pd.DataFrame:
    """Fit (unless given) the network and the baselines on one split; predict the test rows with intervals.

    Intervals are calibrated on the split's validation block, which is embargoed from both
    the training rows and the test rows (a given checkpoint brings its own calibration).
    """
    prepared = prepare(panel, train_params, split, arrays)
    if loaded is None:
        network, _ = fit(prepared, train_params, device)
        loaded = LoadedModel(
            network.cpu(),
            prepared.scaler,
            {"temporal_features": [*panel.temporal_features, STEP_MASK], "static_features": panel.static_features},
        )
        calibration = calibrate_on(
            loaded, arrays.subset(prepared.masks["val"]), train_params.interval_levels, train_params.mc_samples, train_params.seed
        )
    else:
        calibration = loaded.checkpoint["intervals"]
    model = predict_with_uncertainty(loaded, arrays.subset(test_rows), calibration, train_params.mc_samples, train_params.seed)
    unscaled_target = prepared.scaler.unscale_target(prepared.target)
    momentum_index = list(panel.temporal_features).index("ret_12_1m")
    others = baselines.fit_predict_all(
        prepared.past,
        prepared.static,
        unscaled_target,
        arrays.past[:, -1, momentum_index],
        prepared.masks["train"],
        prepared.masks["val"],
        train_params.seed,
    )
    snapshots = panel.snapshots.iloc[np.flatnonzero(test_rows)]
    frame = pd.DataFrame(
        {
            "date": arrays.dates[test_rows],
            "ticker": arrays.tickers[test_rows],
            "target": arrays.target[test_rows],
            "raw_return": snapshots[f"fwd_ret_{train_params.horizon}"].to_numpy(),
            "excess_return": snapshots[f"fwd_exc_{train_params.horizon}"].to_numpy(),
            "model": model["prediction"].to_numpy(),
        }
    )
    frame["market_return"] = frame["raw_return"] - frame["excess_return"]
    for name in BASELINES:
        frame[name] = others[name][test_rows]
    extra = model.drop(columns=["date", "prediction"]).reset_index(drop=True)
    return pd.concat([frame, extra], axis=1)


def run_walk_forward(panel: Panel, params: Params) -> pd.DataFrame:
    train_params, settings = params.train, params.evaluate
    device = resolve_device(train_params.device)
    arrays = load_arrays(panel, train_params)
    years = pd.DatetimeIndex(arrays.dates).year
    labelled = ~np.isnan(arrays.target)
    frames = []
    for year in settings.test_years:
        test_rows = (years == year) & labelled
        if not test_rows.any():
            last = pd.DatetimeIndex(arrays.dates[labelled]).max()
            raise ConfigError(
                f"evaluate.test_years: {year} has no snapshots with known {train_params.horizon} returns "
                f"(labels end {last.date()}); choose years up to {last.year}"
            )
        split = walk_forward_split(year, train_params.embargo, settings.val_months)
        print(
            f"evaluate: walk-forward {year}: train to {split.train_end.date()}, validate "
            f"{split.val_start.date()}..{split.val_end.date()}",
            file=sys.stderr,
        )
        frames.append(predict_block(panel, arrays, train_params, split, test_rows, device))
    return pd.concat(frames, ignore_index=True)


def run_single(panel: Panel, params: Params, model_path: str | os.PathLike[str]) -> pd.DataFrame:
    loaded = load_model(model_path)
    target, train = loaded.checkpoint["target"], params.train
    if (target.get("horizon"), target.get("kind"), target.get("seq_len")) != (train.horizon, train.target, train.seq_len):
        raise ConfigError(
            f"{model_path} was trained for {target.get('horizon')} {target.get('kind')} returns with seq_len "
            f"{target.get('seq_len')} but params.yaml says {train.horizon} {train.target} with seq_len {train.seq_len}; "
            "retrain it (dvc repro train) or set train.horizon/target/seq_len back"
        )
    split = Split(*(pd.Timestamp(loaded.checkpoint["split"][k]) for k in ("train_end", "val_start", "val_end", "test_start")))
    arrays = load_arrays(panel, params.train)
    test_rows = split.masks(arrays.dates)["test"] & ~np.isnan(arrays.target)
    if not test_rows.any():
        raise DataError(
            f"no snapshots after {split.test_start.date()} (the model's test block) have known {train.horizon} returns; "
            "fetch later data (data.as_of) or retrain with an earlier train.val_end"
        )
    if "intervals" not in loaded.checkpoint:
        raise DataError(
            f"{model_path} has no interval calibration (trained by an older version); retrain it with dvc repro train"
        )
    return predict_block(panel, arrays, params.train, split, test_rows, None, loaded)


def add_oracle(frame: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    if panel.oracle is None:
        return frame
    oracle = panel.oracle.rename(columns={"expected_return_1y": "oracle"})[["ticker", "date", "oracle"]]
    return frame.merge(oracle, on=["ticker", "date"], how="left")


def score(frame: pd.DataFrame, predictor: str, horizon_months: int, settings: EvaluateParams) -> dict[str, float]:
    """The summary metrics of one predictor on the frame's rows."""
    ic = metrics.ic_summary(metrics.rank_ic_by_date(frame, predictor), horizon_months)
    point = metrics.point_metrics(frame, predictor)
    hits = metrics.hit_rates(frame, pred=predictor)
    return {
        "rank_ic": ic["mean"],
        "rank_ic_std": ic["std"],
        "icir": ic["icir"],
        "rank_ic_t_nw": ic["t_newey_west"],
        "rank_ic_t_nonoverlap": ic["t_nonoverlap"],
        "mae": point["mae"],
        "rmse": point["rmse"],
        "pearson": point["pearson"],
        "spearman": point["spearman"],
        "hit_rate": hits.get("hit_rate", float("nan")),
        "excess_hit_rate": hits.get("excess_hit_rate", float("nan")),
        "quintile_spread": metrics.quantile_spread(frame, 5, predictor),
        "calibration_slope": metrics.calibration_slope(frame, predictor),
    }


def summarise(frame: pd.DataFrame, params: Params) -> dict[str, float]:
    """Flat metrics: pooled per predictor, base rates, margins with bootstrap CIs, and per year."""
    settings, horizon = params.evaluate, params.train.horizon_months
    predictors = ["model", *BASELINES] + (["oracle"] if "oracle" in frame else [])
    out: dict[str, float] = {"rows": len(frame), "dates": int(frame["date"].nunique())}
    for name in predictors:
        out |= {f"{name}_{key}": value for key, value in score(frame, name, horizon, settings).items()}
    hits = metrics.hit_rates(frame, pred="model")
    for key in (
        "base_rate",
        "best_constant_hit_rate",
        "pred_positive_share",
        "excess_base_rate",
        "excess_best_constant_hit_rate",
    ):
        out[key] = hits.get(key, float("nan"))
    if "oracle" in frame:
        out["model_share_of_oracle_ic"] = out["model_rank_ic"] / out["oracle_rank_ic"]
    for name in BASELINES:
        margin = metrics.paired_margin(frame, name, "model", settings.block_months, settings.bootstrap_samples, settings.seed)
        for key in ("rank_ic", "mae"):  # rank IC is undefined for a constant baseline
            values = margin.get(key, {})
            out[f"margin_vs_{name}_{key}"] = values.get("diff", float("nan"))
            out[f"margin_vs_{name}_{key}_lo"] = values.get("ci_low", float("nan"))
            out[f"margin_vs_{name}_{key}_hi"] = values.get("ci_high", float("nan"))
    if "confidence" in frame:
        out |= uncertainty.summary(frame, params.train.interval_levels)
    for year, block in frame.groupby(frame["date"].dt.year):
        for name in predictors:
            out[f"y{year}_{name}_rank_ic"] = float(metrics.rank_ic_by_date(block, name).mean())
        out[f"y{year}_model_mae"] = metrics.point_metrics(block, "model")["mae"]
        out[f"y{year}_rows"] = len(block)
    return {key: (None if isinstance(value, float) and not np.isfinite(value) else value) for key, value in out.items()}


def main(
    params: Params,
    db_path: str | os.PathLike[str] = "data/stock_data.db",
    model_path: str | os.PathLike[str] = "models/model.pt",
    out_dir: str | os.PathLike[str] = "metrics",
    report_dir: str | os.PathLike[str] = "evaluation",
) -> None:
    seed_everything(params.train.seed, params.train.num_threads)  # thread limits for the baselines too (single mode)
    panel = load_panel(db_path)
    loaded = load_model(model_path)
    check_schema(loaded.checkpoint, panel.temporal_features, panel.static_features, str(db_path))
    if params.evaluate.mode == "walk_forward":
        frame = run_walk_forward(panel, params)
    else:
        frame = run_single(panel, params, model_path)
    frame = add_oracle(frame, panel).sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)
    summary = summarise(frame, params)
    out = Path(out_dir)
    write_json(out / "eval.json", summary)
    from invest.model_card import complete_card

    complete_card(Path(model_path).with_name("model_card.json"), summary, loaded.checkpoint, params.evaluate)
    report.write_predictions(out / "predictions.csv", frame)
    report.write_plot_data(out / "plots", frame, summary, params.evaluate.n_buckets)
    report.write_report(Path(report_dir), frame, summary, params)
    line = f"evaluate: model rank IC {summary['model_rank_ic']:.3f}"
    if summary.get("oracle_rank_ic") is not None:
        line += f" (oracle {summary['oracle_rank_ic']:.3f})"
    print(
        f"{line}, MAE {summary['model_mae']:.3f} vs historical mean {summary['historical_mean_mae']:.3f} -> {out / 'eval.json'}",
        file=sys.stderr,
    )
