"""Tests for invest.conformal: exact finite-sample rule, MAPIE cross-check, coverage on known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from invest import conformal as c

LEVELS = (0.8, 0.95)


def hetero(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, true σ and targets with y = ŷ + σ·N(0, 1), σ ranging over 25x."""
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=n)
    sigma = np.exp(rng.uniform(np.log(0.02), np.log(0.5), size=n))
    return pred, sigma, pred + sigma * rng.normal(size=n)


def test_quantile_hand_computed() -> None:
    qs = c.fit_conformal(np.arange(1.0, 10.0), 1.0, [0.5, 0.8, 0.95])
    # n = 9: k = ceil(10 * level) -> 5, 8, 10 (> n: no finite quantile)
    assert qs == {0.5: 5.0, 0.8: 8.0, 0.95: float("inf")}
    # normalised: residual 2 with σ 2 scores 1; σ = 0 is floored, NaNs dropped
    qs = c.fit_conformal(np.array([2.0, 4.0, 6.0, np.nan]), np.array([2.0, 2.0, 2.0, 1.0]), [0.5])
    assert qs == {0.5: 2.0}
    assert c.conformal_rank(99, 0.8) == 80  # (n + 1) * level is an integer up to rounding
    with pytest.raises(ValueError):
        c.fit_conformal(np.ones(3), 1.0, [1.0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=60),
    st.floats(0.01, 0.99),
)
def test_leave_one_out_coverage_is_at_least_level(values: list[float], level: float) -> None:
    """The exchangeability guarantee, exactly: each point scored against the other n is covered >= level of the time."""
    s = np.asarray(values)
    covered = [s[i] <= c.fit_conformal(np.delete(s, i), 1.0, [level])[level] for i in range(s.size)]
    assert np.mean(covered) >= level - 1e-12


def test_intervals_columns_and_floor() -> None:
    pred = pd.Series([0.1, -0.2, 0.0], index=[10, 11, 12])
    out = c.intervals(pred, np.array([0.1, 0.2, 0.0]), {0.8: 2.0, 0.975: 3.0}, min_scale=0.01)
    assert list(out.columns) == ["lower_80", "upper_80", "lower_97.5", "upper_97.5"]
    assert list(out.index) == [10, 11, 12]
    np.testing.assert_allclose(out["upper_80"], [0.3, 0.2, 0.02])
    np.testing.assert_allclose(out["lower_97.5"], [-0.2, -0.8, -0.03])
    assert c.interval_columns([0.8, 0.975]) == (["lower_80", "lower_97.5"], ["upper_80", "upper_97.5"])


