"""GPU smoke test: does training run on this machine's accelerator, and how fast?

    python bench/gpu_smoke.py [--tickers 300] [--epochs 2]

Builds a simulated market in a temp dir, then trains the default network for a few
epochs on cpu and (when present) cuda with and without bfloat16 mixed precision,
printing samples/s and peak memory. Nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from invest import cache, params
from invest.data.market import simulate
from invest.data.panel import load_panel
from invest.data.raw import write_table
from invest.data.schema import TABLES_BY_NAME
from invest.modelling import training


def run(prepared, train_params, device: torch.device) -> tuple[float, float]:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    started = time.perf_counter()
    training.fit(prepared, train_params, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    samples = int(prepared.masks["train"].sum()) * train_params.epochs
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return samples / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, frame in simulate(args.tickers, seed=1).items():
            write_table(base / "raw", TABLES_BY_NAME[name], frame)
        defaults = params.from_dict({})
        cache.main(defaults, raw_dir=base / "raw", db_path=base / "db.sqlite")
        panel = load_panel(base / "db.sqlite")
        rows = []
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device_name in devices:
            for mixed in [False, True] if device_name == "cuda" else [False]:
                train_params = params.from_dict(
                    {
                        "train": {
                            "device": device_name,
                            "epochs": args.epochs,
                            "patience": args.epochs,
                            "batch_size": args.batch_size,
                            "mixed_precision": mixed,
                        }
                    }
                ).train
                prepared = training.prepare(panel, train_params)
                throughput, peak = run(prepared, train_params, torch.device(device_name))
                rows.append((device_name, "bf16" if mixed else "fp32", f"{throughput:,.0f}", f"{peak:,.0f}"))
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    print(f"torch {torch.__version__}, {name}, {args.tickers} tickers, batch {args.batch_size}")
    print(f"{'device':<8}{'precision':<11}{'samples/s':>12}{'peak MiB':>10}")
    for row in rows:
        print(f"{row[0]:<8}{row[1]:<11}{row[2]:>12}{row[3]:>10}")


if __name__ == "__main__":
    main()
