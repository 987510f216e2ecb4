"""Multi-horizon learning (``train.aux_horizons``): shorter horizons' labels train extra heads beside the
label's; the checkpoint is the label's network alone and loads and predicts as any other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import SMALL_PARAMS, run_train

from invest import predict
from invest.data.features import label_column
from invest.data.panel import load_panel
from invest.errors import ConfigError
from invest.modelling import checkpoint
from invest.modelling.dataset import load_arrays
from invest.modelling.engine import fit_stack
from invest.modelling.losses import AuxiliaryHeads
from invest.modelling.training import configure_runtime, prepare
from invest.params import from_dict

CPU = torch.device("cpu")
AUX = ["1m", "3m", "6m"]


def _params(**train):
    return from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], **train}})


@pytest.mark.parametrize("horizons", [["1y"], ["2y"], ["3m", "3m"], ["5m"]])
def test_only_distinct_horizons_shorter_than_the_label_are_accepted(horizons):
    """A label longer than the embargo (the label's horizon) would reach into the validation and test blocks."""
    with pytest.raises(ConfigError, match="train.aux_horizons"):
        _params(aux_horizons=horizons)
    assert _params(aux_horizons=AUX).train.aux_horizons == AUX


def test_the_auxiliary_labels_are_the_stores_columns_at_those_horizons(small_store):
    panel = load_panel(small_store)
    arrays = load_arrays(panel, _params(aux_horizons=["1m", "6m"]).train)
    for k, horizon in enumerate(["1m", "6m"]):
        np.testing.assert_array_equal(arrays.auxiliary[:, k], panel.snapshots[label_column(horizon, "excess")].to_numpy(float))
    assert load_arrays(panel, _params().train).auxiliary is None


def test_shuffled_labels_move_a_rows_auxiliary_labels_with_its_label(small_store):
    params = _params(aux_horizons=AUX, control="shuffled_labels").train
    plain, shuffled = prepare(load_panel(small_store), _params(aux_horizons=AUX).train), prepare(load_panel(small_store), params)
    rows = np.flatnonzero(plain.masks["train"] | plain.masks["val"])
    pairs = {tuple(np.round(plain.arrays.auxiliary[r], 12)): plain.arrays.target[r] for r in rows}
    moved = [pairs.get(tuple(np.round(shuffled.arrays.auxiliary[r], 12))) for r in rows]
    assert np.allclose(moved, shuffled.arrays.target[rows], equal_nan=True)  # each label kept its own row's companions
    assert not np.allclose(shuffled.arrays.target[rows], plain.arrays.target[rows], equal_nan=True)


def test_unknown_auxiliary_labels_add_nothing_to_the_loss():
    heads = AuxiliaryHeads([1, 2], hidden=4, outputs=2, device=CPU)
    hidden = torch.randn(2, 6, 4)
    target = torch.randn(10, 2)
    known = torch.ones(10, 2)
    known[3, 1] = 0.0
    index = torch.tensor([[0, 1, 2, 3, 4, 5], [4, 5, 6, 7, 8, 9]])
    tensors = {"aux": target, "aux_known": known}
    got = heads.loss(hidden, tensors, index, delta=1.0)
    output = heads(hidden)
    for m in range(2):
        rows = index[m]
        errors = torch.nn.functional.huber_loss(output[m], target[rows], reduction="none")[known[rows] > 0]
        assert got[m].item() == pytest.approx(errors.mean().item(), rel=1e-6)
    tensors["aux"] = target.clone()
    tensors["aux"][3, 1] = 1e6  # an unknown label's value never matters
    assert torch.equal(heads.loss(hidden, tensors, index, delta=1.0), got)


@pytest.fixture(scope="module")
def auxiliary(small_store):
    params = _params(aux_horizons=AUX, epochs=3, patience=1).train
    configure_runtime(params.num_threads)
    return prepare(load_panel(small_store), params), params


def test_a_multi_horizon_checkpoint_loads_and_predicts(tmp_path, small_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params(aux_horizons=AUX, epochs=2)
    model = run_train(params, small_store, tmp_path / "model.pt")
    loaded = checkpoint.load_model(model)
    assert loaded.checkpoint["target"]["horizon"] == "1y"
    assert all(not any("aux" in key for key in network.state_dict()) for network in loaded.networks)
    frame = predict.main(params, small_store, model, tmp_path / "out.csv", echo=False)
    assert len(frame) > 0 and np.isfinite(frame["prediction"]).all()


def test_from_a_warm_start_the_auxiliary_heads_begin_at_zero(auxiliary):
    """Random heads on a trained network would send large, meaningless gradients into it at once."""
    heads = AuxiliaryHeads([1, 2], hidden=8, outputs=3, device=CPU, zero=True)
    assert not heads.weight.any() and not heads.bias.any()
    data, params = auxiliary
    trained, _ = fit_stack(data, params, [0], CPU, verbose=False)
    again, summaries = fit_stack(data, params, [0], CPU, verbose=False, start=[trained[0].state_dict()])
    assert summaries[0]["epochs_run"] >= 1
