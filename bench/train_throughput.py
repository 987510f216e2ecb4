"""Training throughput on the CPU: what the hardware allows against what training gets.

    python bench/train_throughput.py [--db data/stock_data.db] [--batch 256 512 1024] [--threads 1] [--compiled]

Uses the store given by ``--db`` (default: data/stock_data.db when it exists, else the default
100-ticker simulated market built in a temporary directory) and the ``train`` settings of
params.yaml. Each row runs in its own process (thread pools and peak RSS start clean) and prints:

* **ceiling**: the same stacked network (``train.ensemble_size`` members), forward + backward +
  optimizer step with dropout, on random inputs already in memory, ``ceiling_rows`` rows a member
  per step: no data pipeline, no validation, no early stopping. Member-samples per second. With
  ``--compiled``, also the same steps with ``torch.compile`` on every layer after the LSTM.
* **training**: ``engine.fit_stack`` on the store's training split with that batch size, from
  start to the last member's stop (batch gathering, dropout masks, validation each epoch, rank IC,
  early stopping and best-weight copies included): member-samples trained per second of its wall
  time, and that as a share of the ceiling. Also its epochs, best validation loss and rank IC (the
  mean over members), so a larger batch that trains faster but worse shows.
* **inference**: every member's prediction with dropout off, and with ``train.mc_samples`` Monte
  Carlo samples of the head (what evaluate and predict run), in member-samples per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, Background, machine, print_table  # noqa: E402


def ceiling(params, temporal: int, static: int, rows: int, steps: int = 12, compiled: bool = False) -> float:
    """Member-samples/s of bare training steps; ``compiled``: with ``torch.compile`` on every layer after the
    LSTM (inductor cannot compile the fused LSTM kernel itself: it fails in its lowering of mkldnn_rnn_layer)."""
    import torch
    from torch.nn import functional as F

    from invest.modelling.engine import StackAdamW, clip_per_member
    from invest.modelling.model import ModelConfig
    from invest.modelling.stacked import DropoutStreams, StackedNetwork

    members = params.ensemble_size
    config = ModelConfig.from_params(params, temporal, static)
    net = StackedNetwork.initialised(config, list(range(members))).train()
    streams = DropoutStreams(list(range(members)), params.dropout, torch.device("cpu"))
    optimizer = StackAdamW(list(net.stacked), params.learning_rate, params.weight_decay)
    past, stat = torch.randn(members, rows, params.seq_len, temporal), torch.randn(members, rows, static)
    target = torch.randn(members, rows)
    codes = torch.arange(rows) // 100  # with cross-section layers: dates of 100 stocks

    def after_lstm(sequence, stat, masks):
        return net.output(net.hidden(net.cross(net.summarise(sequence, masks), codes), stat, masks))

    rest = torch.compile(after_lstm, dynamic=False) if compiled else after_lstm

    def step() -> None:
        masks = streams.draw(config, rows, params.seq_len)
        out = rest(net.encode(past, masks), stat, masks)
        optimizer.zero_grad()
        F.huber_loss(out, target, delta=params.huber_delta, reduction="none").mean(1).sum().backward()
        clip_per_member(list(net.stacked), 1.0)
        optimizer.step()

    step()
    step()  # a compiled graph is built on the first calls
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return members * rows * steps / (time.perf_counter() - started)


def worker(db: Path, threads: int, batch: int, ceiling_rows: int, compiled: bool) -> dict:
    import numpy as np
    import torch

    from invest import params as params_module
    from invest.data.panel import load_panel
    from invest.modelling.engine import fit_stack
    from invest.modelling.inference import member_outputs
    from invest.modelling.training import configure_runtime, prepare

    params = dataclasses.replace(params_module.load(REPO / "params.yaml").train, batch_size=batch)
    configure_runtime(threads)
    prepared = prepare(load_panel(db), params)
    temporal, static = prepared.past.shape[-1], prepared.static.shape[-1]
    top = ceiling(params, temporal, static, ceiling_rows)
    top_compiled = ceiling(params, temporal, static, ceiling_rows, compiled=True) if compiled else float("nan")
    members = list(range(params.ensemble_size))
    started = time.perf_counter()
    networks, summaries = fit_stack(prepared, params, members, torch.device("cpu"), verbose=False)
    fit_s = time.perf_counter() - started
    trained = int(prepared.masks["train"].sum()) * sum(s["epochs_run"] for s in summaries)
    rows = np.flatnonzero(prepared.masks["val"] | prepared.masks["test"])
    started = time.perf_counter()
    member_outputs(networks, prepared.past, prepared.static, dates=prepared.arrays.dates, rows=rows)
    point_s = time.perf_counter() - started
    started = time.perf_counter()
    member_outputs(
        networks, prepared.past, prepared.static, params.mc_samples, params.seed, dates=prepared.arrays.dates, rows=rows
    )
    mc_s = time.perf_counter() - started
    return {
        "batch": batch,
        "threads": torch.get_num_threads(),
        "ceiling": top,
        "ceiling_compiled": top_compiled,
        "training": trained / fit_s,
        "fit_s": fit_s,
        "epochs": [s["epochs_run"] for s in summaries],
        "val_loss": float(np.mean([s["best_val_loss"] for s in summaries])),
        "val_rank_ic": float(np.mean([s["best_val_rank_ic"] for s in summaries])),
        "point": len(rows) * len(members) / point_s,
        "mc": len(rows) * len(members) / mc_s,
        "mc_samples": params.mc_samples,
        "train_rows": int(prepared.masks["train"].sum()),
        "members": len(members),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def build_default_store(base: Path) -> Path:
    from invest import cache, fetch, validate
    from invest import params as params_module

    params = params_module.load(REPO / "params.yaml")
    fetch.main(params, raw_dir=base / "raw", report_path=base / "fetch.json")
    validate.main(params, raw_dir=base / "raw", report_path=base / "quality.json")
    cache.main(params, raw_dir=base / "raw", db_path=base / "stock_data.db")
    return base / "stock_data.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 512, 1024], help="train.batch_size values")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ceiling-rows", type=int, default=1024, help="rows a member per step of the ceiling")
    parser.add_argument(
        "--compiled", action="store_true", help="also the ceiling with torch.compile after the LSTM (needs a C++ compiler)"
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.db, args.threads, args.worker, args.ceiling_rows, args.compiled)))
        return
    db = args.db or (REPO / "data" / "stock_data.db")
    if not db.exists():
        db = build_default_store(Path(tempfile.mkdtemp(prefix="invest-throughput-")))
    print(f"machine: {machine()}\nstore: {db}\n")
    table, last = [], {}
    for batch in args.batch:
        with Background() as background:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(batch), "--db", str(db), "--threads", str(args.threads),
                 "--ceiling-rows", str(args.ceiling_rows)] + (["--compiled"] if args.compiled else []),
                env=os.environ, capture_output=True, text=True, check=True,
            )  # fmt: skip
        last = json.loads(out.stdout.strip().splitlines()[-1])
        table.append(
            [
                str(batch),
                f"{last['ceiling']:,.0f}",
                f"{last['training']:,.0f}",
                f"{last['training'] / last['ceiling']:.0%}",
                f"{last['fit_s']:.1f}",
                " ".join(map(str, last["epochs"])),
                f"{last['val_loss']:.4f}",
                f"{last['val_rank_ic']:.3f}",
                f"{last['point']:,.0f} / {last['mc']:,.0f}",
                f"{last['peak_rss_mib']:,.0f} MiB",
                f"{background.others_cores:.2f}",
            ]
        )
        if args.compiled:
            table[-1].insert(2, f"{last['ceiling_compiled']:,.0f}")
    print(
        f"{last['members']} members stacked, {last['train_rows']:,} training rows, {args.threads} thread(s); "
        f"ceiling: {args.ceiling_rows} rows a member per step; inference: dropout off / {last['mc_samples']} MC samples\n"
    )
    header = ["batch", "ceiling member-samples/s", "training member-samples/s", "of ceiling", "fit s", "epochs (members)",
              "best val loss", "best val rank IC", "inference member-samples/s", "peak RSS", "other processes (cores)"]  # fmt: skip
    if args.compiled:
        header.insert(2, "ceiling, compiled after the LSTM")
    print_table(header, table)


if __name__ == "__main__":
    main()
