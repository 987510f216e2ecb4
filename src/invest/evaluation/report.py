"""``evaluation/report.md``: the plain-words summary, tables and figures a person reads first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from invest.evaluation import MODEL, ORACLE, metrics, verdict
from invest.evaluation.coverage import mae_order
from invest.evaluation.figures import coverage_rows, write_figures
from invest.evaluation.scoring import Evaluation
from invest.io import output_errors, write_csv, write_text
from invest.modelling.uncertainty import TOO_UNCERTAIN, level_label
from invest.params import Params

RANKING_BASELINES_EXCLUDED = verdict.CONSTANT_BASELINES  # constant predictions: no rank IC to compare


def write_predictions(path: Path, frame: pd.DataFrame) -> None:
    write_csv(path, frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def write_report(report_dir: Path, evaluation: Evaluation, params: Params) -> None:
    with output_errors(report_dir / "report.md"):  # a file named like the directory, no permission
        report_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(report_dir, evaluation, params)
    lines = ["# Evaluation report", "", verdict.skill(evaluation), ""]
    caveat = verdict.data_caveat(evaluation.about)
    lines += [caveat, ""] if caveat else []
    lines += [headline(evaluation, params)]
    lines += _scores_section(evaluation)
    lines += _margins_section(evaluation)
    lines += _years_section(evaluation)
    lines += _universe_section(evaluation)
    lines += _portfolio_section(evaluation, params)
    lines += _uncertainty_section(evaluation)
    lines += ["", "## Figures", ""] + [f"![{caption}]({name})" for name, caption in figures]
    lines += ["", "Metric definitions: docs/metrics.md.", ""]
    write_text(report_dir / "report.md", "\n".join(lines))


def headline(evaluation: Evaluation, params: Params) -> str:
    """The plain-words summary a reader sees first, then a verdict on every metric against every baseline."""
    scores, frame, model = evaluation.scores, evaluation.frame, evaluation.scores.loc[MODEL]
    text = (
        f"**Summary.** Over {frame['date'].nunique()} test dates ({len(frame)} predictions, horizon {params.train.horizon}, "
        f"target {params.train.target} return) the model's mean rank IC is {_fmt(model['rank_ic'])} "
        f"(t = {_fmt(model['rank_ic_t_nw'], 1)}, Newey-West) and its MAE {_fmt(model['mae'])}."
    )
    if evaluation.has_oracle:
        oracle = scores.loc[ORACLE, "rank_ic"]
        text += (
            f" The oracle reaches {_fmt(oracle)}, so the model captures "
            f"{100 * model['rank_ic'] / oracle:.0f}% of the achievable rank IC."
        )
    text += (
        f" Its hit rate {_fmt(model['hit_rate'])} compares with a base rate of {_fmt(evaluation.base_rates['base_rate'])} "
        f"(a constant guess scores {_fmt(evaluation.base_rates['best_constant_hit_rate'])})."
    )
    text += _coverage_sentence(evaluation.coverage)
    if TOO_UNCERTAIN in frame and frame[TOO_UNCERTAIN].notna().any():
        text += (
            f" {frame[TOO_UNCERTAIN].mean():.0%} of the predictions were too uncertain to act on (their narrowest interval "
            "was wider than the spread of every stock's outcomes)."
        )
    bullets = [f"- **{name}**: " + "; ".join(baseline_verdicts(evaluation, name)) + "." for name in evaluation.margins.index]
    intro = "The model against each baseline (model − baseline, with 95% intervals from a block bootstrap):"
    return "\n".join([text, "", intro, "", *bullets])


def baseline_verdicts(evaluation: Evaluation, name: str) -> list[str]:
    """Rank IC, MAE and (where both rank) the top book's net return: the model against baseline ``name``."""
    row, out = evaluation.margins.loc[name], []
    for key, what, higher, fmt in metrics.VERDICT_METRICS:
        if key == "mae" or name not in RANKING_BASELINES_EXCLUDED:
            if key != "portfolio" or evaluation.portfolio is not None:
                names = (name, "the model")
                detectable = row.get("rank_ic_detectable") if key == "rank_ic" else None
                out.append(
                    metrics.verdict(
                        what, row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi"), higher, fmt, names, detectable
                    )
                )
    if name in RANKING_BASELINES_EXCLUDED:
        out.append("no ranking to compare (it predicts the same for every stock)")
    return out


def _coverage_sentence(coverage: pd.DataFrame | None) -> str:
    if coverage is None:
        return ""
    pooled = coverage[coverage["group"] == "pooled"].set_index(["kind", "level"])["coverage"]
    levels = sorted({level for _, level in pooled.index})
    text = " Calibrated intervals cover " + ", ".join(
        f"{100 * pooled[('calibrated', level)]:.1f}% at a nominal {level_label(level)}%" for level in levels
    )
    text += " (raw MC dropout: " + ", ".join(f"{100 * pooled[('mc_dropout', level)]:.1f}%" for level in levels) + ")"
    return text + "."


