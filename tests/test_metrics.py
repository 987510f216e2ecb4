"""Tests for invest.evaluation.metrics: hand-computed cases, library cross-checks and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from invest.evaluation import metrics as m


def make_frame(n_dates: int = 24, n_tickers: int = 20, noise: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Monthly panel where ``target = prediction + noise`` (plus a market column)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2010-01-31", periods=n_dates, freq="ME")
    frame = pd.DataFrame({"date": np.repeat(dates, n_tickers), "ticker": np.tile(np.arange(n_tickers), n_dates)})
    frame["prediction"] = rng.normal(size=len(frame))
    frame["target"] = frame["prediction"] + noise * rng.normal(size=len(frame))
    frame["market_return"] = frame.groupby("date")["target"].transform("mean")
    return frame


# --- rank IC -----------------------------------------------------------------------------


def test_rank_ic_matches_scipy_with_ties() -> None:
    frame = make_frame()
    frame["prediction"] = frame["prediction"].round(0)  # many ties
    ic = m.rank_ic_by_date(frame)
    expected = frame.groupby("date").apply(lambda g: spearmanr(g["prediction"], g["target"])[0])
    np.testing.assert_allclose(ic.to_numpy(), expected.loc[ic.index].to_numpy(), atol=1e-12)
    assert len(ic) == 24


def test_perfect_and_reversed_predictor() -> None:
    frame = make_frame(noise=0.0)
    assert np.allclose(m.rank_ic_by_date(frame), 1.0)
    assert np.allclose(m.rank_ic_by_date(frame.assign(prediction=-frame["prediction"])), -1.0)
    assert m.ic_summary(m.rank_ic_by_date(frame), 12)["mean"] == pytest.approx(1.0)


def test_rank_ic_skips_small_and_constant_dates() -> None:
    frame = make_frame(n_dates=4, n_tickers=10)
    dates = frame["date"].unique()
    frame = frame[~((frame["date"] == dates[0]) & (frame["ticker"] >= 4))]  # 4 rows left
    frame.loc[frame["date"] == dates[1], "prediction"] = 0.3  # constant prediction
    frame.loc[frame["date"] == dates[2], "target"] = np.nan  # dropped rows
    ic = m.rank_ic_by_date(frame)
    assert list(ic.index) == [dates[3]]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-1000, 1000), min_size=6, max_size=30, unique=True),
    st.sampled_from(["exp", "cube", "affine"]),
    st.integers(0, 2**32 - 1),
)
def test_rank_ic_invariant_to_monotone_transform(preds: list[int], kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.asarray(preds, dtype=float)
    frame = pd.DataFrame({"date": pd.Timestamp("2020-01-31"), "prediction": x, "target": rng.normal(size=x.size)})
    transform = {"exp": lambda v: np.exp(v / 1000), "cube": lambda v: v**3, "affine": lambda v: 3 * v - 7}[kind]
    a = m.rank_ic_by_date(frame)
    b = m.rank_ic_by_date(frame.assign(prediction=transform(x)))
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-12)


# --- IC summary ----------------------------------------------------------------------------


def test_newey_west_hand_computed() -> None:
    # e = [-1.5, -.5, .5, 1.5]; gamma0 = 1.25, gamma1 = 0.3125; S = 1.25 + 2 * 0.5 * 0.3125; se = sqrt(S / 4)
    assert m.newey_west_se(np.array([1.0, 2.0, 3.0, 4.0]), lags=1) == pytest.approx(0.625)
    assert m.newey_west_se(np.array([1.0, 2.0, 3.0, 4.0]), lags=0) == pytest.approx(math.sqrt(1.25 / 4))


@pytest.mark.parametrize("lags", [0, 1, 5, 12])
def test_newey_west_matches_statsmodels_hac(lags: int) -> None:
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(lags)
    x = np.convolve(rng.normal(size=130), np.ones(12) / 12, mode="valid")  # overlapping-return-like MA(11)
    fit = sm.OLS(x, np.ones_like(x)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    assert m.newey_west_se(x, lags) == pytest.approx(fit.bse[0], rel=1e-10)


def test_newey_west_lags_rule() -> None:
    assert m.newey_west_lags(120, 12) == 12
    assert m.newey_west_lags(1000, 1) == 6  # floor(4 * 10 ** (2/9))
    assert m.newey_west_lags(5, 12) == 4  # capped at n - 1


def test_nonoverlap_t_uses_calendar_offsets() -> None:
    """Horizon 2 with June missing: offsets are calendar months, not positions."""
    dates = pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30", "2020-05-31", "2020-07-31", "2020-08-31"])
    ic = pd.Series([1.0, 1.0, 2.0, 1.0, 3.0, 4.0, 5.0], index=dates)

    def tstat(v: list[float]) -> float:
        return float(np.mean(v) / (np.std(v, ddof=1) / np.sqrt(len(v))))

    t, n = m.nonoverlap_t(ic, 2)
    assert t == pytest.approx((tstat([1, 2, 3, 4]) + tstat([1, 1, 5])) / 2)  # Jan/Mar/May/Jul and Feb/Apr/Aug
    assert n == 3.5
    summary = m.ic_summary(ic, 2)
    assert summary["t_nonoverlap"] == pytest.approx(t)
    assert summary["n_dates"] == 7
    assert summary["icir"] == pytest.approx(ic.mean() / ic.std())


def test_overlap_inflates_naive_t() -> None:
    """On MA(11) noise with zero mean, the NW t is much smaller in spread than the naive t."""
    rng = np.random.default_rng(1)
    naive, nw = [], []
    for _ in range(200):
        x = np.convolve(rng.normal(size=131), np.ones(12), mode="valid")
        naive.append(x.mean() / (x.std(ddof=1) / np.sqrt(x.size)))
        nw.append(m.ic_summary(pd.Series(x), 12)["t_newey_west"])
    assert np.std(naive) > 2.5 and np.std(nw) < 1.8


# --- point metrics, hit rates, buckets -----------------------------------------------------


def test_point_metrics_hand_computed() -> None:
    frame = pd.DataFrame({"prediction": [1.0, 2.0, 3.0, np.nan], "target": [1.0, 3.0, 1.0, 5.0]})
    out = m.point_metrics(frame)
    assert out["n"] == 3
    assert out["mae"] == pytest.approx(1.0)
    assert out["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert out["pearson"] == pytest.approx(0.0)
    assert out["spearman"] == pytest.approx(spearmanr([1, 2, 3], [1, 3, 1])[0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=50), st.floats(1e-6, 5.0))
def test_constant_predictor_hit_rate_is_base_rate(targets: list[float], c: float) -> None:
    """The old system's failure mode: a constant-positive model scores exactly the base rate."""
    frame = pd.DataFrame({"date": pd.Timestamp("2020-01-31"), "prediction": c, "target": targets})
    up = m.hit_rates(frame)
    assert up["hit_rate"] == up["base_rate"]
    assert up["pred_positive_share"] == 1.0
    assert up["hit_rate"] <= up["best_constant_hit_rate"]
    down = m.hit_rates(frame.assign(prediction=-c))
    assert down["hit_rate"] == pytest.approx(1 - up["base_rate"])


