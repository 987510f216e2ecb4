"""Training throughput on the CPU: samples/s and peak memory, by thread count.

    python bench/train_throughput.py [--db data/stock_data.db] [--epochs 3] [--threads 1 2]

Uses the store given by ``--db`` (default: data/stock_data.db when it exists, else the default
100-ticker simulated market built in a temporary directory) and the ``train`` settings of
params.yaml. Each thread setting runs in its own process (thread pools and peak RSS start
clean): one warm-up epoch, then ``--epochs`` timed epochs of the very loop ``train.fit`` runs
(AdamW, Huber loss, gradient clipping, batch size from params.yaml), then timed inference
(no grad, batches of 2048). A row with OMP_WAIT_POLICY=PASSIVE shows what spinning OpenMP
workers cost when another process holds a core; ``--busy 1`` keeps one core busy with a spinning
process during the measurements, to show the same on purpose (a shared or loaded machine).
"""

from __future__ import annotations

import argparse
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


def worker(db: Path, threads: int, epochs: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from invest import params as params_module
    from invest.data.panel import load_panel
    from invest.modelling.training import build_network, configure_runtime, prepare, seed

    train_params = params_module.load(REPO / "params.yaml").train
    configure_runtime(threads)
    seed(train_params.seed)
    rss_before = _rss()
    prepared = prepare(load_panel(db), train_params)
    network = build_network(prepared, train_params)
    optimizer = torch.optim.AdamW(network.parameters(), lr=train_params.learning_rate, weight_decay=train_params.weight_decay)
    loss_fn = nn.HuberLoss(delta=train_params.huber_delta)
    past, static = torch.from_numpy(prepared.past), torch.from_numpy(prepared.static)
    target = torch.from_numpy(np.nan_to_num(prepared.target))
    rows = np.flatnonzero(prepared.masks["train"])
    rng = np.random.default_rng(0)

    def epoch() -> None:
        network.train()
        for batch in np.array_split(rng.permutation(rows), max(1, len(rows) // train_params.batch_size)):
            index = torch.as_tensor(batch)
            loss = loss_fn(network(past[index], static[index]), target[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()

    epoch()  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        epoch()
    train_s, train_cpu = time.perf_counter() - started, time.process_time() - cpu

    network.eval()
    started = time.perf_counter()
    with torch.no_grad():
        for begin in range(0, len(past), 2048):
            network(past[begin : begin + 2048], static[begin : begin + 2048])
    infer_s = time.perf_counter() - started
    return {
        "threads": torch.get_num_threads(),
        "train_rows": len(rows),
        "train_samples_per_s": len(rows) * epochs / train_s,
        "epoch_s": train_s / epochs,
        "cpu_per_wall": train_cpu / train_s,
        "infer_samples_per_s": len(past) / infer_s,
        "rss_before_mib": rss_before / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "arrays_mib": (prepared.past.nbytes + prepared.static.nbytes) / 2**20,
        "parameters": sum(p.numel() for p in network.parameters()),
    }


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


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
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-passive", action="store_true", help="skip the OMP_WAIT_POLICY=PASSIVE rows")
    parser.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile (simulated load)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.db, args.worker, args.epochs)))
        return

    db = args.db or (REPO / "data" / "stock_data.db")
    if not db.exists():
        db = build_default_store(Path(tempfile.mkdtemp(prefix="invest-throughput-")))
    print(f"machine: {machine()}\nstore: {db}\n")
    settings = [(n, {}) for n in args.threads]
    if not args.no_passive:
        settings += [(n, {"OMP_WAIT_POLICY": "PASSIVE"}) for n in args.threads if n > 1]
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    rows = []
    try:
        rows = [measure(db, threads, extra_env, args.epochs) for threads, extra_env in settings]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    result = rows[-1][-1]
    rows = [row[:-1] for row in rows]
    busy = f"; {args.busy} spinning process(es) kept {args.busy} core(s) busy throughout" if args.busy else ""
    print(
        f"{result['train_rows']:,} training rows per epoch, {result['parameters']:,} parameters, model inputs "
        f"{result['arrays_mib']:,.0f} MiB, batch size from params.yaml; {args.epochs} timed epochs after one warm-up{busy}\n"
    )
    print_table(
        ["threads", "train samples/s", "s/epoch", "CPU/wall", "inference samples/s", "peak RSS", "other processes (cores busy)"],
        rows,
    )


def measure(db: Path, threads: int, extra_env: dict, epochs: int) -> list:
    """One worker process; a table row (the raw result dict last)."""
    with Background() as background:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(threads), "--db", str(db), "--epochs", str(epochs)],
            env={**os.environ, **extra_env},
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    label = f"{threads}" + (" (OMP_WAIT_POLICY=PASSIVE)" if extra_env else "")
    return [
        label,
        f"{result['train_samples_per_s']:,.0f}",
        f"{result['epoch_s']:.2f}",
        f"{result['cpu_per_wall']:.2f}",
        f"{result['infer_samples_per_s']:,.0f}",
        f"{result['peak_rss_mib']:,.0f} MiB",
        f"{background.others_cores:.2f}",
        result,
    ]


if __name__ == "__main__":
    main()
