"""Stage ``splits``: check the chronological splits against the store before anything is trained.

DVC removes a stage's outputs before it runs the stage, so a ``train`` or ``evaluate`` that found
its dates wrong would already have cost the model, the metrics and the report. This stage runs
first (``train`` and ``evaluate`` depend on its two files) and writes what they will use: the
training split, and the walk-forward folds (or the single test block), each with its labelled
rows and dates. Its outputs are kept when it fails (``persist`` in dvc.yaml), so a bad date costs
nothing: fix it and run ``dvc repro`` again.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

from invest.data.features import label_column
from invest.data.panel import labelled_dates
from invest.errors import ConfigError
from invest.io import write_json
from invest.modelling.splits import (
    Split,
    check_split,
    check_test_years,
    labelled_span,
    snapshots_per_year,
    walk_forward,
)
from invest.params import Params

SECTIONS = ("train", "evaluate")


def main(
    params: Params,
    *,
    db_path: str | os.PathLike[str],
    train_report: str | os.PathLike[str],
    evaluate_report: str | os.PathLike[str],
) -> None:
    train, settings = params.train, params.evaluate
    dates, meta = labelled_dates(db_path, label_column(train.horizon, train.target))
    split = Split.from_dates(train.train_end, train.val_end, train.embargo)
    check_split(dates.to_numpy(), split, train.horizon, "train.train_end / train.val_end")
    if settings.mode == "walk_forward":
        per_year = snapshots_per_year(str(meta.get("snapshot_freq", "monthly")))
        check_test_years(dates.to_numpy(), settings.test_years, train.embargo, settings.val_months, train.horizon, per_year)
        folds = {
            str(year): describe(walk_forward(year, train.embargo, settings.val_months), dates, year)
            for year in settings.test_years
        }
    else:
        test = split.masks(dates)["test"]
        if not test.any():
            raise ConfigError(
                f"evaluate.mode single tests on snapshots after {split.test_start.date()} (train.val_end + the embargo) "
                f"but none has a known {train.horizon} return ({labelled_span(dates)}); move train.val_end earlier"
            )
        folds = {"single": describe(split, dates)}
    span = {"first": _day(dates.min()), "last": _day(dates.max())}
    label = {"horizon": train.horizon, "target": train.target, "embargo_months": train.embargo, "labelled": span}
    write_json(train_report, {**label, "split": describe(split, dates)}, sort_keys=False)
    write_json(evaluate_report, {**label, "mode": settings.mode, "folds": folds}, sort_keys=False)
    print(f"splits: {len(folds)} test block(s) checked against {db_path} ({labelled_span(dates)})", file=sys.stderr)


def describe(split: Split, dates: pd.DatetimeIndex, test_year: int | None = None) -> dict:
    """Each block's window, labelled rows and first/last labelled date."""
    masks = split.masks(dates)
    if test_year is not None:
        masks["test"] = np.asarray(dates.year == test_year)
    blocks = {}
    for name, mask in masks.items():
        chosen = dates[mask]
        blocks[name] = {
            "rows": int(mask.sum()),
            "dates": int(chosen.nunique()),
            "first": _day(chosen.min()) if len(chosen) else None,
            "last": _day(chosen.max()) if len(chosen) else None,
        }
    return {"boundaries": split.to_dict(), **blocks}


def _day(value: pd.Timestamp) -> str:
    return str(pd.Timestamp(value).date())
