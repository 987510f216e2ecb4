"""Chronological splits: train / validation / test periods separated by embargoes.

``Split.from_dates`` is the single split of the ``train`` stage; ``walk_forward`` gives the
expanding-window split of one test year. For a test year Y with embargo e >= horizon:
validation = the ``val_months`` of snapshots ending e months before Y starts, training =
every snapshot up to e months before validation, so no training or validation label window
reaches into the test year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from invest.errors import ConfigError

MIN_ROWS = 10  # labelled rows a training or validation block needs (training.prepare refuses fewer)


@dataclass(frozen=True)
class Split:
    """Chronological train / validation / test periods separated by embargoes."""

    train_end: pd.Timestamp
    val_start: pd.Timestamp
    val_end: pd.Timestamp
    test_start: pd.Timestamp

    @classmethod
    def from_dates(cls, train_end: str, val_end: str, embargo_months: int) -> Split:
        train_end_ts, val_end_ts = pd.Timestamp(train_end), pd.Timestamp(val_end)
        gap = pd.DateOffset(months=embargo_months)
        return cls(train_end_ts, train_end_ts + gap, val_end_ts, val_end_ts + gap)

    def masks(self, dates: np.ndarray) -> dict[str, np.ndarray]:
        dates = pd.DatetimeIndex(dates)
        return {
            "train": np.asarray(dates <= self.train_end),
            "val": np.asarray((dates > self.val_start) & (dates <= self.val_end)),
            "test": np.asarray(dates > self.test_start),
        }

    def to_dict(self) -> dict[str, str]:
        return {name: str(value.date()) for name, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Split:
        return cls(*(pd.Timestamp(data[key]) for key in ("train_end", "val_start", "val_end", "test_start")))


def walk_forward(year: int, embargo_months: int, val_months: int) -> Split:
    """The split that tests on the snapshots of ``year`` (see the module docstring)."""
    test_start = pd.Timestamp(year=year, month=1, day=1) - pd.Timedelta(days=1)
    val_end = test_start - pd.DateOffset(months=embargo_months)
    val_start = val_end - pd.DateOffset(months=val_months)
    return Split(val_start - pd.DateOffset(months=embargo_months), val_start, val_end, test_start)


def labelled_span(dates: pd.DatetimeIndex) -> str:
    """What every date-range message names: the data's first and last labelled snapshot dates."""
    if dates.empty:
        return "no snapshot has a known label"
    return f"labelled snapshots run {dates.min().date()} to {dates.max().date()}"


def check_split(labelled_dates: np.ndarray, split: Split, horizon: str, where: str) -> None:
    """A ``ConfigError`` naming the data's labelled dates unless training and validation both get ``MIN_ROWS`` rows."""
    dates = pd.DatetimeIndex(labelled_dates)
    masks = split.masks(dates)
    for block in ("train", "val"):
        count = int(masks[block].sum())
        if count < MIN_ROWS:
            name = {"train": "training", "val": "validation"}[block]
            window = (
                f"up to {split.train_end.date()}"
                if block == "train"
                else f"{split.val_start.date()} (exclusive) to {split.val_end.date()}"
            )
            raise ConfigError(
                f"{where}: only {count} labelled {horizon} rows for {name} ({window}; {labelled_span(dates)}); "
                "move train.train_end / train.val_end inside the labelled dates, or fetch a longer history (data.start)"
            )


def snapshots_per_year(freq: str) -> int:
    """How many snapshot dates a full year has (``cache.snapshot_freq``)."""
    return {"monthly": 12, "quarterly": 4}[freq]


def check_test_years(
    labelled_dates: np.ndarray,
    years: list[int],
    embargo_months: int,
    val_months: int,
    horizon: str,
    dates_per_year: int = 12,
) -> None:
    """One line naming every test year that cannot be evaluated on these data, and the years that can.

    A year can be tested if every one of its ``dates_per_year`` snapshot dates has labels (a year
    scored on 2 month ends is not a year) and its walk-forward split leaves at least ``MIN_ROWS``
    labelled rows to train on and to validate on. Run before anything is trained.
    """
    dates = pd.DatetimeIndex(labelled_dates)
    if dates.empty:
        raise ConfigError(
            f"no snapshot has a known {horizon} return: fetch a longer history (data.start) or a shorter train.horizon"
        )
    per_year = pd.Series(dates.unique()).dt.year.value_counts()

    def problem(year: int) -> str | None:
        masks = walk_forward(year, embargo_months, val_months).masks(dates)
        count = int(per_year.get(year, 0))
        if count == 0:
            return "no labelled snapshots"
        if count < dates_per_year:
            return f"labels on only {count} of its {dates_per_year} snapshot dates"
        if masks["train"].sum() < MIN_ROWS or masks["val"].sum() < MIN_ROWS:
            return "too little labelled history before it to train and validate on"
        return None

    bad = {year: reason for year in years if (reason := problem(year)) is not None}
    if not bad:
        return
    good = [year for year in range(dates.min().year, dates.max().year + 1) if problem(year) is None]
    fix = (
        f"choose years from {good[0]} to {good[-1]}"
        if good
        else "fetch a longer history (data.start) or shorten evaluate.val_months"
    )
    named = "; ".join(f"{year} has {reason}" for year, reason in bad.items())
    raise ConfigError(f"evaluate.test_years: {named} ({horizon} returns; {labelled_span(dates)}); {fix}")
