"""How the network's intervals and confidence held on the test rows: coverage per level, year and
volatility tercile; error and rank IC by confidence quintile (the intervals themselves:
``invest.modelling.uncertainty``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from invest.data.features import VOLATILITY
from invest.evaluation import metrics
from invest.modelling.uncertainty import KINDS, interval_columns


def coverage_table(frame: pd.DataFrame, levels: Sequence[float], target: str = "target") -> pd.DataFrame:
    """Coverage and mean width of each interval kind and level: pooled, per test year, per volatility tercile.

    Columns: kind (calibrated | mc_dropout), level, group (pooled | year | volatility), bucket
    ("all", the year, or the tercile 1..3 from low to high volatility), coverage, width, n.
    """
    groupings = {
        "year": frame["date"].dt.year,
        "volatility": pd.qcut(frame[VOLATILITY].rank(method="first"), 3, labels=[1, 2, 3]),
    }
    rows = []
    for level in levels:
        for kind, prefix in KINDS.items():
            (lower,), (upper,) = interval_columns([level], prefix)
            inside = (frame[target] >= frame[lower]) & (frame[target] <= frame[upper])
            width = frame[upper] - frame[lower]
            rows.append((kind, level, "pooled", "all", float(inside.mean()), float(width.mean()), len(inside)))
            for group, by in groupings.items():
                for bucket, hits in inside.groupby(by, observed=True):
                    rows.append((kind, level, group, str(bucket), float(hits.mean()), float(width[hits.index].mean()), len(hits)))
    return pd.DataFrame(rows, columns=["kind", "level", "group", "bucket", "coverage", "width", "n"])


def confidence_table(frame: pd.DataFrame, target: str = "target") -> pd.DataFrame:
    """MAE and rank IC of the model by confidence quintile (1 = the least confident fifth)."""
    quintile = pd.qcut(frame["confidence"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
    rows = []
    for bucket, block in frame.groupby(quintile, observed=True):
        mae = float((block["model"] - block[target]).abs().mean())
        rank_ic = float(metrics.rank_ic_by_date(block, "model", target).mean())
        rows.append((int(bucket), mae, rank_ic, len(block)))
    return pd.DataFrame(rows, columns=["quintile", "mae", "rank_ic", "n"])


def mae_order(table: pd.DataFrame) -> float:
    """Rank correlation of confidence quintile and MAE: -1 when errors fall steadily as confidence rises."""
    maes = table["mae"].reset_index(drop=True)
    return float(maes.corr(pd.Series(range(len(maes))), method="spearman"))
