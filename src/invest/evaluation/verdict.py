"""The lines a reader needs before any table: is there skill, and what the data can and cannot say.

``skill`` compares the model's rank IC with the best ranking baseline on the same rows (the paired
margin and its 95% block-bootstrap interval), so "skill" always means "more than a simple rule
already gives". ``data_caveat`` warns whenever the universe was not chosen point in time: a
universe of today's survivors inflates every return in the report (docs/universe.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from invest.evaluation import MODEL

if TYPE_CHECKING:
    from invest.evaluation.scoring import Evaluation

CONSTANT_BASELINES = ("zero", "historical_mean")  # one prediction for every stock: nothing to rank


def best_ranking_baseline(evaluation: Evaluation) -> str | None:
    """The baseline with the highest rank IC (constant predictors excluded), or None without one."""
    ranked = [name for name in evaluation.baselines if name not in CONSTANT_BASELINES]
    ics = {name: float(evaluation.scores.loc[name, "rank_ic"]) for name in ranked}
    ics = {name: value for name, value in ics.items() if math.isfinite(value)}
    return max(ics, key=ics.__getitem__) if ics else None


def skill(evaluation: Evaluation) -> str:
    """One line: the verdict on the model's ranking skill beyond the best simple baseline."""
    model = float(evaluation.scores.loc[MODEL, "rank_ic"])
    best = best_ranking_baseline(evaluation)
    if best is None or best not in evaluation.margins.index:
        return f"**Verdict: no baseline ranks these stocks, so skill cannot be judged** (model rank IC {model:+.3f})."
    margin: Any = evaluation.margins.loc[best]
    diff, low, high = (float(margin.get(key, math.nan)) for key in ("rank_ic", "rank_ic_lo", "rank_ic_hi"))
    if not all(math.isfinite(value) for value in (diff, low, high)):
        return f"**Verdict: undefined on these rows** (model rank IC {model:+.3f})."
    facts = (
        f"rank IC {model:+.3f} against {float(evaluation.scores.loc[best, 'rank_ic']):+.3f} for the best baseline ({best}); "
        f"model − {best} = {diff:+.3f}, 95% interval {low:+.3f} to {high:+.3f}"
    )
    if low > 0:
        return f"**Verdict: skill: the model ranks stocks better than the best simple baseline** ({facts})."
    if high < 0:
        return f"**Verdict: worse than a simple baseline: {best} ranks these stocks better than the model** ({facts})."
    return f"**Verdict: no evidence of skill beyond the best simple baseline** ({facts}; the interval includes 0)."


def data_caveat(about: dict[str, Any]) -> str | None:
    """The survivorship warning for a universe that was not chosen point in time (None when it was)."""
    if about.get("simulated"):
        return None
    if about.get("chosen_among_given"):
        return (
            "> **Survivorship bias, in part.** Each date's stocks were chosen by liquidity from what was known that day, "
            "but only among the price files given: if they hold only stocks still listed when the data was downloaded, "
            "every return here is still biased upwards; margins between predictors on the same rows less so "
            "(docs/universe.md)."
        )
    if about.get("point_in_time_universe"):
        return None
    return (
        "> **Survivorship bias.** This universe was not chosen point in time "
        f"({about.get('universe') or 'a fixed list of tickers'}): stocks that were delisted, failed or taken over "
        "before its data ends are missing, so every return here, the model's and the baselines', is biased upwards; "
        "margins between predictors on the same rows less so. A point-in-time universe (data.universe: sp500, or a "
        "ticker,start,end membership file) fixes the choice; only price files of the delisted fix the rest "
        "(docs/universe.md)."
    )