class _MeanStd:
    """Prefit regressor for MAPIE: X[:, 0] is the prediction and X[:, 1] its std."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _MeanStd:
        self.fitted_ = True
        return self

    def predict(self, X: np.ndarray, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X)
        return (X[:, 0], X[:, 1]) if return_std else X[:, 0]


def _mapie(pred: np.ndarray, sigma: np.ndarray, y: np.ndarray, normalised: bool) -> np.ndarray:
    """MAPIE split-conformal intervals on the calibration points, shape (n, 2, n_levels)."""
    pytest.importorskip("mapie")
    from mapie.conformity_scores import StdConformityScore
    from mapie.regression import SplitConformalRegressor
    from sklearn.base import BaseEstimator, RegressorMixin

    estimator_cls = type("MeanStd", (_MeanStd, RegressorMixin, BaseEstimator), {})
    X = np.c_[pred, sigma]
    score = StdConformityScore(eps=1e-8) if normalised else "absolute"
    regressor = SplitConformalRegressor(
        estimator_cls().fit(X, y), confidence_level=list(LEVELS), conformity_score=score, prefit=True
    )
    return regressor.conformalize(X, y).predict_interval(X)[1]


@pytest.mark.parametrize("normalised", [True, False])
@pytest.mark.parametrize("n", [99, 199, 101, 250])
def test_matches_mapie_split_conformal(n: int, normalised: bool) -> None:
    pred, sigma, y = hetero(n, seed=n)
    scale = sigma if normalised else 1.0
    qs = c.fit_conformal(np.abs(y - pred), scale, LEVELS)
    ours = c.intervals(pred, scale, qs)
    theirs = _mapie(pred, sigma, y, normalised)
    ranked = np.sort(c.scores(y - pred, scale))
    for j, level in enumerate(LEVELS):
        lower, upper = (col[0] for col in c.interval_columns([level]))
        np.testing.assert_allclose(ours[upper], theirs[:, 1, j], rtol=1e-10)
        k = c.conformal_rank(n, level)
        mapie_low_k = n + 1 - np.ceil((1 - level) * (n + 1))  # StdConformityScore's lower rank, in floats
        if not normalised or mapie_low_k == k:
            np.testing.assert_allclose(ours[lower], theirs[:, 0, j], rtol=1e-10)
        else:
            # MAPIE 1.6's StdConformityScore puts the lower bound one order statistic too low
            # (interval slightly too narrow below); the "absolute" score has no such asymmetry.
            np.testing.assert_allclose(pred - ranked[k - 2] * sigma, theirs[:, 0, j], rtol=1e-10)
            assert (ours[lower] < theirs[:, 0, j]).all()


def test_known_gaussian_coverage_overall_and_by_sigma() -> None:
    pred, sigma, y = hetero(20_000, seed=1)
    qs = c.fit_conformal(np.abs(y - pred), sigma, LEVELS)
    for level in LEVELS:
        assert qs[level] == pytest.approx(norm.ppf((1 + level) / 2), abs=0.05)
    t_pred, t_sigma, t_y = hetero(20_000, seed=2)
    frame = pd.concat([pd.DataFrame({"target": t_y}), c.intervals(t_pred, t_sigma, qs)], axis=1)
    frame["vol"] = pd.qcut(t_sigma, 3, labels=["low", "mid", "high"])
    lower, upper = c.interval_columns(LEVELS)
    table = c.coverage_table(frame, lower, upper, by="vol")
    assert len(table) == 6
    assert (table["coverage"] - table["nominal"]).abs().max() < 0.02
    # Without normalisation marginal coverage holds but high-σ names are badly under-covered.
    flat = c.fit_conformal(np.abs(y - pred), 1.0, LEVELS)
    frame = pd.concat([frame[["target", "vol"]], c.intervals(t_pred, 1.0, flat)], axis=1)
    table = c.coverage_table(frame, lower, upper, by="vol").set_index(["vol", "interval"])
    assert table.loc[("high", "80"), "coverage"] < 0.6
    overall = c.coverage_table(frame, lower, upper)
    assert (overall["coverage"] - overall["nominal"]).abs().max() < 0.02


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["normal", "student", "uniform"]), st.floats(0.2, 5.0))
def test_coverage_on_exchangeable_data_even_with_wrong_sigma(seed: int, noise: str, misfit: float) -> None:
    """Marginal coverage holds for any σ, right or wrong, if the data are exchangeable."""
    rng = np.random.default_rng(seed)
    n = 4_000
    pred = rng.normal(size=n)
    sigma = rng.uniform(0.1, 1.0, size=n)
    eps = {"normal": rng.normal, "student": lambda size: rng.standard_t(3, size=size), "uniform": rng.uniform}[noise]
    y = pred + sigma * eps(size=n)
    scale = sigma**misfit  # deliberately misspecified σ
    cal, test = slice(0, 1_000), slice(1_000, None)
    qs = c.fit_conformal(np.abs(y[cal] - pred[cal]), scale[cal], LEVELS)
    frame = pd.concat([pd.DataFrame({"target": y[test]}), c.intervals(pred[test], scale[test], qs)], axis=1)
    table = c.coverage_table(frame, *c.interval_columns(LEVELS))
    assert (table["coverage"] >= table["nominal"] - 0.045).all()


def test_coverage_table_by_series_and_hand_values() -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-31", "2020-06-30", "2021-01-31", "2021-06-30"]),
            "target": [0.0, 1.0, 2.0, np.nan],
            "lower_80": [-1.0, 2.0, 1.0, 0.0],
            "upper_80": [1.0, 3.0, 2.0, 1.0],
            "lo": [-1.0, -1.0, -1.0, -1.0],
            "hi": [1.0, 1.0, 1.0, 1.0],
        }
    )
    table = c.coverage_table(frame, ["lower_80", "lo"], ["upper_80", "hi"], by=frame["date"].dt.year.rename("year"))
    assert list(table.columns) == ["interval", "nominal", "year", "coverage", "mean_width", "n"]
    rows = table.set_index(["interval", "year"])
    assert rows.loc[("80", 2020), "coverage"] == 0.5
    assert rows.loc[("80", 2021), "coverage"] == 1.0  # NaN target is dropped, the boundary counts as covered
    assert rows.loc[("80", 2021), "n"] == 1
    assert rows.loc[("80", 2020), "nominal"] == 0.8
    assert np.isnan(rows.loc[("lo", 2020), "nominal"])
    assert rows.loc[("lo", 2021), "mean_width"] == 2.0
    assert c.coverage_table(frame, ["lower_80"], ["upper_80"])["group"].tolist() == ["all"]
