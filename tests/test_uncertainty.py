import numpy as np
import pandas as pd
import pytest

from invest import uncertainty


def _heteroscedastic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.05, 0.6, n)
    prediction = rng.normal(0, 0.1, n)
    target = prediction + sigma * rng.standard_normal(n)
    return prediction, sigma, target


def test_calibrated_intervals_cover_what_they_claim_where_raw_dropout_does_not():
    """Known answer: y = ŷ + σ·N(0,1); dropout reports σ/3 (too confident), as MC dropout typically does."""
    prediction, sigma, target = _heteroscedastic(20_000, 1)
    calibration = uncertainty.calibrate(target[:10_000], prediction[:10_000], sigma[:10_000] / 3, [0.8, 0.95])
    assert calibration["quantiles"]["0.8"] == pytest.approx(3 * 1.2816, rel=0.05)
    assert calibration["quantiles"]["0.95"] == pytest.approx(3 * 1.96, rel=0.05)
    bounds = uncertainty.interval_frame(prediction[10_000:], sigma[10_000:] / 3, calibration)
    y = target[10_000:]
    for label, nominal in (("80", 0.8), ("95", 0.95)):
        covered = ((y >= bounds[f"lower_{label}"]) & (y <= bounds[f"upper_{label}"])).mean()
        raw = ((y >= bounds[f"mc_lower_{label}"]) & (y <= bounds[f"mc_upper_{label}"])).mean()
        assert covered == pytest.approx(nominal, abs=0.02)
        assert raw < nominal - 0.3


def test_scale_floor_keeps_intervals_open():
    prediction, sigma, target = _heteroscedastic(2_000, 2)
    sigma[:100] = 0.0
    calibration = uncertainty.calibrate(target, prediction, sigma, [0.8])
    bounds = uncertainty.interval_frame(prediction, sigma, calibration)
    assert (bounds["upper_80"] - bounds["lower_80"] > 0).all()


def test_confidence_orders_errors_when_noise_follows_volatility():
    rng = np.random.default_rng(3)
    dates = np.repeat(pd.date_range("2020-01-31", periods=24, freq="ME"), 50)
    vol = rng.uniform(0.1, 0.8, len(dates))
    prediction = rng.normal(0, 0.05, len(dates))
    frame = pd.DataFrame(
        {
            "date": dates,
            "prediction": prediction,
            "model": prediction,
            "target": prediction + vol * rng.standard_normal(len(dates)),
            "vol_3m": vol,
            "log_market_cap": rng.normal(23, 1, len(dates)),
            "missing_share": 0.0,
            "clipped_share": 0.0,
            "lower_95": prediction - 2 * vol,
            "upper_95": prediction + 2 * vol,
            "lower_80": prediction - 1.3 * vol,
            "upper_80": prediction + 1.3 * vol,
            "mc_lower_80": prediction - 0.3 * vol,
            "mc_upper_80": prediction + 0.3 * vol,
            "mc_lower_95": prediction - 0.5 * vol,
            "mc_upper_95": prediction + 0.5 * vol,
        }
    )
    frame["confidence"] = uncertainty.confidence(frame, 0.95)
    assert frame["confidence"].between(0, 1).all()
    summary = uncertainty.summary(frame, [0.8, 0.95])
    maes = [summary[f"confidence_q{k}_mae"] for k in range(1, 6)]
    assert maes == sorted(maes, reverse=True)
    assert summary["confidence_mae_order"] == pytest.approx(-1.0)
    assert summary["mc_interval_95_coverage"] < summary["interval_95_coverage"]
    assert {"vol1_interval_80_coverage", "y2021_interval_95_coverage"} <= set(summary)


def test_weights_sum_to_one():
    assert sum(uncertainty.CONFIDENCE_WEIGHTS.values()) == pytest.approx(1.0)
