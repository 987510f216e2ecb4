"""invest.modelling.uncertainty and invest.evaluation.coverage: the conformal rule (exact, and against MAPIE), intervals, coverage, confidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from invest.evaluation import coverage as tables
from invest.modelling import uncertainty as u

LEVELS = (0.8, 0.95)
TINY = 1e-8


def hetero(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, true σ and targets with y = ŷ + σ·N(0, 1), σ ranging over 25x."""
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=n)
    sigma = np.exp(rng.uniform(np.log(0.02), np.log(0.5), size=n))
    return pred, sigma, pred + sigma * rng.normal(size=n)


def calibration(quantiles: dict[float, float], min_scale: float = TINY) -> dict:
    return {"levels": list(quantiles), "quantiles": {str(k): v for k, v in quantiles.items()}, "min_scale": min_scale}


def scored_frame(target, pred, scale, quantiles, dates=None, vol=None) -> pd.DataFrame:
    """A test frame as evaluate makes it: date, target, the volatility feature and both kinds of bounds."""
    n = len(target)
    base = pd.DataFrame(
        {
            "date": pd.Timestamp("2021-01-31") if dates is None else dates,
            "target": target,
            "vol_3m": np.arange(n, dtype=float) if vol is None else vol,
        }
    )
    return pd.concat(
        [base, u.intervals(np.asarray(pred, float), np.broadcast_to(scale, (n,)).astype(float), calibration(quantiles))], axis=1
    )


def test_quantile_hand_computed() -> None:
    qs = u.fit_conformal(np.arange(1.0, 10.0), 1.0, [0.5, 0.8, 0.95], TINY)
    # n = 9: k = ceil(10 * level) -> 5, 8, 10 (> n: no finite quantile)
    assert qs == {0.5: 5.0, 0.8: 8.0, 0.95: float("inf")}
    # normalised: residual 2 with σ 2 scores 1; σ = 0 is floored, NaNs dropped
    qs = u.fit_conformal(np.array([2.0, 4.0, 6.0, np.nan]), np.array([2.0, 2.0, 2.0, 1.0]), [0.5], TINY)
    assert qs == {0.5: 2.0}
    assert u.conformal_rank(99, 0.8) == 80  # (n + 1) * level is an integer up to rounding
    with pytest.raises(ValueError):
        u.fit_conformal(np.ones(3), 1.0, [1.0], TINY)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=60), st.floats(0.01, 0.99))
def test_leave_one_out_coverage_is_at_least_level(values: list[float], level: float) -> None:
    """The exchangeability guarantee, exactly: each point scored against the other n is covered >= level of the time."""
    s = np.asarray(values)
    covered = [s[i] <= u.fit_conformal(np.delete(s, i), 1.0, [level], TINY)[level] for i in range(s.size)]
    assert np.mean(covered) >= level - 1e-12


def test_interval_columns_and_floor() -> None:
    out = u.intervals(np.array([0.1, -0.2, 0.0]), np.array([0.1, 0.2, 0.0]), calibration({0.8: 2.0, 0.975: 3.0}, 0.01))
    assert list(out.columns) == [
        "lower_80", "upper_80", "mc_lower_80", "mc_upper_80", "lower_97.5", "upper_97.5", "mc_lower_97.5", "mc_upper_97.5",
    ]  # fmt: skip
    np.testing.assert_allclose(out["upper_80"], [0.3, 0.2, 0.02])
    np.testing.assert_allclose(out["lower_97.5"], [-0.2, -0.8, -0.03])
    np.testing.assert_allclose(out["mc_upper_80"], [0.1 + 1.2816 * 0.1, -0.2 + 1.2816 * 0.2, 0.0])  # raw MC: no floor
    assert u.interval_columns([0.8, 0.975]) == (["lower_80", "lower_97.5"], ["upper_80", "upper_97.5"])


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
    scale = sigma if normalised else np.ones(n)
    qs = u.fit_conformal(np.abs(y - pred), scale, LEVELS, TINY)
    ours = u.intervals(pred, scale, calibration(qs))
    theirs = _mapie(pred, sigma, y, normalised)
    ranked = np.sort(np.abs(y - pred) / scale)
    for j, level in enumerate(LEVELS):
        (lower,), (upper,) = u.interval_columns([level])
        np.testing.assert_allclose(ours[upper], theirs[:, 1, j], rtol=1e-10)
        k = u.conformal_rank(n, level)
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
    qs = u.fit_conformal(np.abs(y - pred), sigma, LEVELS, TINY)
    for level in LEVELS:
        assert qs[level] == pytest.approx(norm.ppf((1 + level) / 2), abs=0.05)
    t_pred, t_sigma, t_y = hetero(20_000, seed=2)
    table = tables.coverage_table(scored_frame(t_y, t_pred, t_sigma, qs, vol=t_sigma), LEVELS)
    calibrated = table[table["kind"] == "calibrated"]
    assert len(calibrated[calibrated["group"] == "volatility"]) == 6  # 3 terciles x 2 levels
    assert (calibrated["coverage"] - calibrated["level"]).abs().max() < 0.02
    # Without normalisation marginal coverage holds but high-σ names are badly under-covered.
    flat = u.fit_conformal(np.abs(y - pred), 1.0, LEVELS, TINY)
    table = tables.coverage_table(scored_frame(t_y, t_pred, 1.0, flat, vol=t_sigma), LEVELS)
    rows = table[table["kind"] == "calibrated"].set_index(["group", "bucket", "level"])["coverage"]
    assert rows[("volatility", "3", 0.8)] < 0.6
    assert abs(rows[("pooled", "all", 0.8)] - 0.8) < 0.02 and abs(rows[("pooled", "all", 0.95)] - 0.95) < 0.02


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
    qs = u.fit_conformal(np.abs(y[cal] - pred[cal]), scale[cal], LEVELS, TINY)
    table = tables.coverage_table(scored_frame(y[test], pred[test], scale[test], qs), LEVELS)
    pooled = table[(table["kind"] == "calibrated") & (table["group"] == "pooled")]
    assert (pooled["coverage"] >= pooled["level"] - 0.045).all()


