import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SMALL_PARAMS, run_evaluate, run_train, write_raw

from invest import cache
from invest.data.features import MOMENTUM
from invest.data.market import simulate
from invest.data.panel import load_panel
from invest.evaluation import predictors, scoring, summary, walk_forward
from invest.modelling import splits
from invest.params import from_dict

CONTROL_PARAMS = {
    "data": {"n_tickers": 40, "start": "2006-01-01", "as_of": "2018-12-31"},
    "train": {
        "train_end": "2012-12-31",
        "val_end": "2014-12-31",
        "epochs": 8,
        "patience": 3,
        "hidden_size": 16,
        "attention_heads": 2,
        "seq_len": 6,
        "batch_size": 128,
        "num_threads": 1,
        "ensemble_size": 1,  # the controls test the harness; with 40 names and 24 overlapping dates one
        # shuffle's rank IC is noise of about +-0.1 either way, so they keep the one network (seed 42) whose
        # control result is known, and the ensemble is tested on its own
    },
    "evaluate": {"test_years": [2016, 2017], "val_months": 24, "bootstrap_samples": 100},
}


@pytest.fixture(scope="module")
def control_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("controls")
    write_raw(base / "raw", simulate(40, "2006-01-01", "2018-12-31", seed=11))
    cache.main(from_dict(CONTROL_PARAMS), raw_dir=base / "raw", db_path=base / "db.sqlite")
    return base / "db.sqlite"


def _walk_forward(store, control):
    params = from_dict({**CONTROL_PARAMS, "train": {**CONTROL_PARAMS["train"], "control": control}})
    frame = walk_forward.walk_forward(load_panel(store), params)
    return frame, summary.flatten(scoring.evaluate_predictions(frame, predictors.baseline_names(), params))


def test_walk_forward_never_trains_on_labels_that_reach_the_test_year():
    for year in (2016, 2020):
        split = splits.walk_forward(year, 12, 24)
        test_start = pd.Timestamp(f"{year}-01-01")
        assert split.val_end + pd.DateOffset(months=12) < test_start  # validation labels end before the test year
        assert split.train_end + pd.DateOffset(months=12) <= split.val_start
        assert split.val_start < split.val_end


def test_the_model_ranks_and_the_shuffled_control_does_not(control_store):
    frame, summary = _walk_forward(control_store, "none")
    assert set(frame["date"].dt.year) == {2016, 2017}
    assert summary["model_rank_ic"] > 0.05
    assert summary["oracle_rank_ic"] > summary["model_rank_ic"] - 0.1
    _, shuffled = _walk_forward(control_store, "shuffled_labels")
    # near zero: within sampling noise (24 overlapping dates of 40 names), far below the real model
    assert abs(shuffled["model_rank_ic"]) < 0.1
    assert abs(shuffled["ridge_rank_ic"]) < 0.15
    assert shuffled["model_rank_ic"] < summary["model_rank_ic"] - 0.05


def test_features_from_the_future_look_too_good(control_store):
    """Proof that the harness detects leakage: features shifted one horizon ahead beat the oracle."""
    _, leaked = _walk_forward(control_store, "future_features")
    assert leaked["ridge_rank_ic"] > 0.5
    assert leaked["ridge_rank_ic"] > leaked["oracle_rank_ic"] + 0.2


