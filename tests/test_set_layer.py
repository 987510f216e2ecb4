"""The cross-section layer (``train.cross_section_layers``): a stock attends to the other stocks of its
date and to nothing of another date, in training and in prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SMALL_PARAMS, run_train

from invest import predict
from invest.errors import ConfigError
from invest.modelling import checkpoint
from invest.modelling.inference import member_outputs
from invest.modelling.model import LSTMTransformerNetwork
from invest.modelling.set_layer import date_batches, date_chunks
from invest.modelling.stacked import StackedNetwork
from invest.params import from_dict

FEATURES, STATIC, STEPS = 5, 4, 6


def _network(seed: int, layers: int = 1, active: bool = True) -> LSTMTransformerNetwork:
    torch.manual_seed(seed)
    network = LSTMTransformerNetwork(FEATURES, STATIC, 8, 1, 1, 2, 0.1, 12, layers).eval()
    if active:  # a trained layer: a new one starts as the identity and would hide any leak
        with torch.no_grad():
            for parameter in network.cross.parameters():
                parameter.normal_(0.0, 0.5)
    return network


def _inputs(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    past = rng.normal(size=(rows, STEPS, FEATURES)).astype(np.float32)
    return past, rng.normal(size=(rows, STATIC)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=5),
    dropped=st.integers(0, 3),
    added=st.integers(0, 6),
)
def test_changing_another_dates_stocks_never_changes_a_dates_predictions(seed, sizes, dropped, added):
    """Other dates' stocks changed, some removed and new ones added: date 0's predictions stay (float tolerance
    1e-6: the passes' shapes differ), while changing one of date 0's own stocks moves the others."""
    rng = np.random.default_rng(seed)
    network = _network(seed)
    dates = np.repeat(np.arange(len(sizes)), sizes).astype("datetime64[D]")
    past, static = _inputs(rng, len(dates))
    mine = dates == dates[0]
    before, _ = member_outputs([network, network], past, static, dates=dates)

    others = np.flatnonzero(~mine)
    keep = np.sort(np.r_[np.flatnonzero(mine), rng.permutation(others)[dropped:]])
    new_past, new_static = _inputs(rng, added)
    new_dates = rng.integers(1, len(sizes) + 2, added).astype("datetime64[D]")
    changed_past = np.concatenate([past[keep] + 3.0 * ~mine[keep, None, None], new_past]).astype(np.float32)
    changed_static = np.concatenate([static[keep] - 2.0 * ~mine[keep, None], new_static]).astype(np.float32)
    after, _ = member_outputs([network, network], changed_past, changed_static, dates=np.concatenate([dates[keep], new_dates]))
    np.testing.assert_allclose(after[: mine.sum()], before[mine], rtol=0, atol=1e-6)

    if mine.sum() > 1:  # the layer is at work: a stock of the same date does move them
        moved_past = past.copy()
        moved_past[0] += 3.0
        moved, _ = member_outputs([network], moved_past, static, dates=dates)
        assert np.abs(moved[1 : mine.sum()] - before[1 : mine.sum(), :1]).max() > 1e-4


def test_in_training_each_members_batch_attends_only_within_its_own_dates():
    """Stacked members with their own batches ([M, B] codes): a member's rows of one date see only those rows."""
    rng = np.random.default_rng(0)
    stack = StackedNetwork.from_networks([_network(1), _network(2)]).eval()
    past, static = _inputs(rng, 20)
    codes = torch.as_tensor(rng.integers(0, 3, (2, 20)))
    out = stack(torch.as_tensor(past), torch.as_tensor(static), None, codes)
    changed = torch.as_tensor(past).clone()
    changed[codes[0] != 0] += 5.0  # member 0's rows of other dates (member 1 files them under other dates)
    again = stack(changed, torch.as_tensor(static), None, codes)
    mine = codes[0] == 0
    assert torch.allclose(again[0][mine], out[0][mine], atol=1e-6, rtol=0)
    theirs = (codes[1] == codes[1][mine][0]) & mine  # member 1: rows it dates with an unchanged row, changed ones among them
    assert not torch.allclose(again[1][theirs], out[1][theirs])


def test_a_new_layer_is_the_identity_and_leaves_the_other_weights_as_they_were():
    with_layer, without = _network(5, active=False), _network(5, layers=0)
    assert all(torch.equal(value, with_layer.state_dict()[key]) for key, value in without.state_dict().items())
    past, static = _inputs(np.random.default_rng(1), 9)
    codes = torch.as_tensor(np.arange(9) % 2)
    assert torch.equal(with_layer(torch.as_tensor(past), torch.as_tensor(static), codes),
                       without(torch.as_tensor(past), torch.as_tensor(static)))  # fmt: skip


def test_predictions_do_not_depend_on_the_order_of_the_rows():
    rng = np.random.default_rng(2)
    network = _network(3)
    past, static = _inputs(rng, 40)
    dates = rng.integers(0, 4, 40).astype("datetime64[D]")
    first, _ = member_outputs([network], past, static, dates=dates)
    order = rng.permutation(40)
    second, _ = member_outputs([network], past[order], static[order], dates=dates[order])
    np.testing.assert_allclose(second, first[order], rtol=0, atol=1e-6)


def test_without_dates_a_network_with_the_layer_refuses_to_guess():
    network = _network(4)
    past, static = _inputs(np.random.default_rng(3), 5)
    with pytest.raises(ValueError, match="date"):
        member_outputs([network], past, static)
    with pytest.raises(ValueError, match="date"):
        network(torch.as_tensor(past), torch.as_tensor(static))


@given(codes=st.lists(st.integers(0, 6), max_size=60), size=st.integers(1, 20))
def test_passes_hold_whole_dates_and_every_row_once(codes, size):
    codes = np.array(codes, dtype=np.int64)
    chunks = date_chunks(codes, size)
    assert sorted(np.concatenate(chunks).tolist() if chunks else []) == list(range(len(codes)))
    seen = [set(codes[chunk].tolist()) for chunk in chunks]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])
    largest = max(np.bincount(codes)) if len(codes) else 0
    assert all(len(chunk) <= max(size, largest) for chunk in chunks)