def test_coverage_table_hand_values() -> None:
    frame = scored_frame(
        target=np.array([0.0, 1.0, 2.0, 0.5]),
        pred=np.array([0.0, 2.5, 1.5, 0.5]),
        scale=np.array([1.0, 0.5, 0.5, 0.5]),
        quantiles={0.8: 1.0},
        dates=pd.to_datetime(["2020-01-31", "2020-06-30", "2021-01-31", "2021-06-30"]),
        vol=np.array([0.1, 0.2, 0.3, 0.4]),
    )  # calibrated bounds: [-1, 1], [2, 3], [1, 2], [0, 1]
    table = tables.coverage_table(frame, [0.8])
    assert list(table.columns) == ["kind", "level", "group", "bucket", "coverage", "width", "n"]
    rows = table[table["kind"] == "calibrated"].set_index(["group", "bucket"])
    assert rows.loc[("pooled", "all"), "coverage"] == 0.75 and rows.loc[("pooled", "all"), "n"] == 4
    assert rows.loc[("year", "2020"), "coverage"] == 0.5
    assert rows.loc[("year", "2021"), "coverage"] == 1.0  # the boundary counts as covered
    assert rows.loc[("pooled", "all"), "width"] == pytest.approx(1.25)


def test_calibrated_intervals_cover_what_they_claim_where_raw_dropout_does_not():
    """Known answer: y = ŷ + σ·N(0,1); dropout reports σ/3 (too confident), as MC dropout typically does."""
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.05, 0.6, 20_000)
    prediction = rng.normal(0, 0.1, 20_000)
    target = prediction + sigma * rng.standard_normal(20_000)
    fitted = u.calibrate(target[:10_000], prediction[:10_000], sigma[:10_000] / 3, [0.8, 0.95])
    assert fitted["space"] == u.LOG_SPACE and fitted["quantiles"]["0.8"] > 3  # dropout's σ is far too small
    bounds = u.intervals(prediction[10_000:], sigma[10_000:] / 3, fitted)
    y = target[10_000:]
    for label, nominal in (("80", 0.8), ("95", 0.95)):
        covered = ((y >= bounds[f"lower_{label}"]) & (y <= bounds[f"upper_{label}"])).mean()
        raw = ((y >= bounds[f"mc_lower_{label}"]) & (y <= bounds[f"mc_upper_{label}"])).mean()
        assert covered == pytest.approx(nominal, abs=0.02)
        assert raw < nominal - 0.3


def test_scale_floor_keeps_intervals_open():
    prediction, sigma, target = hetero(2_000, 2)
    sigma[:100] = 0.0
    bounds = u.intervals(prediction, sigma, u.calibrate(target, prediction, sigma, [0.8]))
    assert (bounds["upper_80"] - bounds["lower_80"] > 0).all()


