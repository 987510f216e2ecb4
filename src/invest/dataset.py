"""From the store to model arrays: sequences, static vectors, targets, splits and scaling."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from invest import store
from invest.errors import DataError
from invest.params import HORIZONS

CLIP = 5.0  # scaled features are clipped to +-CLIP robust standard deviations


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


def label_column(horizon: str, target: str) -> str:
    return f"fwd_{'exc' if target == 'excess' else 'ret'}_{horizon}"


@dataclass
class Arrays:
    """Model inputs for a set of snapshot rows (unscaled; NaN marks a missing value)."""

    past: np.ndarray  # [N, T, F]
    static: np.ndarray  # [N, S]
    target: np.ndarray  # [N], NaN where the future is unknown
    dates: np.ndarray  # [N] datetime64
    tickers: np.ndarray  # [N] str

    def subset(self, mask: np.ndarray) -> Arrays:
        return Arrays(self.past[mask], self.static[mask], self.target[mask], self.dates[mask], self.tickers[mask])

    def __len__(self) -> int:
        return len(self.target)


def build_arrays(panel: Panel, horizon: str, target: str, seq_len: int, shift_months: int = 0) -> Arrays:
    """One row per snapshot: the last ``seq_len`` monthly steps up to its date, its static features, its label.

    ``shift_months`` > 0 takes the features from that many months *after* the
    snapshot: a deliberate leak used only by the look-ahead control.
    """
    snapshots = panel.snapshots
    label = snapshots[label_column(horizon, target)].to_numpy(dtype=float, copy=True)
    monthly = panel.monthly
    temporal = monthly[panel.temporal_features].to_numpy(dtype=np.float32)
    position = pd.Series(np.arange(len(monthly)), index=pd.MultiIndex.from_frame(monthly[["ticker", "date"]]))
    static_frame = snapshots[["ticker", "date", *panel.static_features]]
    if shift_months:
        static_frame = _shift(static_frame, shift_months)
    anchor = snapshots[["ticker", "date"]].copy()
    if shift_months:
        anchor = _shift(anchor, shift_months)
    end = position.reindex(pd.MultiIndex.from_frame(anchor[["ticker", "date"]])).to_numpy()
    available = ~np.isnan(end)
    end = np.where(available, end, 0).astype(int)
    steps = end[:, None] - np.arange(seq_len - 1, -1, -1)[None, :]  # [N, T]
    valid = steps >= 0
    steps = np.clip(steps, 0, None)
    same_ticker = monthly["ticker"].to_numpy()[steps] == anchor["ticker"].to_numpy()[:, None]
    valid &= same_ticker & available[:, None]
    past = temporal[steps]  # [N, T, F]
    past[~valid] = np.nan
    static = static_frame[panel.static_features].to_numpy(dtype=np.float32, copy=True)
    if shift_months:
        label = np.where(available, label, np.nan)
    return Arrays(past, static, label, snapshots["date"].to_numpy(), snapshots["ticker"].to_numpy())


def _shift(frame: pd.DataFrame, months: int) -> pd.DataFrame:
    """The same rows with values taken from the row ``months`` snapshots later for the same ticker."""
    shifted = frame.groupby("ticker", sort=False).shift(-months)
    shifted.insert(0, "ticker", frame["ticker"].to_numpy())
    if "date" not in shifted:
        shifted["date"] = frame["date"]
    return shifted


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


def horizon_months(horizon: str) -> int:
    return HORIZONS[horizon]


@dataclass
class Scaler:
    """Robust standardisation fitted on training rows: (x - median) / IQR-scale, clipped; NaN -> 0."""

    temporal_center: np.ndarray
    temporal_scale: np.ndarray
    static_center: np.ndarray
    static_scale: np.ndarray
    target_center: float
    target_scale: float

    @classmethod
    def fit(cls, arrays: Arrays) -> Scaler:
        if len(arrays) == 0:
            raise DataError("no training rows: move train.train_end later or fetch more history")
        temporal = arrays.past.reshape(-1, arrays.past.shape[-1])
        t_center, t_scale = _robust(temporal)
        s_center, s_scale = _robust(arrays.static)
        y_center, y_scale = _robust(arrays.target[:, None])
        return cls(t_center, t_scale, s_center, s_scale, float(y_center[0]), float(y_scale[0]))

    def transform(self, arrays: Arrays) -> tuple[np.ndarray, np.ndarray]:
        observed = ~np.isnan(arrays.past).all(axis=-1, keepdims=True)  # [N, T, 1]
        past = _apply(arrays.past, self.temporal_center, self.temporal_scale)
        past = np.concatenate([past, observed.astype(np.float32)], axis=-1)  # [N, T, F + 1]
        return past, _apply(arrays.static, self.static_center, self.static_scale)

    def scale_target(self, target: np.ndarray) -> np.ndarray:
        return ((target - self.target_center) / self.target_scale).astype(np.float32)

    def unscale_target(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.target_scale + self.target_center

    def to_dict(self) -> dict[str, list[float] | float]:
        return {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        return cls(
            **{
                key: (np.asarray(value, dtype=np.float32) if isinstance(value, list) else float(value))
                for key, value in data.items()
            }
        )


def _robust(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        center = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    center = np.where(np.isfinite(center), center, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return center.astype(np.float32), scale.astype(np.float32)


def _apply(values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    scaled = np.clip((values - center) / scale, -CLIP, CLIP)
    return np.nan_to_num(scaled, nan=0.0).astype(np.float32)
