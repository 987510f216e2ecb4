"""``metrics/eval.json``: the evaluation's tables flattened into one level of keys, made here only;
``metrics/headline.json``: the few of them a comparison screen shows (``headline``).

Keys (docs/metrics.md): ``rows``, ``dates``; ``<predictor>_<metric>`` for the network, every
baseline and the oracle; the base rates; ``model_share_of_oracle_ic``;
``margin_vs_<baseline>_<rank_ic|mae>[_lo|_hi]``; interval coverage and width
(``interval_80_coverage``, ``mc_interval_80_coverage``, ``y2021_interval_80_coverage``,
``vol1_interval_80_coverage`` ...); error by confidence quintile; a single network's scores over the
ensemble's seeds (``model_members_rank_ic_mean``, ``_sd``); the portfolio backtest
(``portfolio_<predictor>_<book>_<statistic>``, docs/portfolio.md); and per test year
``y<year>_<predictor>_rank_ic``, ``y<year>_model_mae``, ``y<year>_rows``. Non-finite values are null.
"""

from __future__ import annotations

import math
from typing import Any

from invest.evaluation import MODEL, ORACLE, coverage, portfolio
from invest.evaluation.scoring import Evaluation
from invest.modelling.uncertainty import TOO_UNCERTAIN, level_label

INTERVAL_KEY = {"calibrated": "interval", "mc_dropout": "mc_interval"}


def flatten(evaluation: Evaluation) -> dict[str, Any]:
    frame = evaluation.frame
    out: dict[str, Any] = {"rows": len(frame), "dates": int(frame["date"].nunique())}
    for name, row in evaluation.scores.iterrows():
        out |= {f"{name}_{key}": value for key, value in row.items()}
    out |= evaluation.base_rates
    if evaluation.has_oracle:
        out["model_share_of_oracle_ic"] = out[f"{MODEL}_rank_ic"] / out[f"{ORACLE}_rank_ic"]
    for name, row in evaluation.margins.iterrows():
        out |= {f"margin_vs_{name}_{key}": value for key, value in row.items()}
    if evaluation.coverage is not None:
        out |= coverage_keys(evaluation.coverage)
        for row in evaluation.confidence.itertuples(index=False):
            out[f"confidence_q{row.quintile}_mae"] = row.mae
            out[f"confidence_q{row.quintile}_rank_ic"] = row.rank_ic
        out["confidence_mae_order"] = coverage.mae_order(evaluation.confidence)
    if TOO_UNCERTAIN in frame:  # share of predictions whose interval was wider than the spread of all outcomes
        out["too_uncertain_share"] = float(frame[TOO_UNCERTAIN].mean())
    if evaluation.members is not None:  # one seed's network alone: mean and spread over the ensemble's seeds
        for key in ("rank_ic", "mae"):
            out[f"model_members_{key}_mean"] = float(evaluation.members[key].mean())
            out[f"model_members_{key}_sd"] = float(evaluation.members[key].std(ddof=1))
    for year, row in evaluation.by_year.iterrows():
        for key, value in row.items():
            out[f"y{year}_{key}"] = int(value) if key == "rows" else value
    if evaluation.portfolio is not None:
        out |= portfolio_keys(evaluation.portfolio)
    return {key: _finite_or_none(value) for key, value in out.items()}


# every predictor's books, compactly: what acting on its ranking earned after costs, against the index
# and the equal-weighted universe (the network's books keep every statistic; docs/portfolio.md)
PORTFOLIO_KEYS = tuple(
    f"{book}_{key}"
    for book in portfolio.STRATEGIES
    for key in (
        "net_return_ann", "net_sharpe", "net_max_drawdown", "turnover", "gross_excess_index_ann",
        *(f"net_excess_{versus}_{stat}" for versus in ("index", "ew") for stat in ("ann", "lo", "hi", "t")),
    )
)  # fmt: skip


def portfolio_keys(results: dict[str, portfolio.BacktestResult]) -> dict[str, float]:
    """``portfolio_<predictor>_<book>_<statistic>`` (every statistic for the network, ``PORTFOLIO_KEYS`` for
    the others), the benchmarks' and shared ones once, and the network's top book per test year."""
    flat = portfolio.flatten(results)
    prefixes = tuple(f"portfolio_{name}_" for name in results if name != MODEL)
    out = {
        key: value
        for key, value in flat.items()
        if not key.startswith(prefixes) or key.removeprefix(next(p for p in prefixes if key.startswith(p))) in PORTFOLIO_KEYS
    }
    for year, row in results[MODEL].by_year.iterrows():
        for versus in ("index", "ew"):
            out[f"y{year}_portfolio_model_top_net_excess_{versus}"] = row.get(f"top_net_excess_{versus}_ann")
    return out


def coverage_keys(table) -> dict[str, float]:
    out = {}
    for row in table.itertuples(index=False):
        name = f"{INTERVAL_KEY[row.kind]}_{level_label(row.level)}"
        if row.group == "pooled":
            out[f"{name}_coverage"] = row.coverage
            out[f"{name}_width"] = row.width
        elif row.group == "year":
            out[f"y{row.bucket}_{name}_coverage"] = row.coverage
        else:
            out[f"vol{row.bucket}_{name}_coverage"] = row.coverage
    return out


HEADLINE_DIGITS = 3  # the comparison screen: differences below 0.001 are noise at these sample sizes


def headline(flat: dict[str, Any], evaluation: Evaluation) -> dict[str, float]:
    """``metrics/headline.json``: the few numbers ``dvc exp show`` and ``dvc metrics diff`` compare
    (docs/metrics.md), in reading order, rounded to 3 decimals. Keys whose input is absent are left out.

    Five columns, so that the README's ``dvc exp show --only-changed --drop 'State|Executor|models/'``
    fits 120 columns beside the experiment name, its date and a changed param; the oracle's share (simulated market) is a rescaled ``rank_ic`` among
    trials on the same data and stays in eval.json with everything else."""
    ranking = [name for name in evaluation.baselines if flat.get(f"margin_vs_{name}_rank_ic") is not None]
    best = max(ranking, key=lambda name: flat.get(f"{name}_rank_ic") or -math.inf, default=None)
    values = {
        "rank_ic": flat.get(f"{MODEL}_rank_ic"),
        "margin": flat.get(f"margin_vs_{best}_rank_ic") if best else None,
        "mae_vs_0": flat.get("margin_vs_zero_mae"),
        "cov_95": flat.get("interval_95_coverage"),
        "excess": flat.get("portfolio_model_top_net_excess_index_ann"),
    }
    return {key: round(value, HEADLINE_DIGITS) + 0.0 for key, value in values.items() if value is not None}


def _finite_or_none(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value
