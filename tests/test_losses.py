"""The rank-correlation term (``train.ic_loss_weight``): what it measures, that it compares only rows of
one date, that batches hold whole dates, and that the engine trains with it as it does without."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from invest.errors import ConfigError
from invest.modelling.engine import epoch_order
from invest.modelling.losses import DateRanks, rank_loss
from invest.modelling.ranking import mean_rank_ic
from invest.params import from_dict

CPU = torch.device("cpu")


def _loss(prediction, ranks, codes, n_dates):
    return rank_loss(
        torch.as_tensor(np.atleast_2d(prediction), dtype=torch.float64),
        torch.as_tensor(np.atleast_2d(ranks), dtype=torch.float64),
        torch.as_tensor(np.atleast_2d(codes), dtype=torch.int64),
        n_dates,
    )


def test_an_increasing_line_in_the_rank_costs_nothing_and_a_reversed_one_costs_two():
    ranks = np.linspace(-0.5, 0.5, 8)
    codes = np.zeros(8, dtype=int)
    assert _loss(3 * ranks + 1, ranks, codes, 1).item() == pytest.approx(0.0, abs=1e-6)
    assert _loss(-2 * ranks, ranks, codes, 1).item() == pytest.approx(2.0, abs=1e-6)


def test_a_date_with_too_few_rows_adds_nothing():
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    ranks = np.array([-0.3, -0.1, 0.1, 0.3, -0.4, -0.2, 0.0, 0.1, 0.2, 0.4])
    prediction = np.where(codes == 0, -ranks, ranks)  # date 0 (4 rows) reversed, date 1 perfect
    assert _loss(prediction, ranks, codes, 2).item() == pytest.approx(0.0, abs=1e-6)
    assert _loss(prediction[:4], ranks[:4], codes[:4], 2).item() == 0.0  # no usable date: no term


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 5), st.integers(2, 3))
def test_the_term_is_the_row_weighted_mean_of_each_dates_own_correlation(seed, n_dates, members):
    """Computed from each date alone with numpy: another date's rows never enter a date's correlation."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(5 * n_dates, 12 * n_dates))
    codes = rng.integers(0, n_dates, size=(members, rows))
    prediction, ranks = rng.normal(size=(members, rows)), rng.uniform(-0.5, 0.5, size=(members, rows))
    got = _loss(prediction, ranks, codes, n_dates).numpy()
    for m in range(members):
        correlations, weights = [], []
        for date in range(n_dates):
            on = codes[m] == date
            if on.sum() >= 5:
                correlations.append(np.corrcoef(prediction[m, on], ranks[m, on])[0, 1])
                weights.append(on.sum())
        expected = 1 - np.average(correlations, weights=weights) if weights else 0.0
        assert got[m] == pytest.approx(expected, abs=1e-6)


def test_date_ranks_come_from_training_rows_of_the_same_date_only():
    dates = np.array(["2010-01-31"] * 4 + ["2010-02-28"] * 3, dtype="datetime64[ns]")
    target = np.array([0.3, -0.1, 0.2, 9.0, 0.5, 0.1, np.nan])
    train = np.array([True, True, True, False, True, True, False])
    ranks = DateRanks.of(dates, target, train)
    assert ranks.n_dates == 2 and ranks.codes.tolist() == [0, 0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(ranks.ranks, [1 / 3, -1 / 3, 0.0, 0.0, 0.25, -0.25, 0.0], atol=1e-7)


def test_batches_hold_whole_dates_in_an_order_drawn_from_the_seed():
    groups = np.repeat(np.arange(7), [5, 9, 3, 12, 6, 8, 4])
    order = epoch_order(len(groups), 42, 3, groups)
    assert sorted(order.tolist()) == list(range(len(groups)))
    runs = np.flatnonzero(np.diff(groups[order])) + 1  # where the date changes along the order
    assert len(runs) == 6  # each date is one contiguous run
    assert epoch_order(len(groups), 42, 3, groups).tolist() == order.tolist()
    assert epoch_order(len(groups), 42, 4, groups).tolist() != order.tolist()
    assert epoch_order(len(groups), 43, 3, groups).tolist() != order.tolist()


@pytest.mark.parametrize("world", [2, 3])
def test_under_torchrun_each_rank_takes_whole_dates_and_the_same_number_of_rows(monkeypatch, world):
    from invest.modelling import distributed

    groups = np.repeat(np.arange(9), [5, 9, 3, 12, 6, 8, 4, 7, 10])
    monkeypatch.setattr(distributed, "world_size", lambda: world)
    shares = []
    for rank in range(world):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        shares.append(epoch_order(len(groups), 42, 3, groups))
    assert len({len(share) for share in shares}) == 1  # every rank runs the same number of steps
    assert set(np.concatenate(shares).tolist()) == set(range(len(groups)))  # every row is trained on
    dates = [set(groups[share].tolist()) for share in shares]
    assert all(not (dates[a] & dates[b]) for a in range(world) for b in range(a + 1, world))  # a date on one rank only


def test_gradient_steps_on_the_term_alone_raise_the_dates_rank_correlation():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(4), 25)
    label = rng.normal(size=100)
    x = torch.as_tensor(np.column_stack([label + rng.normal(scale=2.0, size=100), rng.normal(size=100)]), dtype=torch.float64)
    ranks = DateRanks.of(codes.astype("datetime64[D]"), label, np.ones(100, bool))
    weights = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        weights[1] = 1.0  # starts on the noise feature
    optimizer = torch.optim.SGD([weights], lr=0.5)
    before = mean_rank_ic((x @ weights).detach().numpy(), label, codes)
    for _ in range(50):
        optimizer.zero_grad()
        loss = rank_loss((x @ weights).unsqueeze(0), torch.as_tensor(ranks.ranks, dtype=torch.float64).unsqueeze(0),
                         torch.as_tensor(ranks.codes).unsqueeze(0), ranks.n_dates)  # fmt: skip
        loss.sum().backward()
        optimizer.step()
    after = mean_rank_ic((x @ weights).detach().numpy(), label, codes)
    assert after > before + 0.2


def test_the_weight_is_checked():
    with pytest.raises(ConfigError, match="train.ic_loss_weight"):
        from_dict({"train": {"ic_loss_weight": -1}})
