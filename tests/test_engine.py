"""The training engine: members stacked in one network train exactly as they would alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from invest.data.panel import load_panel
from invest.modelling.engine import MemberRun, StackAdamW, _judge, clip_per_member, epoch_order, fit_stack
from invest.modelling.ensemble import perturbation_seed, shrink_and_perturb
from invest.modelling.inference import member_outputs
from invest.modelling.model import LSTMTransformerNetwork, ModelConfig
from invest.modelling.stacked import DropoutStreams, StackedNetwork, mask_shapes
from invest.modelling.training import configure_runtime, prepare

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def prepared(small_store):
    from tests.conftest import SMALL_PARAMS

    from invest.params import from_dict

    params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "epochs": 5, "patience": 1}}).train
    configure_runtime(params.num_threads)  # one thread: with more, a kernel's split of the work depends on the stack's size
    return prepare(load_panel(small_store), params), params


def _same(a: LSTMTransformerNetwork, b: LSTMTransformerNetwork) -> bool:
    return all(torch.equal(value, b.state_dict()[key]) for key, value in a.state_dict().items())


def test_a_member_trained_in_a_stack_ends_bit_for_bit_as_it_would_alone(prepared):
    """Its own initialisation, batch order, dropout stream and early stopping: the other members change nothing."""
    data, params = prepared
    stacked, stacked_summaries = fit_stack(data, params, [0, 1, 2], CPU, verbose=False)
    for member in (0, 2):
        alone, summaries = fit_stack(data, params, [member], CPU, verbose=False)
        assert _same(stacked[member], alone[0])
        assert stacked_summaries[member]["history"] == summaries[0]["history"]
    pair, _ = fit_stack(data, params, [1, 2], CPU, verbose=False)  # any split of the members into jobs
    assert _same(pair[0], stacked[1]) and _same(pair[1], stacked[2])


@pytest.mark.parametrize(
    "option",
    [{"ic_loss_weight": 1.0}, {"aux_horizons": ["1m", "3m", "6m"]}, {"cross_section_layers": 1}],
    ids=["rank term", "auxiliary heads", "cross-section layer"],
)
def test_with_each_model_option_a_stacked_member_still_ends_bit_for_bit_as_alone(small_store, option):
    """The rank term, the auxiliary heads and the cross-section layer act on each member alone too; each
    changes what a member learns."""
    from tests.conftest import SMALL_PARAMS

    from invest.params import from_dict

    def prepared_with(**change):
        params = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "epochs": 3, "patience": 1, **change}}).train
        return prepare(load_panel(small_store), params), params

    data, params = prepared_with(**option)
    configure_runtime(params.num_threads)
    stacked, stacked_summaries = fit_stack(data, params, [0, 1], CPU, verbose=False)
    alone, summaries = fit_stack(data, params, [1], CPU, verbose=False)
    assert _same(stacked[1], alone[0]) and stacked_summaries[1]["history"] == summaries[0]["history"]
    plain, plain_params = prepared_with()
    without, _ = fit_stack(plain, plain_params, [1], CPU, verbose=False)
    assert not _same(without[0], alone[0])


def test_each_member_stops_on_its_own_and_keeps_its_best_epoch(prepared):
    data, params = prepared
    networks, summaries = fit_stack(data, params, [0, 1, 2, 3], CPU, verbose=False)
    for summary in summaries:  # patience 1: one epoch past the best, or the last epoch
        assert summary["epochs_run"] == min(summary["best_epoch"] + params.patience, params.epochs)
    for member, (network, summary) in enumerate(zip(networks, summaries, strict=True)):
        # the same member trained only up to its best epoch ends with the weights it kept
        short = dataclasses.replace(params, epochs=summary["best_epoch"], patience=99)
        again, _ = fit_stack(data, short, [member], CPU, verbose=False)
        assert _same(network, again[0])


def test_a_stopped_member_keeps_its_best_while_the_others_go_on():
    runs = [MemberRun(0, 10), MemberRun(1, 11)]
    net = StackedNetwork.initialised(ModelConfig(3, 2, 4, 1, 1, 2, 0.0, 12), [10, 11])
    params = type("P", (), {"select_by": "loss", "patience": 2, "epochs": 30})()
    losses = {1: (0.50, 0.50), 2: (0.40, 0.55), 3: (0.30, 0.56), 4: (0.20, 0.57)}
    for epoch, loss in losses.items():
        active = [run for run in runs if not run.stopped]
        scores = {"val_loss": np.array([loss[r.member] for r in active]), "val_rank_ic": np.zeros(len(active))}
        _judge(active, net, scores, epoch, params, np.zeros(len(active)))
    assert runs[1].stopped and runs[1].epoch == 1 and not runs[0].stopped and runs[0].epoch == 4


def test_a_warm_start_is_epoch_0_and_stays_when_no_epoch_beats_it(prepared):
    data, params = prepared
    trained, summaries = fit_stack(data, params, [0], CPU, verbose=False)
    start = [trained[0].state_dict()]
    again, warm = fit_stack(data, params, [0], CPU, verbose=False, start=start)
    assert warm[0]["best_epoch"] >= 0
    if warm[0]["best_epoch"] == 0:
        assert _same(again[0], trained[0])
    assert warm[0]["epochs_run"] == min(warm[0]["best_epoch"] + params.patience, params.epochs)


def test_a_warm_start_is_shrunk_toward_a_fresh_draw_of_each_members_own(prepared):
    """evaluate.warm_start_shrink: keep x the trained weights + (1 - keep) x a new initialisation, per member,
    the same draw every time; keep 1 leaves the weights as they are."""
    data, params = prepared
    trained, _ = fit_stack(data, params, [0, 1], CPU, verbose=False)
    states = [network.state_dict() for network in trained]
    config = trained[0].config
    seeds = [params.seed, params.seed + 1]
    assert shrink_and_perturb(states, config, seeds, 1.0) is states
    shrunk = shrink_and_perturb(states, config, seeds, 0.25)
    assert all(
        torch.equal(a[k], b[k]) for a, b in zip(shrunk, shrink_and_perturb(states, config, seeds, 0.25), strict=True) for k in a
    )
    for m, seed in enumerate(seeds):
        torch.manual_seed(perturbation_seed(seed))
        fresh = LSTMTransformerNetwork.from_config(config).state_dict()
        first = StackedNetwork.initialised(config, [seed]).member_state(0)
        for name, value in states[m].items():
            torch.testing.assert_close(shrunk[m][name], 0.25 * value + 0.75 * fresh[name], rtol=0, atol=1e-6)
        assert not torch.equal(fresh["lstm.weight_ih_l0"], first["lstm.weight_ih_l0"])  # not its first initialisation


@pytest.mark.parametrize(("lstm_layers", "transformer_layers"), [(1, 1), (2, 2), (1, 0)])
def test_the_stack_computes_what_each_network_computes(lstm_layers, transformer_layers):
    config = ModelConfig(5, 4, 8, lstm_layers, transformer_layers, 2, 0.2, 12)
    stack = StackedNetwork.initialised(config, [1, 2, 3]).eval()
    past, static = torch.randn(3, 40, 7, 5), torch.randn(3, 40, 4)
    with torch.no_grad():
        together = stack(past, static)
        for member in range(3):
            alone = stack.member_network(member)(past[member], static[member])
            torch.testing.assert_close(together[member], alone, rtol=1e-5, atol=1e-6)
    torch.manual_seed(2)
    assert all(
        torch.equal(v, stack.member_state(1)[k]) for k, v in LSTMTransformerNetwork.from_config(config).state_dict().items()
    )


def test_stacked_adamw_moves_each_member_as_torch_adamw_does():
    torch.manual_seed(0)
    weight = torch.randn(3, 4, 5, requires_grad=True)
    reference = [torch.nn.Parameter(weight[m].detach().clone()) for m in range(3)]
    stacked = StackAdamW([weight], lr=0.01, weight_decay=0.1)
    alone = [torch.optim.AdamW([p], lr=0.01, weight_decay=0.1) for p in reference]
    for _ in range(5):
        grad = torch.randn(3, 4, 5)
        weight.grad = grad.clone()
        stacked.step()
        for m in range(3):
            reference[m].grad = grad[m].clone()
            alone[m].step()
    for m in range(3):
        torch.testing.assert_close(weight[m].detach(), reference[m].detach(), rtol=0, atol=1e-7)


@pytest.mark.parametrize("seed", range(20))
def test_an_active_gradient_clip_scales_a_member_as_it_would_alone(seed):
    """The clip's norm is each member's own reduction: the same bits in a stack of any size (a sum over
    the rows of a [5, n] tensor rounds differently from the sum of one row, for some gradients)."""
    torch.manual_seed(seed)
    stack = [torch.nn.Parameter(torch.zeros(5, *shape)) for shape in [(96, 8), (96,), (8, 37), (1, 8), (16, 8)]]
    for weight in stack:
        weight.grad = torch.randn_like(weight) * 10  # norms far above 1: the clip acts
    alone = [torch.nn.Parameter(weight.detach()[3:4].clone()) for weight in stack]
    for one, weight in zip(alone, stack, strict=True):
        one.grad = weight.grad[3:4].clone()
    clip_per_member(stack, 1.0)
    clip_per_member(alone, 1.0)
    assert all(torch.equal(one.grad[0], weight.grad[3]) for one, weight in zip(alone, stack, strict=True))
    norm = torch.sqrt(sum(weight.grad[3].pow(2).sum() for weight in stack))
    assert norm.item() == pytest.approx(1.0, rel=1e-5)


def test_batch_order_is_the_distributed_samplers():
    sampler = DistributedSampler(range(103), num_replicas=1, rank=0, shuffle=True, seed=42)
    sampler.set_epoch(3)
    assert epoch_order(103, 42, 3).tolist() == list(sampler)


def test_dropout_masks_keep_one_minus_p_scaled_and_do_not_depend_on_the_stack():
    config = ModelConfig(5, 4, 8, 2, 1, 2, 0.25, 12)
    masks = DropoutStreams([7, 8], 0.25, CPU).draw(config, 300, 6)
    assert set(masks) == set(mask_shapes(config, 300, 6))
    for mask in masks.values():
        assert set(torch.unique(mask).tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    values = torch.cat([mask.flatten() for mask in masks.values()])
    assert (values > 0).float().mean().item() == pytest.approx(0.75, abs=0.01)
    alone = DropoutStreams([8], 0.25, CPU).draw(config, 300, 6)
    assert all(torch.equal(masks[site][1], alone[site][0]) for site in masks)


def test_monte_carlo_samples_vary_only_through_dropout():
    config = ModelConfig(5, 4, 8, 1, 1, 2, 0.3, 12)
    networks = StackedNetwork.initialised(config, [1, 2])
    members = [networks.member_network(m) for m in range(2)]
    past, static = np.random.default_rng(0).normal(size=(50, 6, 5)).astype(np.float32), np.ones((50, 4), np.float32)
    points, variances = member_outputs(members, past, static, mc_samples=20, seed=3)
    assert (variances > 0).all() and points.shape == variances.shape == (50, 2)
    again, same = member_outputs(members, past, static, mc_samples=20, seed=3)
    np.testing.assert_array_equal(points, again)
    np.testing.assert_array_equal(variances, same)
    quiet = StackedNetwork.initialised(dataclasses.replace(config, dropout=0.0), [1, 2])
    _, none = member_outputs([quiet.member_network(m) for m in range(2)], past, static, mc_samples=20, seed=3)
    assert (none == 0).all()