def _scores_section(evaluation: Evaluation) -> list[str]:
    rates = evaluation.base_rates
    lines = [
        "",
        "## Pooled over the test years",
        "",
        "| predictor | rank IC | IC std | ICIR | t (Newey-West) | MAE | RMSE | hit rate | Q5-Q1 spread | calibration slope |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in evaluation.scores.iterrows():
        lines.append(
            f"| {name} | {_fmt(s['rank_ic'])} | {_fmt(s['rank_ic_std'])} | {_fmt(s['icir'], 2)} | "
            f"{_fmt(s['rank_ic_t_nw'], 2)} | {_fmt(s['mae'])} | {_fmt(s['rmse'])} | "
            f"{_fmt(s['hit_rate'])} | {_fmt(s['quintile_spread'])} | {_fmt(s['calibration_slope'], 2)} |"
        )
        if name == MODEL and evaluation.members is not None:
            m = evaluation.members
            lines.append(
                f"| one network alone (mean ± sd of {len(m)} seeds) | {_fmt(m['rank_ic'].mean())} ± {_fmt(m['rank_ic'].std(ddof=1))} "
                f"| | | | {_fmt(m['mae'].mean())} ± {_fmt(m['mae'].std(ddof=1))} | | {_fmt(m['hit_rate'].mean())} | | |"
            )
    lines += [
        "",
        f"Base rate (share of positive outcomes): {_fmt(rates['base_rate'])}; a constant-sign guess hits "
        f"{_fmt(rates['best_constant_hit_rate'])}; the model predicts a positive value for {_fmt(rates['pred_positive_share'])} of rows.",
    ]
    if evaluation.has_oracle:
        lines.append("The oracle is the simulator's planted expected return: the best any model could rank.")
    return lines


def _margins_section(evaluation: Evaluation) -> list[str]:
    lines = [
        "",
        "## Model minus baseline (bootstrap over date blocks, 95% interval)",
        "",
        "| baseline | rank IC margin | interval | MAE margin (negative = model better) | interval "
        "| top-book net return margin a year | interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in evaluation.margins.iterrows():
        lines.append(
            f"| {name} | {_fmt(m['rank_ic'])} | [{_fmt(m['rank_ic_lo'])}, {_fmt(m['rank_ic_hi'])}] | "
            f"{_fmt(m['mae'], 4)} | [{_fmt(m['mae_lo'], 4)}, {_fmt(m['mae_hi'], 4)}] | "
            f"{_pct(m.get('portfolio'))} | [{_pct(m.get('portfolio_lo'))}, {_pct(m.get('portfolio_hi'))}] |"
        )
    return lines


def _universe_section(evaluation: Evaluation) -> list[str]:
    """How many stocks the universe held each test year, and how many of them changed from month to month."""
    by_year = evaluation.about.get("by_year") or {}
    years = [str(year) for year in evaluation.by_year.index if str(year) in by_year]
    if not years:
        return []
    lines = [
        "",
        f"## The universe ({evaluation.about.get('universe', 'as the data gives it')})",
        "",
        "| test year | stocks a date | new each month (turnover) |",
        "|---|---|---|",
    ]
    for year in years:
        row = by_year[year]
        turnover = "n/a" if row.get("turnover") is None else f"{row['turnover']:.1%}"
        lines.append(f"| {year} | {row['stocks']:.0f} | {turnover} |")
    return lines


def _years_section(evaluation: Evaluation) -> list[str]:
    names = evaluation.predictors
    lines = ["", "## Rank IC per test year", "", "| year | rows | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for year, row in evaluation.by_year.iterrows():
        cells = " | ".join(_fmt(row[f"{name}_rank_ic"]) for name in names)
        lines.append(f"| {year} | {int(row['rows'])} | {cells} |")
    return lines


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:+.{digits}f}%"


def _excess_words(stats: dict, book: str, versus: str, name: str) -> str:
    """'beat the index by +3.1% a year (95% interval +0.4% to +5.9%, significant)' or its opposite."""
    ann, lo, hi = (stats.get(f"{book}_net_excess_{versus}_{key}") for key in ("ann", "lo", "hi"))
    if ann is None or pd.isna(ann):
        return f"cannot be compared with {name}"
    verb = "beat" if ann > 0 else "trailed"
    significant = lo is not None and hi is not None and (lo > 0 or hi < 0)
    verdict = "significant" if significant else "not significant: the interval contains 0"
    return f"{verb} {name} by {100 * abs(ann):.1f}% a year (95% interval {_pct(lo)} to {_pct(hi)}, {verdict})"


def _every(months: int) -> str:
    return "monthly" if months == 1 else f"every {months} months"


def _portfolio_section(evaluation: Evaluation, params: Params) -> list[str]:
    """What acting on each ranking would have earned, after costs, against the index and the equal-weighted universe."""
    if evaluation.portfolio is None:
        return []
    settings, results = params.evaluate, evaluation.portfolio
    model = results[MODEL].stats
    size = f"top {settings.top_k}" if settings.top_k else f"top {settings.top_quantile:.0%}"
    text = (
        f"Buying the model's {size} stocks (equal weights, rebalanced {_every(settings.rebalance_months)}, "
        f"{settings.cost_bps:g} bps per unit traded) returned {_pct(model.get('top_net_return_ann'))} a year net of costs over "
        f"{int(model['months'])} months; it {_excess_words(model, 'top', 'index', 'the index')} and "
        f"{_excess_words(model, 'top', 'ew', 'the equal-weighted universe')}. One-way turnover {_fmt(model.get('top_turnover'), 2)} "
        f"a month, maximum drawdown {_pct(model.get('top_net_max_drawdown'))}. Its long-short book (top minus bottom "
        f"{settings.long_short_quantile:.0%}) returned {_pct(model.get('long_short_net_mean_ann'))} a year net."
    )
    lines = ["", "## What acting on the ranking would have earned", "", text, ""]
    lines += [
        "| predictor | net return | − index | 95% interval | − equal-weighted | 95% interval | Sharpe | turnover | max drawdown | long-short net |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        st = result.stats
        lines.append(
            f"| {name} | {_pct(st.get('top_net_return_ann'))} | {_pct(st.get('top_net_excess_index_ann'))} | "
            f"[{_pct(st.get('top_net_excess_index_lo'))}, {_pct(st.get('top_net_excess_index_hi'))}] | "
            f"{_pct(st.get('top_net_excess_ew_ann'))} | [{_pct(st.get('top_net_excess_ew_lo'))}, {_pct(st.get('top_net_excess_ew_hi'))}] | "
            f"{_fmt(st.get('top_net_sharpe'), 2)} | {_fmt(st.get('top_turnover'), 2)} | {_pct(st.get('top_net_max_drawdown'))} | "
            f"{_pct(st.get('long_short_net_mean_ann'))} |"
        )
    lines.append(
        f"| index | {_pct(model.get('market_return_ann'))} | | | | | {_fmt(model.get('market_sharpe'), 2)} | | "
        f"{_pct(model.get('market_max_drawdown'))} | |"
    )
    lines.append(
        f"| equal-weighted universe | {_pct(model.get('universe_return_ann'))} | {_pct(model.get('universe_excess_index_ann'))} | | | | "
        f"{_fmt(model.get('universe_sharpe'), 2)} | | {_pct(model.get('universe_max_drawdown'))} | |"
    )
    lines += [
        "",
        "Annualised; net of costs; intervals from a block bootstrap of monthly returns; definitions in docs/portfolio.md.",
    ]
    wiped = [
        f"{name} ({book.replace('_', '-')})"
        for name, result in results.items()
        for book in ("top", "long_short")
        if result.stats.get(f"{book}_wiped_out", 0) > 0
    ]
    if wiped:
        lines.append(
            f"These books lost all their capital in one month and stayed at −100% (see docs/portfolio.md): {', '.join(wiped)}."
        )
    if any(name in results for name in ("zero", "historical_mean")):
        lines.append(
            "`zero` and `historical_mean` predict the same for every stock: their books are alphabetical picks, not signals."
        )
    return lines


def _uncertainty_section(evaluation: Evaluation) -> list[str]:
    """Interval coverage (calibrated beside raw MC dropout) and error by confidence bucket."""
    if evaluation.coverage is None:
        return []
    table = coverage_rows(evaluation.coverage)
    lines = [
        "",
        "## Prediction intervals",
        "",
        "Calibrated = normalised split conformal on the embargoed validation block; "
        "MC dropout = mean ± z·std of the dropout samples, uncalibrated.",
        "",
        "| group | nominal | calibrated coverage | MC-dropout coverage |",
        "|---|---|---|---|",
    ]
    pivot = table.pivot_table(index=["group", "nominal"], columns="interval", values="coverage", sort=False)
    for (group, nominal), row in pivot.iterrows():
        lines.append(f"| {group} | {nominal:.0%} | {_fmt(row.get('calibrated'))} | {_fmt(row.get('mc_dropout'))} |")
    pooled = evaluation.coverage[(evaluation.coverage["group"] == "pooled") & (evaluation.coverage["kind"] == "calibrated")]
    widths = [f"{level_label(row.level)}%: {_fmt(row.width)}" for row in pooled.itertuples()]
    lines += ["", "Mean calibrated width — " + ", ".join(widths) + ".", "", "## Confidence", ""]
    lines += [
        "Confidence quintile 1 is the least confident fifth of predictions.",
        "",
        "| quintile | MAE | rank IC |",
        "|---|---|---|",
    ]
    for row in evaluation.confidence.itertuples():
        lines.append(f"| {row.quintile} | {_fmt(row.mae)} | {_fmt(row.rank_ic)} |")
    order = mae_order(evaluation.confidence)
    verdict = "errors fall as confidence rises, as they should" if order < -0.8 else "errors do NOT fall steadily with confidence"
    lines += ["", f"Rank correlation of quintile and MAE: {order:.2f} ({verdict})."]
    return lines
