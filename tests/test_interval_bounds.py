"""Intervals on the simulated market: built in log(1 + return), so no bound implies a loss beyond
everything, and they cover what they did when calibrated in plain returns."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SMALL_PARAMS

from invest.data.market import simulate
from invest.data.panel import load_panel
from invest.evaluation import walk_forward
from invest.modelling import uncertainty
from invest.params import from_dict

LEVELS = (0.8, 0.95)
CALIBRATE = uncertainty.calibrate


def _walk_forward(panel, target: str, space: str, monkeypatch) -> pd.DataFrame:
    monkeypatch.setattr(uncertainty, "calibrate", lambda *args, **kwargs: CALIBRATE(*args, **{**kwargs, "space": space}))
    params = from_dict(
        {
            **SMALL_PARAMS,
            "train": {**SMALL_PARAMS["train"], "target": target, "ensemble_size": 1, "mc_samples": 10},
            "evaluate": {**SMALL_PARAMS["evaluate"], "n_jobs": 1},
        }
    )
    with contextlib.redirect_stderr(io.StringIO()):
        return walk_forward.walk_forward(panel, params)


@pytest.fixture(scope="module")
def raw_target(small_store):
    with pytest.MonkeyPatch.context() as patch:
        panel = load_panel(small_store)
        return {space: _walk_forward(panel, "raw", space, patch) for space in ("linear", uncertainty.LOG_SPACE)}


def test_no_raw_return_bound_falls_below_minus_100_percent(raw_target):
    frame = raw_target[uncertainty.LOG_SPACE]
    for level in LEVELS:
        for prefix in ("", "mc_"):
            (lower,), _ = uncertainty.interval_columns([level], prefix)
            assert (frame[lower] > -1).all(), (lower, frame[lower].min())
    before = raw_target["linear"]
    assert (before["lower_95"] < -1).any()  # the symmetric intervals did imply such losses on this market


@pytest.fixture(scope="module")
def market_rows() -> pd.DataFrame:
    """A simulated market's monthly rows: realised 1-year return, the planted expected return as the
    prediction and the trailing 1-year volatility as sigma."""
    tables = simulate(60, "2006-01-01", "2018-12-31", seed=5)
    prices = tables["prices"].pivot(index="date", columns="ticker", values="adj_close")
    prices.index = pd.to_datetime(prices.index)
    monthly = prices.resample("ME").last()
    realised = monthly.shift(-12) / monthly - 1
    volatility = (np.log(prices).diff().rolling(252).std() * np.sqrt(252)).resample("ME").last()
    oracle = tables["oracle"].assign(date=lambda f: pd.to_datetime(f["date"]))
    expected = oracle.pivot_table(index="date", columns="ticker", values="expected_return_1y").resample("ME").last()
    return pd.DataFrame({"target": realised.stack(), "sigma": volatility.stack(), "prediction": expected.stack()}).dropna()


def test_coverage_stays_within_one_point_of_the_plain_return_calibration(market_rows):
    """Calibrated on a random half of the dates, scored on the other half, 40 times: the mean coverage
    in log space is within 1 point of that in plain returns, and of the nominal level."""
    dates = market_rows.index.get_level_values(0)
    target, prediction, sigma = (market_rows[c].to_numpy() for c in ("target", "prediction", "sigma"))
    rng = np.random.default_rng(0)
    covered = {"linear": [], uncertainty.LOG_SPACE: []}
    for _ in range(40):
        calibration = dates.isin(rng.permutation(dates.unique())[: dates.nunique() // 2])
        for space, out in covered.items():
            fitted = CALIBRATE(target[calibration], prediction[calibration], sigma[calibration], LEVELS, space=space)
            bounds = uncertainty.intervals(prediction[~calibration], sigma[~calibration], fitted)
            y = target[~calibration]
            out.append(
                [
                    np.mean((y >= bounds[f"lower_{100 * level:.0f}"]) & (y <= bounds[f"upper_{100 * level:.0f}"]))
                    for level in LEVELS
                ]
            )
    before, after = np.mean(covered["linear"], axis=0), np.mean(covered[uncertainty.LOG_SPACE], axis=0)
    np.testing.assert_allclose(after, before, atol=0.01)
    np.testing.assert_allclose(after, LEVELS, atol=0.01)


def test_the_upper_side_is_the_longer_one(raw_target):
    frame = raw_target[uncertainty.LOG_SPACE]
    assert np.mean((frame["upper_95"] - frame["model"]) > (frame["model"] - frame["lower_95"])) > 0.99