def test_a_model_with_the_layer_trains_saves_loads_and_predicts(tmp_path, small_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "cross_section_layers": 1}})
    model = run_train(params, small_store, tmp_path / "model.pt")
    loaded = checkpoint.load_model(model)
    assert loaded.checkpoint["model_config"]["cross_section_layers"] == 1
    assert all(network.cross[0].out_proj.weight.abs().sum() > 0 for network in loaded.networks)  # it learned
    frame = predict.main(params, small_store, model, tmp_path / "out.csv", echo=False)
    assert len(frame) > 0 and np.isfinite(frame["prediction"]).all()


@pytest.mark.parametrize("layers", [-1, 5, 1.5])
def test_the_number_of_layers_is_checked(layers):
    with pytest.raises(ConfigError, match="train.cross_section_layers"):
        from_dict({"train": {"cross_section_layers": layers}})


def test_a_prediction_never_depends_on_which_stocks_of_its_date_have_a_label():
    """Whether a stock still trades when its label ends is the future: every stock of a date is context."""
    rng = np.random.default_rng(4)
    network = _network(6)
    past, static = _inputs(rng, 60)
    dates = rng.integers(0, 5, 60).astype("datetime64[D]")
    everything, _ = member_outputs([network], past, static, dates=dates)
    labelled = np.flatnonzero(rng.random(60) < 0.7)  # the rest "delisted" before their label ended
    some, _ = member_outputs([network], past, static, dates=dates, rows=labelled)
    np.testing.assert_allclose(some, everything[labelled], rtol=0, atol=1e-6)


@given(codes=st.lists(st.integers(0, 8), min_size=1, max_size=80), size=st.integers(1, 30), seed=st.integers(0, 99))
def test_training_batches_hold_whole_dates_in_an_order_from_the_seed(codes, size, seed):
    codes = np.array(codes, dtype=np.int64)
    order, bounds = date_batches(codes, seed, 1, size)
    assert sorted(order.tolist()) == list(range(len(codes))) and bounds[0][0] == 0 and bounds[-1][1] == len(codes)
    batches = [set(codes[order[begin:end]].tolist()) for begin, end in bounds]
    assert all(not (a & b) for i, a in enumerate(batches) for b in batches[i + 1 :])  # no date split
    assert all(end - begin <= size or len(batch) == 1 for (begin, end), batch in zip(bounds, batches, strict=True))
    again, _ = date_batches(codes, seed, 1, size)
    assert np.array_equal(order, again)


def test_training_sees_every_stock_of_its_dates_but_learns_only_the_labelled(small_store, monkeypatch):
    from invest.data.panel import load_panel
    from invest.modelling import engine
    from invest.modelling.training import prepare

    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "cross_section_layers": 1, "epochs": 1}}).train
    data = prepare(load_panel(small_store), params)
    train = np.flatnonzero(data.masks["train"])
    data.target[train[::4]] = np.nan  # a quarter of the training rows lose their label (as if delisted)
    data.masks["train"][train[::4]] = False
    seen = {}

    def record(net, auxiliary, optimizer, streams, tensors, shards, params, config, bounds=None):
        seen.update(shards=shards, bounds=bounds, known=tensors["known"].numpy().copy())
        return np.zeros(len(shards))

    monkeypatch.setattr(engine, "_train_epoch", record)
    engine.fit_stack(data, params, [0, 1], torch.device("cpu"), verbose=False)
    rows = seen["shards"][0]
    assert np.array_equal(seen["shards"][1], rows)  # one order for every member
    assert sorted(rows.tolist()) == train.tolist()  # the unlabelled rows of training dates are in the batches
    assert (seen["known"][train[::4]] == 0).all() and (seen["known"][train[1::4]] == 1).all()
    dates = data.arrays.dates
    for begin, end in seen["bounds"]:  # each batch holds whole dates
        in_batch = set(dates[rows[begin:end]].tolist())
        assert sum(d in in_batch for d in dates[train].tolist()) == end - begin
