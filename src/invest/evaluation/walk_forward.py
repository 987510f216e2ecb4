"""Out-of-sample predictions: every registered predictor on each walk-forward fold (or one split).

``walk_forward`` retrains on an expanding window for each test year (``modelling.splits``);
``single_split`` scores the trained checkpoint on its own test block. Both return one frame
with a row per test prediction: date, ticker, target, the realised raw and excess returns, the
market's return, one column per predictor, the network's uncertainty columns and, on the
simulated market, the oracle.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from invest.data.features import label_column
from invest.data.panel import Panel
from invest.errors import ConfigError, DataError
from invest.evaluation import MODEL, ORACLE, portfolio, predictors
from invest.modelling import jobs
from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays, load_arrays
from invest.modelling.device import resolve_device
from invest.modelling.ensemble import Trained, member_chunks, train_and_score, train_through_years
from invest.modelling.jobs import Job
from invest.modelling.splits import Split, check_test_years, snapshots_per_year
from invest.modelling.splits import walk_forward as walk_forward_split
from invest.modelling.training import prepare
from invest.params import EvaluateParams, Params, TrainParams


def walk_forward(panel: Panel, params: Params) -> pd.DataFrame:
    """Retrain and predict each of ``evaluate.test_years``; the members and baselines of every year
    are independent jobs (``modelling.jobs``: here, local processes or a Ray cluster)."""
    train_params, settings = params.train, params.evaluate
    arrays = load_arrays(panel, train_params)
    years = pd.DatetimeIndex(arrays.dates).year
    labelled = ~np.isnan(arrays.target)
    per_year = snapshots_per_year(str(panel.meta.get("snapshot_freq", "monthly")))
    check_test_years(
        arrays.dates[labelled], settings.test_years, train_params.embargo, settings.val_months, train_params.horizon, per_year
    )
    folds = []
    for year in settings.test_years:
        split = walk_forward_split(year, train_params.embargo, settings.val_months)
        print(
            f"evaluate: walk-forward {year}: train to {split.train_end.date()}, validate "
            f"{split.val_start.date()}..{split.val_end.date()}",
            file=sys.stderr,
        )
        folds.append(make_fold(panel, arrays, train_params, split, (years == year) & labelled))
    trained = train_folds(folds, settings, arrays)
    frames = [predictions_frame(panel, fold, values) for fold, values in zip(folds, trained, strict=True)]
    return with_oracle(pd.concat(frames, ignore_index=True), panel)


def make_fold(
    panel: Panel, arrays: Arrays, train_params: TrainParams, split: Split, test_rows: np.ndarray, loaded=None
) -> predictors.Fold:
    prepared = prepare(panel, train_params, split, arrays)
    schema = int(panel.meta["schema_version"])
    device = resolve_device(train_params.device) if loaded is None else None
    return predictors.Fold(
        arrays, prepared, test_rows, train_params, panel.temporal_features, panel.static_features, schema, device, loaded
    )


def train_folds(folds: list[predictors.Fold], settings: EvaluateParams, inputs: Arrays) -> list[dict[str, np.ndarray]]:
    """Every fold's ensemble and baselines as jobs; then each fold's network predictions here.

    The ensemble of a fold trains in one stack (``engine.fit_stack``), split into chunks of members when
    that balances the pool better (a member ends the same in any chunk); under ``evaluate.warm_start`` a
    chunk runs through the test years in order, each year starting from the last. Every job gets the
    model inputs once (``jobs.SHARED``). Returns per fold the test-row predictions of every registered
    predictor (``"model"`` with its uncertainty columns under ``"extra"``).
    """
    registry = predictors.registered()
    light = [fold.detached() for fold in folds]
    chunks = chunks_for(folds[0].params.ensemble_size, len(folds), settings, folds[0].params.num_threads)
    if settings.warm_start:
        network_jobs = [Job(fit_chunk_through_years, (jobs.SHARED, light, chunk, settings.warm_start_shrink)) for chunk in chunks]
    else:  # the largest folds first, so the pool's last jobs are short ones
        order = sorted(range(len(folds)), key=lambda i: -int(folds[i].train.sum()))
        network_jobs = [Job(fit_chunk, (jobs.SHARED, light[i], chunk)) for i in order for chunk in chunks]
    baseline_jobs = [
        Job(predictors.run_one, (registry[name], fold, jobs.SHARED)) for fold in light for name in registry if name != MODEL
    ]
    started = time.perf_counter()
    results = jobs.run(network_jobs + baseline_jobs, settings, shared=inputs)
    wall = time.perf_counter() - started
    parts: list[list] = [[] for _ in folds]
    if settings.warm_start:
        for chunk_result in results[: len(network_jobs)]:
            for index, trained in enumerate(chunk_result):
                parts[index].append(trained)
    else:
        for (index, _), trained in zip(((i, c) for i in order for c in chunks), results[: len(network_jobs)], strict=True):
            parts[index].append(trained)
    baseline_results = results[len(network_jobs) :]
    baselines = iter(values for values, _ in baseline_results)
    print(
        f"evaluate: time: walk-forward jobs {wall:.1f} s wall; networks {sum(t.seconds for p in parts for t in p):.1f} s "
        f"in {len(network_jobs)} job(s), baselines {sum(s for _, s in baseline_results):.1f} s in {len(baseline_jobs)} "
        f"job(s) (job seconds, {settings.n_jobs if settings.backend == 'local' else 'ray'} at a time)",
        file=sys.stderr,
    )
    out = []
    for fold, trained in zip(folds, parts, strict=True):
        fold.trained = Trained.join(trained)
        _report(fold)
        values = {name: (None if name == MODEL else next(baselines)) for name in registry}
        prediction = registry[MODEL](fold)
        values[MODEL], values["extra"] = np.asarray(prediction.values), prediction.extra
        out.append(values)
    return out


def chunks_for(size: int, folds: int, settings: EvaluateParams, threads: int) -> list[list[int]]:
    """The members of one job: all of them, or a share when there are fewer folds than the pool can run
    (about four network jobs a worker; with a warm start, one chunk a worker)."""
    parts = settings.n_jobs if settings.warm_start else -(-4 * settings.n_jobs // folds)
    return member_chunks(size, parts, threads)


def fit_chunk(inputs: Arrays, fold: predictors.Fold, members: list[int]) -> Trained:
    """A job: train ``members`` of the fold's ensemble and score them on its validation and test rows."""
    return train_and_score(fold.prepared.attached(inputs), fold.params, members, fold.scored_rows)


