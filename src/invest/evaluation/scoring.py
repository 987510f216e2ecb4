"""Scores of predictions on the same test rows: one scoring function, structured results.

``score`` is the one place a predictor's summary metrics are computed (``evaluate``, ``compare``
and the model card all use it). ``evaluate_predictions`` scores every predictor of a predictions
frame and returns an :class:`Evaluation` of tables; flat metric keys are made only where
``metrics/eval.json`` is written (``evaluation.summary``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from invest.evaluation import MODEL, ORACLE, coverage, metrics, portfolio
from invest.evaluation.portfolio import BacktestResult
from invest.modelling.uncertainty import MEMBER_PREFIX
from invest.params import Params

BASE_RATE_KEYS = (
    "base_rate",
    "best_constant_hit_rate",
    "pred_positive_share",
    "excess_base_rate",
    "excess_best_constant_hit_rate",
)


def score(frame: pd.DataFrame, predictor: str, horizon_months: int) -> dict[str, float]:
    """The summary metrics of one predictor column on the frame's rows (docs/metrics.md)."""
    ic = metrics.ic_summary(metrics.rank_ic_by_date(frame, predictor), horizon_months)
    point = metrics.point_metrics(frame, predictor)
    hits = metrics.hit_rates(frame, pred=predictor)
    return {
        "rank_ic": ic["mean"],
        "rank_ic_std": ic["std"],
        "icir": ic["icir"],
        "rank_ic_t_nw": ic["t_newey_west"],
        "rank_ic_t_nonoverlap": ic["t_nonoverlap"],
        "mae": point["mae"],
        "rmse": point["rmse"],
        "pearson": point["pearson"],
        "spearman": point["spearman"],
        "hit_rate": hits.get("hit_rate", float("nan")),
        "excess_hit_rate": hits.get("excess_hit_rate", float("nan")),
        "quintile_spread": metrics.quantile_spread(frame, 5, predictor),
        "calibration_slope": metrics.calibration_slope(frame, predictor),
    }


@dataclass
class Evaluation:
    """Everything ``evaluate`` measured, as tables (read by the report, the model card and summary)."""

    frame: pd.DataFrame  # one row per test prediction
    predictors: list[str]  # the scored columns: the network, the baselines, then the oracle if present
    baselines: list[str]
    scores: pd.DataFrame  # index: predictor; columns: score()'s keys
    base_rates: dict[str, float]
    margins: pd.DataFrame  # index: baseline; the network minus it: rank_ic/mae diff, lo, hi (95% block bootstrap)
    by_year: pd.DataFrame  # index: test year; rows, <predictor>_rank_ic, model_mae
    coverage: pd.DataFrame | None  # coverage.coverage_table (None without intervals)
    confidence: pd.DataFrame | None  # coverage.confidence_table
    members: pd.DataFrame | None = None  # index: member; rank_ic, mae of each network of the ensemble alone
    portfolio: dict[str, BacktestResult] | None = None  # predictor -> its books' walk-forward backtest (docs/portfolio.md)
    about: dict = field(default_factory=dict)  # the data: source, universe, point in time or not (``data_about``)

    @property
    def has_oracle(self) -> bool:
        return ORACLE in self.predictors


def evaluate_predictions(frame: pd.DataFrame, baselines: list[str], params: Params) -> Evaluation:
    """Score the network, each baseline and the oracle; margins of the network over each baseline."""
    horizon = params.train.horizon_months
    names = [MODEL, *baselines] + ([ORACLE] if ORACLE in frame else [])
    scores = pd.DataFrame({name: score(frame, name, horizon) for name in names}).T
    hits = metrics.hit_rates(frame, pred=MODEL)
    backtests = _backtests(frame, names, params)
    margins = {name: _margin(frame, name, backtests, params) for name in baselines}
    with_intervals = "confidence" in frame
    return Evaluation(
        frame=frame,
        predictors=names,
        baselines=list(baselines),
        scores=scores,
        base_rates={key: hits.get(key, float("nan")) for key in BASE_RATE_KEYS},
        margins=pd.DataFrame.from_dict(
            margins,
            orient="index",
            columns=[*(f"{key}{end}" for key in MARGIN_KEYS for end in ("", "_lo", "_hi")), "rank_ic_detectable"],
        ),
        by_year=_by_year(frame, names),
        coverage=coverage.coverage_table(frame, params.train.interval_levels) if with_intervals else None,
        confidence=coverage.confidence_table(frame) if with_intervals else None,
        members=_members(frame, horizon),
        portfolio=backtests,
    )