def test_stage_writes_flat_metrics_predictions_plots_and_report(tmp_path, small_store, small_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_train(small_params, small_store, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "live")
    run_evaluate(small_params, small_store, tmp_path / "model.pt", tmp_path / "metrics", tmp_path / "evaluation")
    summary = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert all(not isinstance(value, (dict, list)) for value in summary.values())
    for key in (
        "model_rank_ic",
        "oracle_rank_ic",
        "model_mae",
        "base_rate",
        "momentum_rank_ic",
        "gbt_rank_ic",
        "margin_vs_ridge_rank_ic_lo",
        "y2016_model_rank_ic",
        "model_share_of_oracle_ic",
    ):
        assert key in summary
    predictions = pd.read_csv(tmp_path / "metrics" / "predictions.csv")
    assert {"ticker", "date", "target", "model", "oracle", "ridge", "gbt"} <= set(predictions.columns)
    assert summary["rows"] == len(predictions)
    for key in (
        "interval_80_coverage",
        "mc_interval_95_coverage",
        "y2017_interval_95_coverage",
        "vol3_interval_80_coverage",
        "confidence_q1_mae",
        "confidence_mae_order",
    ):
        assert key in summary
    assert {"lower_80", "upper_95", "mc_std", "confidence"} <= set(predictions.columns)
    assert "## Prediction intervals" in (tmp_path / "evaluation" / "report.md").read_text()
    for name in ("ic_by_year.csv", "buckets.csv", "pred_vs_actual.csv", "coverage.csv", "portfolio.csv"):
        assert (tmp_path / "metrics" / "plots" / name).exists()
    for key in (  # the portfolio backtest, every predictor through the same code (docs/portfolio.md)
        "portfolio_model_top_net_excess_index_ann",
        "portfolio_model_top_net_excess_index_lo",
        "portfolio_model_long_short_net_mean_t",
        "portfolio_ridge_top_net_excess_ew_hi",
        "portfolio_oracle_top_turnover",
        "portfolio_market_return_ann",
        "portfolio_universe_return_ann",
        "y2016_portfolio_model_top_net_excess_index",
    ):
        assert key in summary, key
    assert {"fwd_ret_1m", "market_ret_1m", "model_member_0", "model_member_1"} <= set(predictions.columns)
    curves = pd.read_csv(tmp_path / "metrics" / "plots" / "portfolio.csv")
    assert {"date", "model", "ridge", "index", "equal_weighted"} <= set(curves.columns) and "zero" not in curves
    assert (tmp_path / "evaluation" / "portfolio.png").stat().st_size > 1000
    report = (tmp_path / "evaluation" / "report.md").read_text()
    assert "**Summary.**" in report and "base rate" in report and "oracle" in report
    assert "## What acting on the ranking would have earned" in report and "the equal-weighted universe by" in report
    for png in ("ic_by_year.png", "deciles.png", "pred_vs_actual.png"):
        assert (tmp_path / "evaluation" / png).read_bytes()[:4] == b"\x89PNG"
    years = pd.read_csv(tmp_path / "metrics" / "plots" / "ic_by_year.csv")
    assert "model" in set(years["predictor"]) and not {"zero", "historical_mean"} & set(years["predictor"])  # drawn only
    bins = pd.read_csv(tmp_path / "metrics" / "plots" / "pred_vs_actual.csv")
    assert bins["rows"].sum() == predictions["target"].notna().sum() and bins["prediction"].is_monotonic_increasing
    assert (bins["q10_realised"] <= bins["q50_realised"]).all() and (bins["q50_realised"] <= bins["q90_realised"]).all()
    headline = json.loads((tmp_path / "metrics" / "headline.json").read_text())
    assert list(headline) == ["rank_ic", "margin", "mae_vs_0", "cov_95", "excess"]
    assert headline["rank_ic"] == round(summary["model_rank_ic"], 3)
    ranking = [name for name in predictors.baseline_names() if summary[f"margin_vs_{name}_rank_ic"] is not None]
    best = max(ranking, key=lambda name: summary[f"{name}_rank_ic"])
    assert headline["margin"] == round(summary[f"margin_vs_{best}_rank_ic"], 3)
    assert headline["mae_vs_0"] == round(summary["model_mae"] - summary["zero_mae"], 3)


def test_single_split_mode_scores_the_trained_checkpoint(tmp_path, small_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = from_dict({**SMALL_PARAMS, "evaluate": {**SMALL_PARAMS["evaluate"], "mode": "single"}})
    run_train(params, small_store, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "live")
    run_evaluate(params, small_store, tmp_path / "model.pt", tmp_path / "metrics", tmp_path / "evaluation")
    predictions = pd.read_csv(tmp_path / "metrics" / "predictions.csv", parse_dates=["date"])
    assert predictions["date"].min() > pd.Timestamp("2016-06-30")
    assert np.isfinite(predictions["model"]).all()


def test_test_years_without_labels_are_a_clear_error(small_store):
    from invest.data.panel import load_panel
    from invest.errors import ConfigError
    from invest.evaluation import walk_forward

    params = from_dict({**SMALL_PARAMS, "evaluate": {**SMALL_PARAMS["evaluate"], "test_years": [2018]}})
    with pytest.raises(
        ConfigError,
        match=r"evaluate.test_years: 2018 has no labelled snapshots \(1y returns; labelled snapshots run .*\); choose years from 2014 to 2017",
    ):
        walk_forward.walk_forward(load_panel(small_store), params)


def test_a_registered_predictor_is_scored_everywhere(tmp_path, small_store, small_params):
    """Adding a baseline is one decorated function: it reaches eval.json, predictions, the card and the report."""

    @predictors.register("contrarian")
    def contrarian(fold: predictors.Fold) -> predictors.Prediction:
        return predictors.Prediction(-fold.last_step(MOMENTUM)[fold.test_rows])

    try:
        run_train(small_params, small_store, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "live")
        run_evaluate(small_params, small_store, tmp_path / "model.pt", tmp_path / "metrics", tmp_path / "evaluation")
    finally:
        predictors.unregister("contrarian")
    flat = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert {"contrarian_rank_ic", "contrarian_mae", "margin_vs_contrarian_rank_ic_lo", "y2016_contrarian_rank_ic"} <= set(flat)
    assert "contrarian" in pd.read_csv(tmp_path / "metrics" / "predictions.csv").columns
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert "contrarian" in card["evaluation"]["baselines"] and "contrarian" in card["evaluation"]["margins"]
    report = (tmp_path / "evaluation" / "report.md").read_text()
    head = report.split("\n## ")[0]
    assert "| contrarian |" in report and "- **contrarian**: rank IC: " in head  # the headline judges it too
    assert "contrarian" not in predictors.registered()
