import json

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import SMALL_PARAMS, run_train

from invest.data import features
from invest.data.panel import load_panel
from invest.errors import DataError, DeviceError
from invest.modelling import checkpoint, training
from invest.modelling.device import resolve_device
from invest.modelling.splits import Split
from invest.params import from_dict


@pytest.fixture
def trained(tmp_path, small_store, small_params, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_train(small_params, small_store, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "live")
    return tmp_path


def test_two_epoch_training_writes_a_self_describing_checkpoint(trained, small_store):
    loaded = checkpoint.load_model(trained / "model.pt")
    ckpt = loaded.checkpoint
    panel = load_panel(small_store)
    assert ckpt["static_features"] == panel.static_features
    assert ckpt["temporal_features"] == [*panel.temporal_features, features.STEP_MASK]
    assert ckpt["target"] == {
        "horizon": "1y", "kind": "excess", "column": "fwd_exc_1y", "seq_len": 6, "feature_norm": "robust", "label_transform": "none",
    }  # fmt: skip
    assert ckpt["metadata"]["samples"]["train"] > 0
    assert len(loaded.networks) == 2 and not any(network.training for network in loaded.networks)
    summary = json.loads((trained / "train.json").read_text())
    assert 1 <= summary["best_epoch"] <= 2 and summary["ensemble_size"] == 2 and len(summary["members_best_epoch"]) == 2
    curves = (trained / "live" / "plots" / "metrics" / "val_loss.tsv").read_text().splitlines()
    assert curves[0].split("\t") == ["step", "val_loss"] and len(curves) == 3


def test_same_seed_same_weights_and_mixed_precision_is_cuda_only(tmp_path, small_store, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, mixed in (("a", False), ("b", True)):
        params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "device": "cpu", "mixed_precision": mixed}})
        run_train(params, small_store, tmp_path / f"{name}.pt", tmp_path / f"{name}.json", tmp_path / f"live_{name}")
        said = capsys.readouterr().err
        assert ("mixed_precision applies on CUDA only; training in float32 on cpu" in said) == mixed
    a, b = (checkpoint.load(tmp_path / f"{n}.pt")["state_dicts"][0] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_members_trained_in_parallel_processes_are_the_members_of_one_process(tmp_path, small_store, monkeypatch):
    """train.n_jobs splits the ensemble into chunks of members, one process each: the same networks, the same curves."""
    monkeypatch.chdir(tmp_path)
    for jobs in (1, 2):
        params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "ensemble_size": 3, "n_jobs": jobs}})
        run_train(params, small_store, tmp_path / f"j{jobs}.pt", tmp_path / f"j{jobs}.json", tmp_path / f"live{jobs}")
    one, two = (checkpoint.load(tmp_path / f"j{jobs}.pt")["state_dicts"] for jobs in (1, 2))
    assert len(one) == len(two) == 3
    assert all(torch.equal(a[key], b[key]) for a, b in zip(one, two, strict=True) for key in a)
    curve = "live{}/plots/metrics/val_loss.tsv"
    assert (tmp_path / curve.format(1)).read_text() == (tmp_path / curve.format(2)).read_text()
    assert json.loads((tmp_path / "j1.json").read_text()) == json.loads((tmp_path / "j2.json").read_text())


def test_split_has_an_embargo_at_least_the_horizon(small_store, small_params):
    prepared = training.prepare(load_panel(small_store), small_params.train)
    dates = pd.DatetimeIndex(prepared.arrays.dates)
    last_train = dates[prepared.masks["train"]].max()
    first_val = dates[prepared.masks["val"]].min()
    last_val = dates[prepared.masks["val"]].max()
    first_test = dates[prepared.masks["test"]].min()
    assert last_train + pd.DateOffset(months=12) < first_val
    assert last_val + pd.DateOffset(months=12) < first_test


def test_scaler_is_fitted_on_training_rows_only(small_store, small_params):
    panel = load_panel(small_store)
    prepared = training.prepare(panel, small_params.train)
    later = panel.snapshots["date"] > prepared.split.train_end
    panel.snapshots.loc[later, panel.static_features] *= 1000.0  # wreck everything after the training block
    again = training.prepare(panel, small_params.train)
    np.testing.assert_array_equal(prepared.scaler.static_center, again.scaler.static_center)
    np.testing.assert_array_equal(prepared.scaler.static_scale, again.scaler.static_scale)


def test_shuffled_labels_touch_only_train_and_validation(small_store):
    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "control": "shuffled_labels"}}).train
    panel = load_panel(small_store)
    plain = training.prepare(panel, from_dict(SMALL_PARAMS).train)
    shuffled = training.prepare(panel, params)
    test = plain.masks["test"]
    np.testing.assert_array_equal(plain.arrays.target[test], shuffled.arrays.target[test])
    fit_rows = plain.masks["train"] | plain.masks["val"]
    assert not np.array_equal(plain.arrays.target[fit_rows], shuffled.arrays.target[fit_rows])


def test_a_split_without_rows_is_a_clear_error(small_store):
    params = from_dict(
        {**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "train_end": "2001-01-01", "val_end": "2002-01-01"}}
    ).train
    with pytest.raises(DataError, match="adjust train.train_end"):
        training.prepare(load_panel(small_store), params)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no usable CUDA GPU"):
            resolve_device("cuda")


def test_split_from_dates():
    split = Split.from_dates("2015-12-31", "2018-12-31", 12)
    assert split.val_start == pd.Timestamp("2016-12-31")
    assert split.test_start == pd.Timestamp("2019-12-31")


def test_price_only_data_trains_predicts_and_records_what_was_left_out(tmp_path, small_tables, small_params):
    import warnings

    from tests.conftest import write_raw
    from tests.test_cache import PRICE_FEATURES, price_only

    from invest import cache, predict

    write_raw(tmp_path / "raw", price_only(small_tables))
    db = tmp_path / "store.db"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's All-NaN and friends must not reach the user
        cache.main(small_params, raw_dir=tmp_path / "raw", db_path=db)
        run_train(small_params, db, tmp_path / "model.pt")
        frame = predict.main(small_params, db, tmp_path / "model.pt", None, echo=False)
    ckpt = checkpoint.load(tmp_path / "model.pt")
    assert ckpt["temporal_features"] == [*PRICE_FEATURES, features.STEP_MASK]
    assert ckpt["static_features"] == ["market_ret_12m", "market_vol_3m"]
    assert ckpt["metadata"]["features_left_out"]["volume_trend"] == "prices.volume"
    assert frame["prediction"].notna().all() and frame["confidence"].between(0, 1).all()
