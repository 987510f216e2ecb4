"""Training library: runtime settings and seeds, model inputs for one split, and the training loop.

``prepare`` turns the store's arrays into scaled tensors for one ``Split`` (scaler fitted on the
training rows only); ``fit`` trains the network on them (AdamW, Huber loss, early stopping on
the validation loss, best epoch restored). The ``train`` stage and the walk-forward evaluation
both call these.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from invest.data.panel import Panel
from invest.errors import DataError
from invest.modelling import distributed
from invest.modelling.cross_section import label_scores
from invest.modelling.dataset import Arrays, load_arrays
from invest.modelling.model import LSTMTransformerNetwork, ModelConfig
from invest.modelling.ranking import mean_rank_ic
from invest.modelling.scaling import Scaler
from invest.modelling.splits import Split, labelled_span
from invest.params import TrainParams


def configure_runtime(num_threads: int) -> None:
    """Fixed thread counts and deterministic kernels: the same weights on every run.

    Caps torch and every OpenMP/BLAS pool (scikit-learn's boosted trees, numpy): on a busy CPU,
    spinning OpenMP workers beyond the free cores slow these small workloads down 30-150x
    (docs/benchmarks.md).
    """
    if num_threads:
        torch.set_num_threads(num_threads)
        threadpool_limits(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def seed(value: int) -> None:
    """Seed torch's and numpy's global generators (weight init, dropout, batch order)."""
    torch.manual_seed(value)
    np.random.seed(value % 2**32)


@dataclass
class Prepared:
    """Scaled tensors for one training run."""

    split: Split
    scaler: Scaler
    arrays: Arrays
    masks: dict[str, np.ndarray]
    past: np.ndarray  # [N, T, F+1]
    static: np.ndarray  # [N, S]
    target: np.ndarray  # [N] the label the network learns (``train.label_transform``), scaled; NaN where unknown


def prepare(panel: Panel, params: TrainParams, split: Split | None = None, arrays: Arrays | None = None) -> Prepared:
    """Arrays for every snapshot, the split, and a scaler fitted on training rows only."""
    if arrays is None:
        arrays = load_arrays(panel, params)
    else:
        arrays = arrays.subset(np.ones(len(arrays), dtype=bool))  # a copy: the label control edits targets
    split = split or Split.from_dates(params.train_end, params.val_end, params.embargo)
    masks = split.masks(arrays.dates)
    labelled = ~np.isnan(arrays.target)
    masks = {name: mask & labelled for name, mask in masks.items()}
    for name in ("train", "val"):
        if masks[name].sum() < 10:
            span = labelled_span(pd.DatetimeIndex(arrays.dates[labelled]))
            raise DataError(
                f"only {int(masks[name].sum())} labelled {name} rows for horizon {params.horizon} ({span}); "
                "adjust train.train_end / train.val_end to the data's dates"
            )
    if params.control == "shuffled_labels":
        rng = np.random.default_rng(params.seed)
        fit_rows = np.flatnonzero(masks["train"] | masks["val"])
        arrays.target[fit_rows] = arrays.target[rng.permutation(fit_rows)]
    learned = (
        arrays.target if params.label_transform == "none" else label_scores(arrays.target, arrays.dates, params.label_transform)
    )
    scaler = Scaler.fit(arrays.subset(masks["train"]), learned[masks["train"]])
    past, static = scaler.transform(arrays)
    return Prepared(split, scaler, arrays, masks, past, static, scaler.scale_target(learned))


def fit(
    prepared: Prepared, params: TrainParams, device: torch.device, log=None, verbose: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """Train with AdamW on Huber loss; keep the epoch best on the validation block (its loss, or its
    rank IC with ``train.select_by: rank_ic``), stop ``patience`` epochs after it, restore its weights.

    Under torchrun each rank takes its ``DistributedSampler`` shard of every global batch
    (``batch_size`` rows in all) and DDP averages the gradients, so N processes follow the
    same loss curve as one.
    """
    seed(params.seed)
    network = build_network(prepared, params).to(device)
    model = _parallel(network, device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    loss_fn = nn.HuberLoss(delta=params.huber_delta)
    train_rows = np.flatnonzero(prepared.masks["train"])
    val_rows = np.flatnonzero(prepared.masks["val"])
    val_dates = prepared.arrays.dates[val_rows]
    tensors = _to_tensors(prepared, device)
    world = distributed.world_size()
    sampler = DistributedSampler(
        range(len(train_rows)), num_replicas=world, rank=distributed.rank(), shuffle=True, seed=params.seed
    )
    local_batch = max(1, params.batch_size // world)
    best = {"score": -float("inf"), "epoch": 0, "state": copy.deepcopy(network.state_dict())}
    history = []
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        shard = train_rows[np.fromiter(iter(sampler), dtype=np.int64)]
        total = _train_epoch(model, optimizer, loss_fn, tensors, shard, local_batch, params.mixed_precision)
        train_loss = distributed.mean_over_ranks(total, len(shard))
        val_loss, val_pred = validate(network, tensors, val_rows, loss_fn, params.batch_size)
        val_ic = mean_rank_ic(val_pred, prepared.target[val_rows], val_dates)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_rank_ic": val_ic})
        if distributed.is_main() and verbose:
            print(
                f"epoch {epoch}: train {train_loss:.4f}, val {val_loss:.4f}, val rank IC {val_ic:.3f}, {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            if log is not None:
                log(history[-1])
        score = val_ic if params.select_by == "rank_ic" else -val_loss
        if score > best["score"] + 1e-6:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(network.state_dict())}
        elif epoch - best["epoch"] >= params.patience:
            break
    network.load_state_dict(best["state"])
    network.eval()
    chosen = history[best["epoch"] - 1]
    summary = {
        "best_epoch": best["epoch"],
        "best_val_loss": chosen["val_loss"],
        "best_val_rank_ic": chosen["val_rank_ic"],
        "epochs_run": len(history),
        "final_train_loss": history[-1]["train_loss"],
        "history": history,
    }
    return network, summary


def _train_epoch(model, optimizer, loss_fn, tensors: dict[str, torch.Tensor], shard: np.ndarray, batch: int, bf16: bool) -> float:
    """One pass over ``shard`` in batches; the sum of the batch losses weighted by batch size."""
    model.train()
    device = tensors["past"].device
    total = 0.0
    for start in range(0, len(shard), batch):
        index = torch.as_tensor(shard[start : start + batch], device=device)
        with _autocast(device, bf16):
            prediction = model(tensors["past"][index], tensors["static"][index])  # [B]
            loss = loss_fn(prediction.float(), tensors["target"][index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.item() * len(index)
    return total


def _parallel(network: nn.Module, device: torch.device) -> nn.Module:
    if distributed.world_size() == 1:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def validate(
    network: nn.Module, tensors: dict[str, torch.Tensor], rows: np.ndarray, loss_fn: nn.Module, batch_size: int
) -> tuple[float, np.ndarray]:
    """Mean loss on ``rows`` and the predictions (scaled label units) behind it."""
    network.eval()
    total, parts = 0.0, []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            index = torch.as_tensor(rows[start : start + batch_size], device=tensors["past"].device)
            prediction = network(tensors["past"][index], tensors["static"][index]).float()
            total += loss_fn(prediction, tensors["target"][index]).item() * len(index)
            parts.append(prediction.cpu().numpy())
    return total / max(len(rows), 1), (np.concatenate(parts) if parts else np.zeros(0))


def build_network(prepared: Prepared, params: TrainParams) -> LSTMTransformerNetwork:
    config = ModelConfig.from_params(params, prepared.past.shape[-1], prepared.static.shape[-1])
    return LSTMTransformerNetwork.from_config(config)


def _to_tensors(prepared: Prepared, device: torch.device) -> dict[str, torch.Tensor]:
    pin = device.type == "cuda"

    def move(array: np.ndarray) -> torch.Tensor:
        if not array.flags.writeable:  # a job's inputs arrive as read-only memory maps
            array = array.copy()
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=pin)

    target = np.nan_to_num(prepared.target, nan=0.0)
    return {"past": move(prepared.past), "static": move(prepared.static), "target": move(target)}


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
