"""Stage ``train``: fit the network on the chronological training block, keep the best epoch."""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from invest import checkpoint as ckpt
from invest import distributed
from invest.dataset import Arrays, Panel, Scaler, Split, build_arrays, label_column, load_panel
from invest.device import resolve_device
from invest.errors import DataError
from invest.inference import calibrate_on
from invest.io import atomic_dir, write_json
from invest.model import LSTMTransformerNetwork
from invest.params import Params, TrainParams
from invest.provenance import code_version, head_commit
from invest.store import SCHEMA_VERSION
from invest.uncertainty import CONFIDENCE_WEIGHTS


def seed_everything(seed: int, num_threads: int) -> None:
    """Same seed, same thread count, deterministic kernels: the same weights on the same machine."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if num_threads:
        torch.set_num_threads(num_threads)
        # every OpenMP/BLAS pool too (scikit-learn's boosted trees, numpy): on a busy CPU, spinning
        # OpenMP workers beyond the free cores slow these small workloads down 30-150x (docs/benchmarks.md)
        threadpool_limits(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@dataclass
class Prepared:
    """Scaled tensors for one training run."""

    split: Split
    scaler: Scaler
    arrays: Arrays
    masks: dict[str, np.ndarray]
    past: np.ndarray  # [N, T, F+1]
    static: np.ndarray  # [N, S]
    target: np.ndarray  # [N] scaled, NaN where unknown


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
            raise DataError(
                f"only {int(masks[name].sum())} labelled {name} rows for horizon {params.horizon}; "
                "adjust train.train_end / train.val_end to the data's dates"
            )
    if params.control == "shuffled_labels":
        rng = np.random.default_rng(params.seed)
        fit_rows = np.flatnonzero(masks["train"] | masks["val"])
        arrays.target[fit_rows] = arrays.target[rng.permutation(fit_rows)]
    scaler = Scaler.fit(arrays.subset(masks["train"]))
    past, static = scaler.transform(arrays)
    return Prepared(split, scaler, arrays, masks, past, static, scaler.scale_target(arrays.target))


def load_arrays(panel: Panel, params: TrainParams) -> Arrays:
    """Model inputs for every snapshot (features shifted one horizon ahead under the look-ahead control)."""
    shift = params.horizon_months if params.control == "future_features" else 0
    return build_arrays(panel, params.horizon, params.target, params.seq_len, shift_months=shift)


def fit(prepared: Prepared, params: TrainParams, device: torch.device, log=None) -> tuple[nn.Module, dict[str, Any]]:
    """Train with AdamW on Huber loss; stop early on validation loss and restore the best weights.

    Under torchrun each rank takes its ``DistributedSampler`` shard of every global batch
    (``batch_size`` rows in all) and DDP averages the gradients, so N processes follow the
    same loss curve as one.
    """
    seed_everything(params.seed, params.num_threads)
    network = build_network(prepared, params).to(device)
    model = _parallel(network, device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    loss_fn = nn.HuberLoss(delta=params.huber_delta)
    train_rows = np.flatnonzero(prepared.masks["train"])
    val_rows = np.flatnonzero(prepared.masks["val"])
    tensors = _to_tensors(prepared, device)
    world = distributed.world_size()
    sampler = DistributedSampler(
        range(len(train_rows)), num_replicas=world, rank=distributed.rank(), shuffle=True, seed=params.seed
    )
    local_batch = max(1, params.batch_size // world)
    best = {"val_loss": float("inf"), "epoch": 0, "state": copy.deepcopy(network.state_dict())}
    history = []
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        model.train()
        sampler.set_epoch(epoch)
        shard = train_rows[np.fromiter(iter(sampler), dtype=np.int64)]
        total = 0.0
        for start in range(0, len(shard), local_batch):
            index = torch.as_tensor(shard[start : start + local_batch], device=device)
            with _autocast(device, params.mixed_precision):
                prediction = model(tensors["past"][index], tensors["static"][index])  # [B]
                loss = loss_fn(prediction.float(), tensors["target"][index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(index)
        train_loss = distributed.mean_over_ranks(total, len(shard))
        val_loss = evaluate_loss(network, tensors, val_rows, loss_fn, params.batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if distributed.is_main():
            print(
                f"epoch {epoch}: train {train_loss:.4f}, val {val_loss:.4f}, {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            if log is not None:
                log(epoch, train_loss, val_loss)
        if val_loss < best["val_loss"] - 1e-6:
            best = {"val_loss": val_loss, "epoch": epoch, "state": copy.deepcopy(network.state_dict())}
        elif epoch - best["epoch"] >= params.patience:
            break
    network.load_state_dict(best["state"])
    network.eval()
    summary = {
        "best_epoch": best["epoch"],
        "best_val_loss": best["val_loss"],
        "epochs_run": len(history),
        "final_train_loss": history[-1]["train_loss"],
        "history": history,
    }
    return network, summary


def _parallel(network: nn.Module, device: torch.device) -> nn.Module:
    if distributed.world_size() == 1:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def evaluate_loss(
    network: nn.Module, tensors: dict[str, torch.Tensor], rows: np.ndarray, loss_fn: nn.Module, batch_size: int
) -> float:
    network.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            index = torch.as_tensor(rows[start : start + batch_size], device=tensors["past"].device)
            prediction = network(tensors["past"][index], tensors["static"][index])
            total += loss_fn(prediction.float(), tensors["target"][index]).item() * len(index)
    return total / max(len(rows), 1)


def build_network(prepared: Prepared, params: TrainParams) -> LSTMTransformerNetwork:
    return LSTMTransformerNetwork(
        temporal_features=prepared.past.shape[-1],
        static_features=prepared.static.shape[-1],
        hidden_size=params.hidden_size,
        lstm_layers=params.lstm_layers,
        transformer_layers=params.transformer_layers,
        attention_heads=params.attention_heads,
        dropout=params.dropout,
        max_seq_len=max(params.seq_len, 12),
    )


def _to_tensors(prepared: Prepared, device: torch.device) -> dict[str, torch.Tensor]:
    pin = device.type == "cuda"

    def move(array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=pin)

    target = np.nan_to_num(prepared.target, nan=0.0)
    return {"past": move(prepared.past), "static": move(prepared.static), "target": move(target)}


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def file_hash(path: str | os.PathLike[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(
    params: Params,
    db_path: str | os.PathLike[str] = "data/stock_data.db",
    model_path: str | os.PathLike[str] = "models/model.pt",
    metrics_path: str | os.PathLike[str] = "metrics/train.json",
    live_dir: str | os.PathLike[str] = "metrics/train",
) -> None:
    train_params = params.train
    started = time.perf_counter()
    device = distributed.setup(train_params.device if train_params.device != "auto" else resolve_device("auto").type)
    device = device or resolve_device(train_params.device)
    seed_everything(train_params.seed, train_params.num_threads)
    panel = load_panel(db_path)
    prepared = prepare(panel, train_params)
    counts = {name: int(mask.sum()) for name, mask in prepared.masks.items()}
    if not distributed.is_main():  # other ranks train their shard and leave the writing to rank 0
        fit(prepared, train_params, device)
        distributed.teardown()
        return
    if train_params.mixed_precision and device.type != "cuda":
        print(f"train: train.mixed_precision applies on CUDA only; training in float32 on {device.type}", file=sys.stderr)
    print(
        f"train: {counts['train']:,} train, {counts['val']:,} validation, {counts['test']:,} test rows on {device}"
        f" ({distributed.world_size()} process{'es' if distributed.world_size() > 1 else ''})",
        file=sys.stderr,
    )

    from dvclive import Live

    # the curves go to a temporary directory that replaces live_dir only once training has finished,
    # so a killed run leaves the previous run's curves (matching the previous model.pt), never half of them
    with atomic_dir(live_dir) as staging, Live(dir=str(staging), save_dvc_exp=False, dvcyaml=None, report=None) as live:

        def log(epoch: int, train_loss: float, val_loss: float) -> None:
            live.log_metric("train_loss", train_loss, plot=True)
            live.log_metric("val_loss", val_loss, plot=True)
            live.next_step()

        network, summary = fit(prepared, train_params, device, log)
    summary.pop("history")

    code = code_version()
    dates = prepared.arrays.dates
    metrics = {**summary, **{f"{name}_rows": count for name, count in counts.items()}}
    temporal_names = [*panel.temporal_features, ckpt.STEP_MASK]
    checkpoint = {
        "format": ckpt.FORMAT,
        "format_version": ckpt.FORMAT_VERSION,
        "state_dict": {key: value.detach().cpu() for key, value in network.state_dict().items()},
        "model_config": network.config.to_dict(),
        "temporal_features": temporal_names,
        "static_features": list(panel.static_features),
        "feature_schema": ckpt.feature_schema(SCHEMA_VERSION, panel.temporal_features, panel.static_features),
        "scaler": prepared.scaler.to_dict(),
        "target": {
            "horizon": train_params.horizon,
            "kind": train_params.target,
            "column": label_column(train_params.horizon, train_params.target),
            "seq_len": train_params.seq_len,
        },
        "split": prepared.split.to_dict(),
        "metadata": {
            "package_version": version("invest"),
            "torch_version": str(torch.__version__),
            # the code, not HEAD: committing these results must not change them (invest/provenance.py)
            "created": code["created"],
            "git_commit": code["git_commit"],
            "code_hash": code["code_hash"],
            "code_dirty": code["code_dirty"],
            "data_hash": file_hash(db_path),
            "params": {"train": train_params.__dict__},
            "training_period": {
                "first": str(dates[prepared.masks["train"]].min())[:10],
                "last": str(dates[prepared.masks["train"]].max())[:10],
            },
            "samples": counts,
            "metrics": metrics,
            "device": device.type,
        },
    }
    checkpoint["intervals"] = calibrate_on(
        ckpt.LoadedModel(network.cpu(), prepared.scaler, checkpoint),
        prepared.arrays.subset(prepared.masks["val"]),
        train_params.interval_levels,
        train_params.mc_samples,
        train_params.seed,
    )
    checkpoint["confidence"] = {"weights": dict(CONFIDENCE_WEIGHTS), "version": 1}
    ckpt.save(model_path, checkpoint)
    from invest.model_card import write_card

    write_card(Path(model_path).with_name("model_card.train.json"), checkpoint)
    write_json(metrics_path, metrics)
    run_log = Path(model_path).with_suffix(".run.json")  # wall-clock facts live outside the versioned outputs
    write_json(
        run_log,
        {
            "duration_s": round(time.perf_counter() - started, 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "head": head_commit(),
        },
    )
    print(f"train: best epoch {summary['best_epoch']} (val loss {summary['best_val_loss']:.4f}) -> {model_path}", file=sys.stderr)
    distributed.teardown()
