"""Stage ``train``: fit the network on the chronological training block, keep the best epoch, calibrate its intervals."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from importlib.metadata import version

import torch

from invest.data.panel import load_panel
from invest.evaluation.model_card import write_card
from invest.io import atomic_dir, write_json
from invest.modelling import distributed, jobs
from invest.modelling.checkpoint import LoadedModel, save
from invest.modelling.device import resolve_device
from invest.modelling.ensemble import checkpoint_core, fit_chunk, fit_members, member_chunks, summarise
from invest.modelling.jobs import Job
from invest.modelling.provenance import code_version, head_commit
from invest.modelling.training import Prepared, configure_runtime, prepare
from invest.modelling.uncertainty import CONFIDENCE_VERSION, CONFIDENCE_WEIGHTS, calibrate_model, expected_market
from invest.params import Params

SECTIONS = ("train",)


def main(
    params: Params,
    *,
    db_path: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    card_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    live_dir: str | os.PathLike[str],
    run_log: str | os.PathLike[str],
) -> None:
    started = time.perf_counter()
    train = params.train
    device = distributed.setup(resolve_device(train.device))
    configure_runtime(train.num_threads)
    panel = load_panel(db_path)
    prepared = prepare(panel, train)
    if not distributed.is_main():  # other ranks train their shard of each member and leave the writing to rank 0
        fit_members(prepared, train, device)
        distributed.teardown()
        return
    counts = {name: int(mask.sum()) for name, mask in prepared.masks.items()}
    if train.mixed_precision and device.type != "cuda":
        print(f"train: train.mixed_precision applies on CUDA only; training in float32 on {device.type}", file=sys.stderr)
    processes = distributed.world_size()
    print(
        f"train: {counts['train']:,} train, {counts['val']:,} validation, {counts['test']:,} test rows on {device}"
        f" ({processes} process{'es' if processes > 1 else ''})",
        file=sys.stderr,
    )
    networks, summary = fit_with_curves(prepared, params, device, live_dir)
    metrics = {**summary, **{f"{name}_rows": count for name, count in counts.items()}}
    meta = metadata(params, prepared, panel.meta, db_path, metrics, device.type)
    checkpoint = build_checkpoint(networks, panel, prepared, params, meta)
    save(model_path, checkpoint)
    write_card(card_path, checkpoint)
    write_json(metrics_path, metrics)
    # wall-clock facts live outside the versioned outputs
    finished = {"duration_s": round(time.perf_counter() - started, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(run_log, {**finished, "head": head_commit()})
    print(f"train: best epoch {summary['best_epoch']} (val loss {summary['best_val_loss']:.4f}) -> {model_path}", file=sys.stderr)
    distributed.teardown()


def build_checkpoint(networks: list, panel, prepared: Prepared, params: Params, meta: dict) -> dict:
    """The self-describing checkpoint: every member's weights and the inputs, metadata, and intervals
    calibrated on the validation block (embargoed from the training rows)."""
    train = params.train
    schema_version = int(panel.meta["schema_version"])
    checkpoint = checkpoint_core(networks, prepared, panel.temporal_features, panel.static_features, schema_version, train)
    checkpoint["metadata"] = meta
    loaded = LoadedModel.from_checkpoint(checkpoint, networks)
    offset = expected_market(prepared.arrays.subset(prepared.masks["train"]), train.target)
    checkpoint["intervals"] = calibrate_model(
        loaded, prepared.arrays, train.interval_levels, train.mc_samples, train.seed, offset, rows=prepared.masks["val"]
    )
    checkpoint["confidence"] = {"weights": dict(CONFIDENCE_WEIGHTS), "version": CONFIDENCE_VERSION}
    return checkpoint


def fit_with_curves(prepared: Prepared, params: Params, device: torch.device, live_dir: str | os.PathLike[str]):
    """Every member, the first one's per-epoch losses and validation rank IC logged by dvclive.
    The curves go to a temporary directory that
    replaces ``live_dir`` only once training has finished, so a killed run leaves the previous
    run's curves (matching the previous model.pt), never half of them."""
    from dvclive import Live

    with atomic_dir(live_dir) as staging, Live(dir=str(staging), save_dvc_exp=False, dvcyaml=None, report=None) as live:

        def log(epoch: dict) -> None:
            for key in ("train_loss", "val_loss", "val_rank_ic"):
                live.log_metric(key, epoch[key], plot=True)
            live.next_step()

        train = params.train
        if train.n_jobs > 1 and device.type == "cpu" and distributed.world_size() == 1:
            networks, summaries = fit_in_jobs(prepared, train)
            for epoch in summaries[0]["history"]:  # the first member's curves, as it trained
                log(epoch)
        else:
            networks, summaries = fit_members(prepared, train, device, log)
    return networks, summarise(summaries)


def fit_in_jobs(prepared: Prepared, train) -> tuple[list, list]:
    """The ensemble in ``train.n_jobs`` local processes, a chunk of members each (the same networks as one stack)."""
    chunks = member_chunks(train.ensemble_size, train.n_jobs, train.num_threads)
    work = [Job(fit_chunk, (jobs.SHARED, prepared.detached(), train, chunk)) for chunk in chunks]
    parts = jobs.run(work, jobs.Pool(n_jobs=train.n_jobs), shared=prepared.arrays)
    return [network for networks, _ in parts for network in networks], [s for _, summaries in parts for s in summaries]


def metadata(
    params: Params, prepared: Prepared, store_meta: dict, db_path: str | os.PathLike[str], metrics: dict, device: str
) -> dict:
    """What the checkpoint records about its making: code, data, params, period, metrics."""
    code = code_version()  # the code, not HEAD: committing these results must not change them
    dates = prepared.arrays.dates[prepared.masks["train"]]
    return {
        "package_version": version("invest"),
        "torch_version": str(torch.__version__),
        "created": code["created"],
        "git_commit": code["git_commit"],
        "code_hash": code["code_hash"],
        "code_dirty": code["code_dirty"],
        "data_hash": file_sha256(db_path),
        "params": {"train": params.train.__dict__},
        "training_period": {"first": str(dates.min())[:10], "last": str(dates.max())[:10]},
        "features_left_out": dict(store_meta.get("features_left_out", {})),  # the data lacked their inputs
        "samples": {name: int(mask.sum()) for name, mask in prepared.masks.items()},
        "metrics": metrics,
        "device": device,
    }


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