def test_hit_rates_excess_removes_market_level() -> None:
    frame = make_frame(noise=0.0)
    perfect = m.hit_rates(frame)
    assert perfect["hit_rate"] == 1.0
    # A constant prediction with a rising market: high raw hit rate, no cross-sectional information.
    bull = frame.assign(target=frame["target"] + 10, market_return=frame["market_return"] + 10, prediction=0.08)
    out = m.hit_rates(bull)
    assert out["hit_rate"] == 1.0 == out["base_rate"]
    assert out["excess_pred_positive_share"] == 0.0
    assert out["excess_hit_rate"] == pytest.approx(1 - out["excess_base_rate"])
    # A perfect ranker is perfect on excess returns too (market = date mean here).
    assert m.hit_rates(frame)["excess_hit_rate"] == 1.0
    assert "excess_hit_rate" not in m.hit_rates(frame, market_return=None)


def test_quantile_spread_and_buckets_hand_computed() -> None:
    values = np.arange(1.0, 11.0)
    frame = pd.DataFrame({"date": pd.Timestamp("2020-01-31"), "prediction": values, "target": values})
    assert m.quantile_spread(frame, q=5) == pytest.approx(9.5 - 1.5)
    assert m.quantile_spread(frame.assign(prediction=-values), q=5) == pytest.approx(-8.0)
    buckets = m.returns_by_bucket(frame, n_buckets=5)
    assert list(buckets.index) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(buckets["mean_target"], [1.5, 3.5, 5.5, 7.5, 9.5])
    assert np.isnan(m.quantile_spread(frame.head(4), q=5))  # too few rows on the only date