def test_confidence_orders_errors_when_noise_follows_volatility():
    rng = np.random.default_rng(3)
    dates = np.repeat(pd.date_range("2020-01-31", periods=24, freq="ME"), 50)
    vol = rng.uniform(0.1, 0.8, len(dates))
    prediction = rng.normal(0, 0.05, len(dates))
    frame = scored_frame(
        prediction + vol * rng.standard_normal(len(dates)), prediction, vol / 4, {0.8: 5.2, 0.95: 8.0}, dates, vol
    )
    frame = frame.assign(prediction=prediction, model=prediction, log_market_cap=rng.normal(23, 1, len(dates)))
    frame = frame.assign(missing_share=0.0, clipped_share=0.0)
    frame["confidence"] = u.confidence(frame, 0.95)
    assert frame["confidence"].between(0, 1).all()
    by_confidence = tables.confidence_table(frame)
    assert list(by_confidence["mae"]) == sorted(by_confidence["mae"], reverse=True)
    assert tables.mae_order(by_confidence) == pytest.approx(-1.0)
    coverage = tables.coverage_table(frame, [0.8, 0.95]).set_index(["kind", "group", "bucket", "level"])["coverage"]
    assert coverage[("mc_dropout", "pooled", "all", 0.95)] < coverage[("calibrated", "pooled", "all", 0.95)]
    assert ("calibrated", "year", "2021", 0.95) in coverage.index and ("calibrated", "volatility", "1", 0.8) in coverage.index


def test_weights_sum_to_one():
    assert sum(u.CONFIDENCE_WEIGHTS.values()) == pytest.approx(1.0)


def test_intervals_stay_above_minus_100_percent_and_lean_like_returns():
    """Built in log(1 + return): a raw return's lower bound never passes -100%, and the upper side is longer."""
    rng = np.random.default_rng(4)
    prediction = rng.normal(0.05, 0.2, 5_000)
    sigma = rng.uniform(0.2, 0.9, 5_000)
    target = np.exp(np.log1p(prediction) + sigma * rng.standard_normal(5_000)) - 1  # lognormal outcomes
    fitted = u.calibrate(target, prediction, sigma / 2, [0.8, 0.95])
    bounds = u.intervals(prediction, sigma / 2, fitted)
    assert (bounds[["lower_95", "lower_80", "mc_lower_95"]] > -1).all().all()
    assert ((bounds["upper_95"] - prediction) > (prediction - bounds["lower_95"])).all()
    covered = ((target >= bounds["lower_95"]) & (target <= bounds["upper_95"])).mean()
    assert covered == pytest.approx(0.95, abs=0.01)


def test_excess_return_bounds_never_read_as_losing_more_than_everything():
    """Real data printed excess-return intervals such as [-105.8%, +3911.7%]: the lower bound is now clipped at
    -100% (below it lies only a stock that lost everything in a rising market)."""
    fitted = u.calibrate(np.array([0.1, -0.3, 0.2, 0.0] * 50), np.zeros(200), np.full(200, 0.3), [0.95], offset=0.08)
    bounds = u.intervals(np.array([-0.9, 0.0, 0.5]), np.array([0.5, 0.5, 0.5]), fitted)
    assert (bounds[["lower_95", "mc_lower_95"]] >= -1).all().all() and fitted["offset"] == 0.08
    assert bounds["lower_95"][0] == -1.0  # the stock predicted to lose 90%: its bound sits at the floor, not below


def test_an_interval_wider_than_the_spread_of_all_outcomes_is_too_uncertain_to_act_on():
    rng = np.random.default_rng(3)
    sigma_seen = rng.uniform(0.05, 0.6, 4_000)  # some stocks are far more predictable than others
    target = sigma_seen * rng.standard_normal(4_000)
    fitted = u.calibrate(target, np.zeros(4_000), sigma_seen, [0.8, 0.95])
    low, high = fitted["outcome_band"]["0.8"]
    assert low == pytest.approx(np.quantile(target, 0.1)) and high == pytest.approx(np.quantile(target, 0.9))
    sigma = np.array([0.05, 0.15, 3.0])  # a predictable stock, a typical one, one the model knows nothing about
    frame = u.intervals(np.zeros(3), sigma, fitted)
    assert list(u.too_uncertain(frame, fitted)) == [0.0, 0.0, 1.0]
    old = {key: value for key, value in fitted.items() if key != "outcome_band"}  # a checkpoint from before the band
    assert np.isnan(u.too_uncertain(frame, old)).all()


def test_a_calibration_from_before_log_space_stays_symmetric():
    old = {"levels": [0.8], "quantiles": {"0.8": 2.0}, "min_scale": 0.01}
    bounds = u.intervals(np.array([0.1]), np.array([0.1]), old)
    np.testing.assert_allclose([bounds["lower_80"][0], bounds["upper_80"][0]], [-0.1, 0.3])
