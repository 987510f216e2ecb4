"""The training engine: one loop trains every member of an ensemble at once (``fit_stack``).

The members live in one ``StackedNetwork``; each keeps its own initialisation (``torch.manual_seed(seed
+ m)`` before building it, as alone), its own batch order (a permutation per epoch from its seed, as
``DistributedSampler`` draws it), its own dropout stream and its own early stopping: the epoch best on
the validation block (its loss, or its rank IC with ``train.select_by: rank_ic``) is kept, and a
member ``patience`` epochs past its best leaves the stack while the others go on. AdamW, the loss (Huber,
plus ``train.ic_loss_weight`` times the per-date rank-correlation term of ``losses.rank_loss``, whose
batches then hold whole dates: see ``epoch_order``; plus ``train.aux_weight`` times the Huber loss of
``AuxiliaryHeads`` on the labels at ``train.aux_horizons``, which only train; with ``train.cross_section_layers``
batches are whole dates in one order every member shares, with the dates' unlabelled rows as context:
``set_layer``) and gradient clipping at norm
1 act on each member alone (``StackAdamW``, ``clip_per_member``), so a
member trained in a stack ends as it would alone (``tests/test_engine.py``). Under torchrun each rank
takes its shard of every member's batches and the gradients are averaged over ranks, as DDP does.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from invest.modelling import distributed
from invest.modelling.losses import AuxiliaryHeads, DateRanks, rank_loss
from invest.modelling.model import LSTMTransformerNetwork, ModelConfig
from invest.modelling.ranking import mean_rank_ic
from invest.modelling.set_layer import context_rows, date_batches, date_chunks, learn_labelled_only
from invest.modelling.stacked import DropoutStreams, StackedNetwork
from invest.params import TrainParams

VALIDATION_BATCH = 4096  # rows per validation pass (dropout off: no gradients, large batches are cheap)


@dataclass
class MemberRun:
    """One member's progress: its best epoch so far and the weights of that epoch."""

    member: int
    seed: int
    score: float = -math.inf
    epoch: int = 0
    state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False


def fit_stack(
    prepared: Any,
    params: TrainParams,
    members: Sequence[int],
    device: torch.device,
    log: Callable[[dict], None] | None = None,
    verbose: bool = True,
    start: list[dict[str, torch.Tensor]] | None = None,
) -> tuple[list[LSTMTransformerNetwork], list[dict[str, Any]]]:
    """Train members ``members`` (seeds ``params.seed + m``) on ``prepared``'s training rows; each ends with
    the weights of its best validation epoch. ``start``: warm-start weights (one state per member; the
    start itself is then epoch 0 and may stay the best). ``log`` receives the first member's epochs."""
    config = ModelConfig.from_params(params, prepared.past.shape[-1], prepared.static.shape[-1])
    runs = [MemberRun(m, params.seed + m) for m in members]
    seeds = [run.seed for run in runs]
    net = (StackedNetwork.initialised(config, seeds) if start is None else StackedNetwork(config, start)).to(device)
    streams = DropoutStreams([dropout_seed(seed) for seed in seeds], params.dropout, device)
    tensors = to_tensors(prepared, device)
    auxiliary = None
    if getattr(prepared, "auxiliary", None) is not None:
        # from a warm start the heads begin at zero: they send no gradient into the trained layers until they learn
        auxiliary = AuxiliaryHeads(seeds, config.hidden_size, prepared.auxiliary.shape[1], device, zero=start is not None)
        known = np.isfinite(prepared.auxiliary)
        tensors["aux"] = torch.as_tensor(np.where(known, prepared.auxiliary, 0.0).astype(np.float32), device=device)
        tensors["aux_known"] = torch.as_tensor(known.astype(np.float32), device=device)
    optimizer = StackAdamW(_weights(net, auxiliary), params.learning_rate, params.weight_decay)
    train_rows, val_rows = np.flatnonzero(prepared.masks["train"]), np.flatnonzero(prepared.masks["val"])
    groups = None
    if params.ic_loss_weight > 0 or params.cross_section_layers > 0:  # batches hold whole dates
        ranks = DateRanks.of(prepared.arrays.dates, prepared.target, prepared.masks["train"])
        tensors["date"] = torch.as_tensor(ranks.codes, device=device)
        tensors["rank"] = torch.as_tensor(ranks.ranks, device=device)
        tensors["n_dates"] = ranks.n_dates
        groups = ranks.codes[train_rows]
    if params.cross_section_layers > 0:  # every stock of a training date is context; only labelled ones are learned
        train_rows, _ = context_rows(ranks.codes, train_rows)
        learn_labelled_only(tensors, np.isfinite(prepared.target), ranks.codes, ranks.n_dates)
    validation = (val_rows, prepared.target[val_rows], prepared.arrays.dates[val_rows])
    if start is not None:  # the warm start competes as epoch 0
        _judge(runs, net, _score(net, tensors, validation, params), 0, params, float("nan"))
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        active = [run for run in runs if not run.stopped]
        if params.cross_section_layers > 0:  # whole dates, one order for every member (one batch size)
            order, bounds = date_batches(ranks.codes[train_rows], params.seed, epoch, params.batch_size)
            shards = [train_rows[order]] * len(active)
        else:
            shards, bounds = [train_rows[epoch_order(len(train_rows), run.seed, epoch, groups)] for run in active], None
        train_loss = _train_epoch(net, auxiliary, optimizer, streams, tensors, shards, params, config, bounds)
        scores = _score(net, tensors, validation, params)
        _judge(active, net, scores, epoch, params, train_loss)
        if log is not None and runs[0] in active and distributed.is_main():
            log(runs[0].history[-1])
        if verbose and distributed.is_main():
            _report(epoch, active, time.perf_counter() - started)
        keep = [i for i, run in enumerate(active) if not run.stopped]
        if not keep:
            break
        if len(keep) < len(active):  # stopped members leave the stack: the others go on alone
            _shrink(net, auxiliary, optimizer, streams, keep)
    return [_network(config, run) for run in runs], [_summary(run) for run in runs]