def test_returns_by_bucket_monotone_for_good_model() -> None:
    buckets = m.returns_by_bucket(make_frame(n_dates=12, n_tickers=100, noise=0.2), n_buckets=10)
    assert len(buckets) == 10 and (buckets["n_dates"] == 12).all()
    assert buckets["mean_target"].is_monotonic_increasing


def test_calibration_slope() -> None:
    frame = make_frame(noise=0.0)
    assert m.calibration_slope(frame.assign(target=2 * frame["prediction"] + 1)) == pytest.approx(2.0)
    shrunk = make_frame(n_dates=50, n_tickers=100, noise=0.5)
    assert m.calibration_slope(shrunk.assign(prediction=shrunk["prediction"] * 2)) == pytest.approx(0.5, abs=0.03)
    assert np.isnan(m.calibration_slope(frame.assign(prediction=1.0)))


# --- bootstrap -----------------------------------------------------------------------------


def mean_ic(frame: pd.DataFrame) -> float:
    return float(m.rank_ic_by_date(frame).mean())


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))  # block < n_dates: a full-length block is a rotation
def test_block_bootstrap_deterministic_under_seed(seed: int, block: int) -> None:
    frame = make_frame(n_dates=12, n_tickers=6)
    a = m.block_bootstrap(frame, mean_ic, block, 5, seed)
    b = m.block_bootstrap(frame, mean_ic, block, 5, seed)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, m.block_bootstrap(frame, mean_ic, block, 5, seed + 1))


def test_block_indices_are_circular_runs() -> None:
    idx = m.block_indices(10, 4, 50, seed=3)
    assert idx.shape == (50, 10)
    for row in idx:
        for start in range(0, 10, 4):
            run = row[start : start + 4]
            np.testing.assert_array_equal(run, (run[0] + np.arange(run.size)) % 10)


def test_full_length_block_is_a_rotation() -> None:
    """With one block covering every date each resample holds each date once, so mean IC is unchanged."""
    frame = make_frame(n_dates=10, n_tickers=8)
    boots = m.block_bootstrap(frame, mean_ic, 10, 20, seed=0)
    np.testing.assert_allclose(boots, mean_ic(frame))


def test_block_bootstrap_keeps_duplicates_as_separate_dates() -> None:
    frame = make_frame(n_dates=6, n_tickers=5)
    seen = m.block_bootstrap(frame, lambda f: f["date"].nunique() + 100 * len(f), 1, 20, seed=0)
    np.testing.assert_array_equal(seen, 6 + 100 * 30)


# --- paired margin -------------------------------------------------------------------------


