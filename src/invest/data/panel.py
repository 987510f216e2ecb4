"""The store as frames: what modelling reads (snapshots, monthly steps, oracle, feature names)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from invest.data import store
from invest.errors import DataError


@dataclass
class Panel:
    """Everything the model needs from the store, as frames keyed by (ticker, date)."""

    snapshots: pd.DataFrame
    monthly: pd.DataFrame
    temporal_features: list[str]
    static_features: list[str]
    oracle: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)


def load_panel(db_path: str | os.PathLike[str]) -> Panel:
    connection = store.connect_readonly(db_path)
    try:
        meta = store.read_meta(connection)
        oracle = store.read_table(connection, "oracle") if meta.get("has_oracle") else None
        return Panel(
            snapshots=store.read_table(connection, "snapshots"),
            monthly=store.read_table(connection, "monthly"),
            temporal_features=list(meta["temporal_features"]),
            static_features=list(meta["static_features"]),
            oracle=oracle,
            meta=meta,
        )
    finally:
        connection.close()


def labelled_dates(db_path: str | os.PathLike[str], column: str) -> tuple[pd.DatetimeIndex, dict]:
    """The snapshot date of every row whose ``column`` label is known, and the store's meta (no features read)."""
    connection = store.connect_readonly(db_path)
    try:
        meta = store.read_meta(connection)
        if column not in meta.get("labels", [column]):
            raise DataError(f"{db_path} has no {column} labels; rebuild it with `dvc repro cache`")
        frame = store.read_frame(connection, f"SELECT date FROM snapshots WHERE {column} IS NOT NULL ORDER BY date")
    finally:
        connection.close()
    return pd.DatetimeIndex(frame["date"]), meta