def epoch_order(rows: int, seed: int, epoch: int, groups: np.ndarray | None = None) -> np.ndarray:
    """This rank's share of the epoch's permutation of ``rows`` rows, as ``DistributedSampler(seed=seed)`` draws it.

    With ``groups`` (each row's date code) the rows of one date stay together, in a random order of
    dates and a random order within each date, so consecutive batches hold whole dates for the
    rank-correlation term; under torchrun each rank then takes whole dates (every world-th date of that
    order), its share cycled to the longest rank's length so every rank runs the same number of steps."""
    generator = torch.Generator()
    generator.manual_seed(seed + epoch)
    order = torch.randperm(rows, generator=generator).numpy()
    world = distributed.world_size()
    if groups is not None:
        date_position = torch.randperm(int(groups.max()) + 1, generator=generator).numpy()
        order = order[np.argsort(date_position[groups[order]], kind="stable")]
        owner = date_position[groups[order]] % world
        shares = [order[owner == r] for r in range(world)]
        if world > 1 and all(len(share) for share in shares):
            return np.resize(shares[distributed.rank()], max(len(share) for share in shares))
    if world > 1:
        total = -(-rows // world) * world
        order = np.concatenate([order, order[: total - rows]])[distributed.rank() : total : world]
    return order


def dropout_seed(seed: int) -> int:
    """The dropout stream's seed: derived from the member's seed, apart from the stream its weights were drawn from."""
    return int(np.random.SeedSequence([seed, 0xD50]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _train_epoch(
    net, auxiliary, optimizer, streams, tensors, shards: list[np.ndarray], params: TrainParams, config, bounds=None
) -> np.ndarray:
    """One pass over every member's shard of the training rows (in batches of ``batch_size``, or ``bounds``:
    each batch's (begin, end) in the shards); the mean training loss of each member."""
    net.train()
    device, world = tensors["past"].device, distributed.world_size()
    batch = max(1, params.batch_size // world)
    totals = torch.zeros(len(shards), dtype=torch.float64)
    rows = np.stack(shards)  # [M, n]: every member's batch k covers the same positions of its own order
    for begin, end in bounds or [(begin, begin + batch) for begin in range(0, rows.shape[1], batch)]:
        index = torch.as_tensor(rows[:, begin:end], device=device)  # [M, B]
        masks = streams.draw(config, index.shape[1], tensors["past"].shape[1])
        with _autocast(device, params.mixed_precision):
            codes = tensors["date"][index] if "date" in tensors else None
            hidden = net.penultimate(tensors["past"][index], tensors["static"][index], masks, codes)  # [M, B, H]
            prediction = net.output(hidden).float()  # [M, B]
        losses = F.huber_loss(prediction, tensors["target"][index], delta=params.huber_delta, reduction="none")
        if "known" in tensors:
            known = tensors["known"][index]
            losses = (losses * known).sum(1) / known.sum(1).clamp(min=1)
        else:
            losses = losses.mean(1)
        if auxiliary is not None:
            losses = losses + params.aux_weight * auxiliary.loss(hidden.float(), tensors, index, params.huber_delta)
        if params.ic_loss_weight > 0:
            if "rank_date" in tensors:  # the unlabelled rows' cell (n_dates) has no usable ranks
                ranking = rank_loss(prediction, tensors["rank"][index], tensors["rank_date"][index], tensors["n_dates"] + 1)
            else:
                ranking = rank_loss(prediction, tensors["rank"][index], tensors["date"][index], tensors["n_dates"])
            losses = losses + params.ic_loss_weight * ranking
        optimizer.zero_grad()
        losses.sum().backward()
        if world > 1:
            _average_over_ranks(_weights(net, auxiliary))
        clip_per_member(_weights(net, auxiliary), 1.0)
        optimizer.step()
        totals += losses.detach().double().cpu() * index.shape[1]
    return np.array([distributed.mean_over_ranks(float(total), rows.shape[1]) for total in totals])


def _score(net, tensors, validation, params: TrainParams) -> dict[str, np.ndarray]:
    """Each member's validation loss and rank IC (dropout off)."""
    rows, target, dates = validation
    prediction = predict_rows(net, tensors, rows)  # [M, n]
    truth = torch.as_tensor(np.nan_to_num(target), dtype=torch.float32).expand_as(prediction)
    loss = F.huber_loss(prediction, truth, delta=params.huber_delta, reduction="none").mean(1).numpy()
    ic = np.array([mean_rank_ic(prediction[m].numpy(), target, dates) for m in range(prediction.shape[0])])
    return {"val_loss": loss, "val_rank_ic": ic}


def predict_rows(net: StackedNetwork, tensors: dict[str, torch.Tensor], rows: np.ndarray) -> torch.Tensor:
    """Every member's prediction (scaled label units, dropout off) on ``rows``: [M, n] on the CPU (with
    cross-section layers in passes of whole dates, from ``tensors["date"]``)."""
    net.eval()
    wanted = None
    if net.config.cross_section_layers:  # every stock of the date is context, labelled or not
        codes = tensors["date"].cpu().numpy()
        rows, wanted = context_rows(codes, rows)
        chunks = date_chunks(codes[rows], VALIDATION_BATCH)
    else:
        chunks = [np.arange(begin, min(begin + VALIDATION_BATCH, len(rows))) for begin in range(0, len(rows), VALIDATION_BATCH)]
    out = torch.zeros(net.members, len(rows))
    with torch.no_grad():
        for positions in chunks:
            index = torch.as_tensor(rows[positions], device=tensors["past"].device)
            codes = tensors["date"][index] if "date" in tensors else None
            out[:, positions] = net(tensors["past"][index], tensors["static"][index], None, codes).float().cpu()
    return out if wanted is None else out[:, wanted]


def _judge(runs: list[MemberRun], net, scores, epoch: int, params: TrainParams, train_loss) -> None:
    """Record the epoch; keep a member's weights when it improved; stop it ``patience`` epochs after its best."""
    for position, run in enumerate(runs):
        loss, ic = float(scores["val_loss"][position]), float(scores["val_rank_ic"][position])
        trained = float(train_loss[position]) if np.ndim(train_loss) else float("nan")
        run.history.append({"epoch": epoch, "train_loss": trained, "val_loss": loss, "val_rank_ic": ic})
        score = ic if params.select_by == "rank_ic" else -loss
        if score > run.score + 1e-6:
            run.score, run.epoch, run.state = score, epoch, net.member_state(position)
        elif epoch - run.epoch >= params.patience:
            run.stopped = True
    if epoch == params.epochs:
        for run in runs:
            run.stopped = True


def _report(epoch: int, active: list[MemberRun], seconds: float) -> None:
    last = [run.history[-1] for run in active]

    def span(key: str, digits: int) -> str:
        values = [entry[key] for entry in last]
        low, high = min(values), max(values)
        return f"{low:.{digits}f}" if len(values) == 1 else f"{low:.{digits}f}..{high:.{digits}f}"

    print(
        f"epoch {epoch} ({len(active)} network{'s' if len(active) > 1 else ''}): train {span('train_loss', 4)}, "
        f"val {span('val_loss', 4)}, val rank IC {span('val_rank_ic', 3)}, {seconds:.1f}s",
        file=sys.stderr,
    )


def _network(config: ModelConfig, run: MemberRun) -> LSTMTransformerNetwork:
    network = LSTMTransformerNetwork.from_config(config)
    network.load_state_dict(run.state)
    return network.eval()


def _summary(run: MemberRun) -> dict[str, Any]:
    chosen = next(entry for entry in run.history if entry["epoch"] == run.epoch)
    trained = [entry for entry in run.history if entry["epoch"] > 0]
    return {
        "best_epoch": run.epoch,
        "best_val_loss": chosen["val_loss"],
        "best_val_rank_ic": chosen["val_rank_ic"],
        "epochs_run": len(trained),
        "final_train_loss": trained[-1]["train_loss"] if trained else float("nan"),
        "history": [entry for entry in run.history if entry["epoch"] > 0],
    }


def _shrink(net: StackedNetwork, auxiliary, optimizer: StackAdamW, streams: DropoutStreams, keep: list[int]) -> None:
    """Only the members at positions ``keep`` stay in the stack, with their optimizer state and dropout streams."""
    with torch.no_grad():
        for i, weight in enumerate(net.stacked):
            net.stacked[i] = torch.nn.Parameter(weight.detach()[keep].clone())
        if auxiliary is not None:
            auxiliary.keep(keep)
    optimizer.keep(keep, _weights(net, auxiliary))
    streams.keep(keep)


def _weights(net: StackedNetwork, auxiliary) -> list[torch.Tensor]:
    return list(net.stacked) + ([] if auxiliary is None else auxiliary.weights)


# ------------------------------------------------------------------ per-member optimisation


class StackAdamW:
    """``torch.optim.AdamW`` (betas 0.9/0.999, eps 1e-8) on stacked parameters: elementwise, so each
    member's slice moves exactly as its own optimizer would move it."""

    def __init__(self, weights: list[torch.Tensor], lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.weights, self.lr, self.weight_decay, self.betas, self.eps = weights, lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(w) for w in weights]
        self.exp_avg_sq = [torch.zeros_like(w) for w in weights]
        self.steps = 0

    def zero_grad(self) -> None:
        for weight in self.weights:
            weight.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        grads = [w.grad for w in self.weights]
        torch._foreach_mul_(self.weights, 1 - self.lr * self.weight_decay)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - beta2)
        step_size = self.lr / (1 - beta1**self.steps)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, math.sqrt(1 - beta2**self.steps))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.weights, self.exp_avg, denom, value=-step_size)

    def keep(self, keep: list[int], weights: list[torch.Tensor]) -> StackAdamW:
        """The optimizer of the members at positions ``keep``, for their new stacked ``weights``."""
        self.weights = weights
        self.exp_avg = [state[keep].clone() for state in self.exp_avg]
        self.exp_avg_sq = [state[keep].clone() for state in self.exp_avg_sq]
        return self


def clip_per_member(weights: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` for each member alone: its gradients scaled to at most ``max_norm`` in 2-norm."""
    grads = [w.grad for w in weights if w.grad is not None]
    members = grads[0].shape[0]
    # each member's norm reduced on its own: a reduction over a [M, n] tensor's rows sums in an order that
    # depends on M, and an active clip would carry those last bits into the member's weights
    squared = torch.stack([torch.stack(torch._foreach_norm([g[m] for g in grads])).square().sum() for m in range(members)])
    coefficient = (max_norm / (squared.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coefficient.view(members, *([1] * (g.dim() - 1))))


def _average_over_ranks(weights: list[torch.Tensor]) -> None:
    import torch.distributed as dist

    for weight in weights:
        dist.all_reduce(weight.grad)
        weight.grad /= distributed.world_size()


def to_tensors(prepared: Any, device: torch.device) -> dict[str, torch.Tensor]:
    """The prepared arrays on ``device`` (read-only memory maps are copied first)."""
    pin = device.type == "cuda"

    def move(array: np.ndarray) -> torch.Tensor:
        if not array.flags.writeable:
            array = array.copy()
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=pin)

    target = np.nan_to_num(prepared.target, nan=0.0)
    return {"past": move(prepared.past), "static": move(prepared.static), "target": move(target)}


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
