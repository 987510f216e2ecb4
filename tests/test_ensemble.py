"""An ensemble is the model: the checkpoint holds every member, and inference combines them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import SMALL_PARAMS, run_train

from invest.data.panel import load_panel
from invest.modelling import checkpoint
from invest.modelling.dataset import arrays_for
from invest.modelling.inference import predict
from invest.params import from_dict


@pytest.fixture(scope="module")
def three(tmp_path_factory, small_store):
    path = tmp_path_factory.mktemp("ensemble") / "model.pt"
    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "ensemble_size": 3}})
    run_train(params, small_store, path)
    return path


def test_the_checkpoint_round_trips_every_member(three, small_store):
    saved = checkpoint.load(three)
    assert saved["format_version"] == 2 and len(saved["state_dicts"]) == 3
    loaded = checkpoint.load_model(three)
    assert len(loaded.networks) == 3
    for network, weights in zip(loaded.networks, saved["state_dicts"], strict=True):
        assert all(torch.equal(network.state_dict()[key], value) for key, value in weights.items())
    first, second = (saved["state_dicts"][i]["head.5.weight"] for i in (0, 1))
    assert not torch.equal(first, second)  # seeds seed and seed + 1: different networks


def test_the_prediction_is_the_members_mean_and_its_scale_adds_their_spread(three, small_store):
    loaded = checkpoint.load_model(three)
    arrays = arrays_for(load_panel(small_store), loaded.checkpoint["target"])
    out = predict(loaded, arrays, mc_samples=8, seed=1)
    np.testing.assert_allclose(out["prediction"], out["members"].mean(axis=1), rtol=1e-6)
    alone = [
        predict(checkpoint.LoadedModel([network], loaded.scaler, loaded.checkpoint), arrays, 8, 1 + i)
        for i, network in enumerate(loaded.networks)
    ]
    within = np.mean([member["mc_std"] ** 2 for member in alone], axis=0)
    np.testing.assert_allclose(out["mc_std"] ** 2, out["members"].var(axis=1) + within, rtol=1e-5)


def test_a_format_1_checkpoint_still_loads_as_an_ensemble_of_one(three, tmp_path, small_store):
    old = checkpoint.load(three)
    old["format_version"] = 1
    old["state_dict"] = old.pop("state_dicts")[0]
    checkpoint.save(tmp_path / "old.pt", old)
    loaded = checkpoint.load_model(tmp_path / "old.pt")
    assert len(loaded.networks) == 1
    arrays = arrays_for(load_panel(small_store), loaded.checkpoint["target"])
    member_0 = predict(checkpoint.load_model(three), arrays)["members"][:, 0]
    np.testing.assert_array_equal(predict(loaded, arrays)["prediction"], member_0)