MARGIN_KEYS = ("rank_ic", "mae", "portfolio")


def data_about(store_meta: dict) -> dict:
    """What the reports say about the data, from the store's meta (fetch's record, when the store has it)."""
    about = dict(store_meta.get("data") or {})
    about["by_year"] = dict(store_meta.get("universe_by_year") or {})
    if store_meta.get("has_oracle"):  # a store built without fetch's record: the oracle says it is simulated
        about.setdefault("simulated", True)
        about.setdefault("words", "simulated market")
    about["point_in_time_universe"] = bool(about.get("point_in_time_universe") or store_meta.get("point_in_time_universe"))
    about.setdefault("words", "real prices")
    return about


def _margin(frame: pd.DataFrame, name: str, backtests: dict[str, BacktestResult] | None, params: Params) -> dict[str, float]:
    """The network minus one baseline: rank IC and MAE (paired block bootstrap over dates) and, for a baseline
    that ranks (not constant), the top book's annualised net return (block bootstrap over months)."""
    settings = params.evaluate
    margin = metrics.paired_margin(frame, name, MODEL, settings.block_months, settings.bootstrap_samples, settings.seed)
    row = {}
    for key in ("rank_ic", "mae"):  # rank IC is undefined for a constant baseline
        values = margin.get(key, {})
        row |= {key: values.get("diff"), f"{key}_lo": values.get("ci_low"), f"{key}_hi": values.get("ci_high")}
    row["rank_ic_detectable"] = margin.get("rank_ic", {}).get("detectable")  # the smallest margin these rows can tell
    if backtests is not None and "rank_ic" in margin:
        book = portfolio.paired_difference(backtests[name], backtests[MODEL], portfolio.PortfolioSettings.from_params(settings))
        row |= {"portfolio": book["diff"], "portfolio_lo": book["ci_low"], "portfolio_hi": book["ci_high"]}
    return row


def _backtests(frame: pd.DataFrame, names: list[str], params: Params) -> dict[str, BacktestResult] | None:
    """Every predictor's portfolio backtest on the same months (frames without next-month returns: none)."""
    if portfolio.RETURN not in frame or portfolio.MARKET not in frame:
        return None
    market = frame[portfolio.MARKET]  # the index's next month is one number per date; NaN on the last month
    frame = frame.assign(**{portfolio.MARKET: market.groupby(frame["date"]).transform("first")})
    return portfolio.compare_predictors(frame, names, portfolio.PortfolioSettings.from_params(params.evaluate))


def _members(frame: pd.DataFrame, horizon: int) -> pd.DataFrame | None:
    """Each ensemble member scored alone: how much one seed's network varies (the ensemble is their mean)."""
    columns = [column for column in frame.columns if column.startswith(MEMBER_PREFIX)]
    if len(columns) < 2:
        return None
    rows = {int(column.removeprefix(MEMBER_PREFIX)): score(frame, column, horizon) for column in columns}
    return pd.DataFrame.from_dict(rows, orient="index")[["rank_ic", "mae", "hit_rate"]]


def _by_year(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    rows = {}
    for year, block in frame.groupby(frame["date"].dt.year):
        row = {f"{name}_rank_ic": float(metrics.rank_ic_by_date(block, name).mean()) for name in names}
        row[f"{MODEL}_mae"] = metrics.point_metrics(block, MODEL)["mae"]
        row["rows"] = len(block)
        rows[int(year)] = row
    return pd.DataFrame.from_dict(rows, orient="index")
