"""Interval coverage with conformal calibration in returns (before) and in log(1 + return) (now).

Usage (run by hand; minutes: the walk-forward evaluation runs once per space):
    python bench/interval_space.py [--db data/stock_data.db] [--params params.yaml] [--set key=value ...]

The networks are identical in both runs (same seeds); only the calibration space differs. Prints,
per nominal level, the pooled coverage and mean width of each space, and the lowest lower bound
(with ``--set train.target=raw``, a bound below -100% is a loss no stock can make; an excess
return's bound is built above -100% minus the expected market move).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import yaml
from common import REPO, machine, print_table

sys.path.insert(0, str(REPO / "src"))

from invest.data.panel import load_panel  # noqa: E402
from invest.evaluation import walk_forward  # noqa: E402
from invest.modelling import uncertainty  # noqa: E402
from invest.modelling.training import configure_runtime  # noqa: E402
from invest.params import from_dict  # noqa: E402


def run(panel, params, space: str):
    original = uncertainty.calibrate

    def in_space(*args, **kwargs):
        return original(*args, **{**kwargs, "space": space})

    uncertainty.calibrate = in_space
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return walk_forward.walk_forward(panel, params)
    finally:
        uncertainty.calibrate = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(REPO / "data" / "stock_data.db"))
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="section.key=value")
    args = parser.parse_args()
    raw = yaml.safe_load(Path(args.params).read_text())
    for item in args.set:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        raw[section][name] = yaml.safe_load(value)
    raw["evaluate"] |= {"n_jobs": 1, "backend": "local"}  # the patched calibration lives in this process only
    params = from_dict(raw)
    configure_runtime(params.train.num_threads)
    panel = load_panel(args.db)
    print(f"# Interval space: {machine()}; {args.db}, target {params.train.horizon} {params.train.target}\n")
    rows = []
    for space in ("linear", uncertainty.LOG_SPACE):
        start = time.perf_counter()
        frame = run(panel, params, space)
        for level in params.train.interval_levels:
            (lower,), (upper,) = uncertainty.interval_columns([level])
            known = frame["target"].notna()
            inside = (frame["target"] >= frame[lower]) & (frame["target"] <= frame[upper])
            low = frame[lower][known]
            rows.append(
                [
                    "returns (before)" if space == "linear" else "log(1 + return) (now)",
                    f"{level:.0%}",
                    f"{inside[known].mean():.3f}",
                    f"{(frame[upper] - frame[lower])[known].mean():.3f}",
                    f"{low.min():+.2f}",
                    f"{(low < -1).mean():.2%}",
                    f"{time.perf_counter() - start:.0f}",
                ]
            )
        print(f"{space}: {int(frame['target'].notna().sum())} labelled test rows", file=sys.stderr)
    header = ["calibrated in", "nominal", "coverage", "mean width", "lowest lower bound", "bounds below -100%", "seconds"]
    print_table(header, rows)


if __name__ == "__main__":
    main()
