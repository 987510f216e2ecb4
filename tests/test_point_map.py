"""``train.point_map: median``: the point forecast mapped to returns by the line with the smallest MAE on
the validation block; the ranking is kept, so rank IC does not move."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SMALL_PARAMS, run_train

from invest.data.panel import load_panel
from invest.errors import ConfigError
from invest.modelling import checkpoint
from invest.modelling.cross_section import map_by_median, map_to_returns
from invest.modelling.inference import predict
from invest.modelling.training import prepare
from invest.params import from_dict


def _mae(mapping: dict, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(y - mapping["intercept"] - mapping["slope"] * x).mean())


def test_it_recovers_a_line_under_heavy_tailed_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = 0.5 + 2.0 * x + rng.standard_t(1.5, size=x.size)  # outliers that pull an OLS line about
    fitted = map_by_median(x, y)
    assert fitted["slope"] == pytest.approx(2.0, abs=0.05) and fitted["intercept"] == pytest.approx(0.5, abs=0.05)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), strength=st.floats(-1.0, 1.0), n=st.integers(20, 400))
def test_its_mae_is_no_worse_than_the_ols_line_the_median_or_the_raw_scores(seed, strength, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 0.1
    y = strength * x + rng.laplace(size=n) * 0.2 - 0.03
    fitted = map_by_median(x, y)
    assert fitted["slope"] > 0  # never reverses the ranking
    best = _mae(fitted, x, y) - 1e-6
    assert best <= _mae({"intercept": float(np.median(y)), "slope": 1e-6}, x, y)
    assert best <= _mae(map_to_returns(x, y), x, y) or map_to_returns(x, y)["slope"] > 10 * np.std(y) / np.std(x)
    assert best <= _mae({"intercept": 0.0, "slope": 1.0}, x, y)


def test_unlabelled_rows_and_constant_scores_are_handled():
    assert map_by_median(np.ones(5), np.arange(5.0)) == {"intercept": 2.0, "slope": 1e-6}
    x, y = np.array([0.0, 1.0, np.nan, 2.0]), np.array([0.0, np.nan, 5.0, 2.0])
    assert map_by_median(x, y)["slope"] == pytest.approx(1.0, abs=1e-3)


def test_a_model_with_the_median_map_lowers_its_validation_mae(tmp_path, small_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = from_dict(SMALL_PARAMS)  # the default
    loaded = checkpoint.load_model(run_train(params, small_store, tmp_path / "model.pt"))
    mapping = loaded.label_map
    assert mapping is not None and mapping["slope"] > 0
    prepared = prepare(load_panel(small_store), params.train)
    validation = prepared.arrays.subset(prepared.masks["val"])
    mapped = predict(loaded, validation)["prediction"]
    raw = (mapped - mapping["intercept"]) / mapping["slope"]  # the network's own output (slope > 0: same ranking)
    known = np.isfinite(validation.target)
    assert np.abs(validation.target - mapped)[known].mean() <= np.abs(validation.target - raw)[known].mean() + 1e-9


def test_without_the_map_a_network_that_learns_returns_predicts_them_as_they_are(tmp_path, small_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "point_map": "none"}})
    assert checkpoint.load_model(run_train(params, small_store, tmp_path / "model.pt")).label_map is None


def test_an_unknown_point_map_is_one_clear_error():
    with pytest.raises(ConfigError, match="train.point_map"):
        from_dict({"train": {"point_map": "mean"}})


def test_a_map_with_a_tiny_slope_keeps_every_ranking():
    """A network with little validated skill gets a slope near the floor: its ranking must not round into ties."""
    from types import SimpleNamespace

    from invest.modelling.inference import combine

    points = np.random.default_rng(1).normal(size=(500, 2)).astype(np.float32) * 0.1
    scaler = SimpleNamespace(unscale_target=lambda scaled: scaled * 0.3 + 0.01, target_scale=0.3)
    loaded = SimpleNamespace(scaler=scaler, label_map={"intercept": 0.05, "slope": 1e-6})
    mapped = combine(points, None, loaded)["prediction"]
    raw = points.astype(np.float64).mean(axis=1)
    assert len(np.unique(mapped)) == len(np.unique(raw))
    assert np.array_equal(np.argsort(mapped, kind="stable"), np.argsort(raw, kind="stable"))
