"""Robust scaling fitted on training rows only; the scaled inputs carry a per-step "observed" channel."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from invest.errors import DataError

if TYPE_CHECKING:  # only for hints: loading a checkpoint must not import the store
    from invest.modelling.dataset import Arrays

CLIP = 5.0  # scaled features are clipped to +-CLIP robust standard deviations


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
    def fit(cls, arrays: Arrays, target: np.ndarray | None = None) -> Scaler:
        """Fit on training rows; ``target`` is the label the network learns (default ``arrays.target``)."""
        if len(arrays) == 0:
            raise DataError("no training rows: move train.train_end later or fetch more history")
        temporal = arrays.past.reshape(-1, arrays.past.shape[-1])
        t_center, t_scale = robust(temporal)
        s_center, s_scale = robust(arrays.static)
        y_center, y_scale = robust((arrays.target if target is None else target)[:, None])
        return cls(t_center, t_scale, s_center, s_scale, float(y_center[0]), float(y_scale[0]))

    def transform(self, arrays: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """Scaled ``past`` with the step mask (``features.STEP_MASK``) appended as its last channel, and ``static``."""
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


def robust(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's median and IQR / 1.349, ignoring NaN (center 0, scale 1 where a column has no spread)."""
    # a feature with no value on the training rows (fundamentals that start later) gets center 0, scale 1
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "All-NaN slice encountered"
        center = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    center = np.where(np.isfinite(center), center, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return center.astype(np.float32), scale.astype(np.float32)


def _apply(values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    scaled = np.clip((values - center) / scale, -CLIP, CLIP)
    return np.nan_to_num(scaled, nan=0.0).astype(np.float32)