def fit_chunk_through_years(inputs: Arrays, folds: list[predictors.Fold], members: list[int], shrink: float) -> list[Trained]:
    """A job under ``evaluate.warm_start``: ``members`` through every test year in order."""
    prepared = [fold.prepared.attached(inputs) for fold in folds]
    return train_through_years(prepared, folds[0].params, members, [fold.scored_rows for fold in folds], shrink)


def _report(fold: predictors.Fold) -> None:
    summaries = fold.trained.summaries
    epochs = [summary["best_epoch"] for summary in summaries]
    ics = np.array([summary["best_val_rank_ic"] for summary in summaries], dtype=float)
    year = pd.Timestamp(fold.arrays.dates[fold.test_rows][0]).year
    print(
        f"evaluate: {year}: {len(summaries)} network(s), best epochs {epochs}, validation rank IC {np.nanmean(ics):.3f}",
        file=sys.stderr,
    )


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
    fold = make_fold(panel, arrays, params.train, split, test_rows, loaded)
    values, extra = predictors.fit_predict(fold)
    return with_oracle(predictions_frame(panel, fold, {**values, "extra": extra}), panel)


def predictions_frame(panel: Panel, fold: predictors.Fold, values: dict) -> pd.DataFrame:
    """One row per test row: date, ticker, target, realised returns, the market's, each predictor, the extras."""
    rows, arrays, horizon = fold.test_rows, fold.arrays, fold.params.horizon
    snapshots = panel.snapshots.iloc[np.flatnonzero(rows)]
    raw = snapshots[label_column(horizon, "raw")].to_numpy()
    excess = snapshots[label_column(horizon, "excess")].to_numpy()
    scored = {name: value for name, value in values.items() if name != "extra"}
    frame = pd.DataFrame(
        {
            "date": arrays.dates[rows],
            "ticker": arrays.tickers[rows],
            "target": arrays.target[rows],
            "raw_return": raw,
            "excess_return": excess,
            **scored,
        }
    )
    frame.insert(frame.columns.get_loc(MODEL) + 1, "market_return", raw - excess)
    # next month's returns: what a monthly-rebalanced portfolio built on the ranking earns (docs/portfolio.md)
    next_raw = snapshots[label_column("1m", "raw")].to_numpy()
    frame[portfolio.RETURN] = next_raw
    frame[portfolio.MARKET] = next_raw - snapshots[label_column("1m", "excess")].to_numpy()
    extra = values.get("extra")
    return frame if extra is None else pd.concat([frame, extra], axis=1)


def with_oracle(frame: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """The frame sorted by date and ticker, with the oracle's expected return where the store has one."""
    if panel.oracle is not None:
        oracle = panel.oracle.rename(columns={"expected_return_1y": ORACLE})[["ticker", "date", ORACLE]]
        frame = frame.merge(oracle, on=["ticker", "date"], how="left")
    return frame.sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)
