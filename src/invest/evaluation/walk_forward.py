"""Out-of-sample predictions: every registered predictor on each walk-forward fold (or one split).

``walk_forward`` retrains on an expanding window for each test year (``modelling.splits``);
``single_split`` scores the trained checkpoint on its own test block. Both return one frame
with a row per test prediction: date, ticker, target, the realised raw and excess returns, the
market's return, one column per predictor, the network's uncertainty columns and, on the
simulated market, the oracle.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from invest.data.features import label_column
from invest.data.panel import Panel
from invest.errors import ConfigError, DataError
from invest.evaluation import MODEL, ORACLE, predictors
from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays, load_arrays
from invest.modelling.device import resolve_device
from invest.modelling.splits import Split, check_test_years
from invest.modelling.splits import walk_forward as walk_forward_split
from invest.modelling.training import prepare
from invest.params import Params, TrainParams


def walk_forward(panel: Panel, params: Params) -> pd.DataFrame:
    """Retrain and predict each of ``evaluate.test_years``."""
    train_params, settings = params.train, params.evaluate
    device = resolve_device(train_params.device)
    arrays = load_arrays(panel, train_params)
    years = pd.DatetimeIndex(arrays.dates).year
    labelled = ~np.isnan(arrays.target)
    check_test_years(arrays.dates[labelled], settings.test_years, train_params.embargo, settings.val_months, train_params.horizon)
    frames = []
    for year in settings.test_years:
        test_rows = (years == year) & labelled
        split = walk_forward_split(year, train_params.embargo, settings.val_months)
        print(
            f"evaluate: walk-forward {year}: train to {split.train_end.date()}, validate "
            f"{split.val_start.date()}..{split.val_end.date()}",
            file=sys.stderr,
        )
        frames.append(predict_fold(panel, arrays, train_params, split, test_rows, device))
    return with_oracle(pd.concat(frames, ignore_index=True), panel)


def single_split(panel: Panel, params: Params, loaded: LoadedModel, model_path: str) -> pd.DataFrame:
    """Score ``loaded`` (and the baselines, fitted on its split) on the checkpoint's test block."""
    target, train = loaded.checkpoint["target"], params.train
    if (target.get("horizon"), target.get("kind"), target.get("seq_len")) != (train.horizon, train.target, train.seq_len):
        raise ConfigError(
            f"{model_path} was trained for {target.get('horizon')} {target.get('kind')} returns with seq_len "
            f"{target.get('seq_len')} but params.yaml says {train.horizon} {train.target} with seq_len {train.seq_len}; "
            "retrain it (dvc repro train) or set train.horizon/target/seq_len back"
        )
    split = Split.from_dict(loaded.checkpoint["split"])
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
    return with_oracle(predict_fold(panel, arrays, params.train, split, test_rows, None, loaded), panel)


def predict_fold(
    panel: Panel,
    arrays: Arrays,
    train_params: TrainParams,
    split: Split,
    test_rows: np.ndarray,
    device,
    loaded: LoadedModel | None = None,
) -> pd.DataFrame:
    """Fit every registered predictor on one split and predict its test rows."""
    prepared = prepare(panel, train_params, split, arrays)
    fold = predictors.Fold(arrays, prepared, test_rows, train_params, panel, device, loaded)
    values, extra = predictors.fit_predict(fold)
    snapshots = panel.snapshots.iloc[np.flatnonzero(test_rows)]
    raw = snapshots[label_column(train_params.horizon, "raw")].to_numpy()
    excess = snapshots[label_column(train_params.horizon, "excess")].to_numpy()
    frame = pd.DataFrame(
        {
            "date": arrays.dates[test_rows],
            "ticker": arrays.tickers[test_rows],
            "target": arrays.target[test_rows],
            "raw_return": raw,
            "excess_return": excess,
            **values,
        }
    )
    frame.insert(frame.columns.get_loc(MODEL) + 1, "market_return", raw - excess)
    if extra is None:
        return frame
    return pd.concat([frame, extra], axis=1)


def with_oracle(frame: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """The frame sorted by date and ticker, with the oracle's expected return where the store has one."""
    if panel.oracle is not None:
        oracle = panel.oracle.rename(columns={"expected_return_1y": ORACLE})[["ticker", "date", ORACLE]]
        frame = frame.merge(oracle, on=["ticker", "date"], how="left")
    return frame.sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)
