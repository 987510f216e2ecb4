"""From the store's frames to model arrays: one row per snapshot, its sequence, static vector and label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from invest.data.features import label_column
from invest.data.panel import Panel
from invest.modelling.cross_section import normalise_panel
from invest.params import TrainParams


@dataclass
class Arrays:
    """Model inputs for a set of snapshot rows (unscaled; NaN marks a missing value)."""

    past: np.ndarray  # [N, T, F]
    static: np.ndarray  # [N, S]
    target: np.ndarray  # [N], NaN where the future is unknown
    dates: np.ndarray  # [N] datetime64
    tickers: np.ndarray  # [N] str
    market: np.ndarray  # [N] the index's return over the label's horizon (raw minus excess), NaN where unknown
    auxiliary: np.ndarray | None = None  # [N, K] labels at train.aux_horizons (same target kind), NaN where unknown

    def subset(self, mask: np.ndarray) -> Arrays:
        auxiliary = None if self.auxiliary is None else self.auxiliary[mask]
        return Arrays(
            self.past[mask], self.static[mask], self.target[mask], self.dates[mask], self.tickers[mask], self.market[mask],
            auxiliary,
        )  # fmt: skip

    def with_target(self, target: np.ndarray, auxiliary: np.ndarray | None = None) -> Arrays:
        """The same inputs (shared, not copied) with another label (and auxiliary labels, kept if not given)."""
        auxiliary = self.auxiliary if auxiliary is None else auxiliary
        return Arrays(self.past, self.static, target, self.dates, self.tickers, self.market, auxiliary)

    def without_inputs(self) -> Arrays:
        """Labels, dates and tickers only: what a job receives beside the inputs every job shares."""
        return Arrays(None, None, self.target, self.dates, self.tickers, self.market, self.auxiliary)  # type: ignore[arg-type]

    def with_inputs(self, inputs: Arrays) -> Arrays:
        """These labels with ``inputs``' sequences and static vectors (the shared, read-only ones)."""
        return Arrays(inputs.past, inputs.static, self.target, self.dates, self.tickers, self.market, self.auxiliary)

    def __len__(self) -> int:
        return len(self.target)


def build_arrays(
    panel: Panel, horizon: str, target: str, seq_len: int, shift_months: int = 0, aux_horizons: tuple[str, ...] = ()
) -> Arrays:
    """One row per snapshot: the last ``seq_len`` monthly steps up to its date, its static features, its label
    (and its labels at ``aux_horizons``).

    ``shift_months`` > 0 takes the features from that many months *after* the
    snapshot: a deliberate leak used only by the look-ahead control.
    """
    snapshots = panel.snapshots
    label = snapshots[label_column(horizon, target)].to_numpy(dtype=float, copy=True)
    market = (snapshots[label_column(horizon, "raw")] - snapshots[label_column(horizon, "excess")]).to_numpy(dtype=float)
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
    auxiliary = None
    if aux_horizons:
        auxiliary = np.column_stack([snapshots[label_column(h, target)].to_numpy(dtype=float) for h in aux_horizons])
    if shift_months:
        label = np.where(available, label, np.nan)
        auxiliary = None if auxiliary is None else np.where(available[:, None], auxiliary, np.nan)
    return Arrays(past, static, label, snapshots["date"].to_numpy(), snapshots["ticker"].to_numpy(), market, auxiliary)


def _shift(frame: pd.DataFrame, months: int) -> pd.DataFrame:
    """The same rows with values taken from the row ``months`` snapshots later for the same ticker."""
    shifted = frame.groupby("ticker", sort=False).shift(-months)
    shifted.insert(0, "ticker", frame["ticker"].to_numpy())
    if "date" not in shifted:
        shifted["date"] = frame["date"]
    return shifted


def load_arrays(panel: Panel, params: TrainParams) -> Arrays:
    """Model inputs for every snapshot (features shifted one horizon ahead under the look-ahead control)."""
    shift = params.horizon_months if params.control == "future_features" else 0
    panel = normalise_panel(panel, params.feature_norm)
    return build_arrays(
        panel, params.horizon, params.target, params.seq_len, shift_months=shift, aux_horizons=params.aux_horizons
    )


def arrays_for(panel: Panel, target: dict) -> Arrays:
    """Model inputs as a checkpoint's ``target`` record describes them (predict, compare)."""
    panel = normalise_panel(panel, target.get("feature_norm", "robust"))
    return build_arrays(panel, target["horizon"], target["kind"], int(target["seq_len"]))