def test_paired_margin_matches_generic_bootstrap() -> None:
    frame = make_frame(n_dates=20, n_tickers=10).assign(other=lambda f: f["target"] + np.cos(np.arange(len(f))))
    out = m.paired_margin(frame, "prediction", "other", block_months=3, n_samples=30, seed=7)

    def ic_diff(f: pd.DataFrame) -> float:
        return mean_ic(f.assign(prediction=f["other"])) - mean_ic(f)

    def mae_diff(f: pd.DataFrame) -> float:
        return float((f["other"] - f["target"]).abs().mean() - (f["prediction"] - f["target"]).abs().mean())

    for key, stat in (("rank_ic", ic_diff), ("mae", mae_diff)):
        boots = m.block_bootstrap(frame, stat, 3, 30, seed=7)
        assert out[key]["ci_low"] == pytest.approx(np.quantile(boots, 0.025))
        assert out[key]["ci_high"] == pytest.approx(np.quantile(boots, 0.975))
        assert out[key]["diff"] == pytest.approx(stat(frame))


def test_paired_margin_verdicts() -> None:
    frame = make_frame(n_dates=36, n_tickers=30, noise=1.0)
    frame["noise"] = np.random.default_rng(5).normal(size=len(frame))
    better = m.paired_margin(frame, "noise", "prediction", block_months=6, n_samples=200, seed=0)
    assert better["rank_ic"]["significant"] and better["mae"]["significant"]
    assert better["mae"]["diff"] < 0 < better["rank_ic"]["diff"]
    worse = m.paired_margin(frame, "prediction", "noise", block_months=6, n_samples=200, seed=0)
    assert worse["rank_ic"]["significant"] and worse["rank_ic"]["ci_high"] < 0
    same = m.paired_margin(frame, "prediction", "prediction", block_months=6, n_samples=50, seed=0)
    assert same["rank_ic"]["diff"] == 0.0
    assert not same["rank_ic"]["significant"] and not same["mae"]["significant"]


def test_verdict_names_the_winner_only_when_the_interval_excludes_zero() -> None:
    assert m.verdict("rank IC", 0.05, 0.01, 0.09, True, "{:+.3f}") == (
        "rank IC: B better (B − A = +0.050, 95% interval +0.010 to +0.090; significant)"
    )
    # lower is better for MAE: B's larger error makes A the winner; the difference stays B − A, signed
    assert m.verdict("MAE", 0.02, 0.01, 0.03, False, "{:+.3f}") == (
        "MAE: A better (B − A = +0.020, 95% interval +0.010 to +0.030; significant)"
    )
    assert m.verdict("MAE", -0.01, -0.03, 0.01, False, "{:+.3f}").startswith("MAE: no significant difference (B − A = -0.010")
    assert m.verdict("rank IC", float("nan"), 0.0, 0.1, True) == "rank IC: no verdict (undefined on these rows)"
    names = ("ridge", "the model")
    assert m.verdict("MAE", -0.0045, -0.0083, -0.0012, False, "{:+.4f}", names) == (
        "MAE: the model better (the model − ridge = -0.0045, 95% interval -0.0083 to -0.0012; significant)"
    )
    assert m.verdict("rank IC", None, None, None, True).endswith("no verdict (undefined on these rows)")


def test_the_detectable_margin_comes_from_the_spread_of_yearly_margins() -> None:
    """80% power at 5%: 2.80 standard errors of the mean of yearly margins (one year ~ one independent 1-year label)."""
    dates = pd.date_range("2010-01-31", periods=120, freq="ME")
    yearly = np.repeat([0.02, -0.01, 0.05, 0.00, 0.03, 0.01, -0.02, 0.04, 0.02, 0.00], 12)
    found = m.detectable_margin(pd.Series(yearly, index=dates))
    assert found == pytest.approx(2.8016 * np.std(yearly[::12], ddof=1) / np.sqrt(10))
    assert np.isnan(m.detectable_margin(pd.Series([0.1, 0.2], index=dates[:2])))  # one year: no spread to measure
    worded = m.verdict("rank IC", 0.01, -0.02, 0.04, True, "{:+.3f}", ("gbt", "the model"), found)
    assert worded.endswith(f"; these data detect a margin of {found:.3f} or more at 80% power)")
