"""Checks of the fundamentals table: look-ahead, coverage over time, unit errors, frozen and stale series.

Called by ``checks.run_checks``; each check adds its statistics to the findings and names the
fields, tickers or years it finds and the ``validate.*`` key that sets its threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from invest.data.schema import FUNDAMENTAL_FIELDS
from invest.params import ValidateParams

if TYPE_CHECKING:
    from invest.data.checks import Findings

FIELDS = list(FUNDAMENTAL_FIELDS)
# Scale measures that no real company moves 100x for one quarter and back; flows (net income, cash
# flows, EPS) and balances that can sit near zero (equity, cash, debt) legitimately do.
UNIT_FIELDS = ("revenue", "assets", "shares")
EXAMPLES = 5  # tickers, periods or years a message names before "…"


def check_fundamentals(fundamentals: pd.DataFrame, prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    stats = findings.stats
    early = int((fundamentals["report_date"] < fundamentals["period_end"]).sum())
    stats["report_before_period_end"] = early
    findings.check(early > 0, f"{early} fundamentals rows have a report_date before their period_end (look-ahead)")
    findings.note(fundamentals.empty, "fundamentals are not provided; the fundamental features are left out")

    coverage = coverage_by_year(fundamentals, prices)
    stats["fundamentals_coverage_by_year"] = _by_year(coverage["any"])
    for name in FIELDS:
        stats[f"fundamentals_coverage_by_year_{name}"] = _by_year(coverage[name])
    _check_collapse(coverage, params, findings)
    _check_unit_jumps(fundamentals, params, findings)
    _check_stale(fundamentals, prices, params, findings)

    frozen, pairs = _frozen_fields(fundamentals, params.frozen_fundamental_years)
    share = frozen / pairs if pairs else 0.0
    stats["frozen_fundamentals_share"] = round(share, 6)
    findings.check(
        share > params.max_frozen_share,
        f"{frozen} of {pairs} (ticker, field) series never change over {params.frozen_fundamental_years:g}+ years: "
        "today's values copied into the past?",
    )


def _by_year(shares: pd.Series) -> dict[str, float]:
    return {str(year): round(float(share), 4) for year, share in shares.items()}


def coverage_by_year(fundamentals: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Per year (index) the share of tickers trading in it that report in it: any row ("any") and each field.

    A year's window is the calendar year; the last, partial year looks back one year from the last
    price date instead, so a year that has just begun does not read as missing reports.
    """
    if prices.empty:
        return pd.DataFrame(columns=["any", *FIELDS], dtype="float64")
    span = prices.groupby("ticker")["date"].agg(["min", "max"])
    last = prices["date"].max()
    rows = {}
    for year in range(prices["date"].min().year, last.year + 1):
        end = min(pd.Timestamp(year, 12, 31), last)
        start = end - pd.DateOffset(years=1)
        trading = span.index[(span["min"] <= end) & (span["max"] > start)]
        reported = fundamentals["report_date"].between(start, end, inclusive="right")
        window = fundamentals[reported & fundamentals["ticker"].isin(trading)]
        counts = {"any": window["ticker"].nunique()} | {
            name: window.loc[window[name].notna(), "ticker"].nunique() for name in FIELDS
        }
        rows[year] = {key: count / max(len(trading), 1) for key, count in counts.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def collapse(coverage: pd.Series, share: float) -> tuple[int, float, float] | None:
    """(first year, median coverage before it, highest coverage from it) of a collapse, or None.

    A collapse: from some year to the end, coverage stays below ``share`` times its median over the
    earlier years. Years before the first covered one are skipped: data that starts late has not collapsed.
    """
    covered = coverage[coverage > 0]
    if covered.empty:
        return None
    years = coverage.loc[covered.index[0] :]
    for i in range(1, len(years)):
        before, after = float(years.iloc[:i].median()), years.iloc[i:]
        if bool((after < share * before).all()):
            return int(years.index[i]), before, float(after.max())
    return None


def _check_collapse(coverage: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    found = {name: collapse(coverage[name], params.fundamentals_collapse_share) for name in FIELDS}
    found = {name: result for name, result in found.items() if result is not None}
    findings.stats["fundamentals_collapsed_fields"] = sorted(found)
    provided = [name for name in FIELDS if (coverage[name] > 0).any()]
    for year in sorted({result[0] for result in found.values()}):
        names = [name for name, result in found.items() if result[0] == year]
        before = min(found[name][1] for name in names)
        after = max(found[name][2] for name in names)
        subject = "fundamentals (every field)" if names == provided else ", ".join(f"fundamentals.{n}" for n in names)
        findings.check(
            True,
            f"{subject}: coverage collapses from {year} on (at most {after:.1%} of trading tickers report per year, "
            f"down from a median of {before:.1%}); fetch the missing reports, or lower "
            "validate.fundamentals_collapse_share (0 accepts it)",
        )


def unit_jumps(fundamentals: pd.DataFrame, factor: float) -> tuple[pd.DataFrame, int]:
    """Values ``factor`` times larger, or smaller, than both neighbouring reported quarters, and the number checked.

    Only the scale measures in ``UNIT_FIELDS`` are checked, in (ticker, field) series that never change
    sign, and no value next to a zero: near zero, ratios mean nothing.
    """
    found, checked = [], 0
    for name in UNIT_FIELDS:
        series = fundamentals.loc[fundamentals[name].notna(), ["ticker", "period_end", name]]
        value, ticker = series[name], series["ticker"]
        one_sign = ~((value > 0).groupby(ticker).transform("any") & (value < 0).groupby(ticker).transform("any"))
        size = value.abs()
        before, after = size.groupby(ticker).shift(1), size.groupby(ticker).shift(-1)
        valid = one_sign & (size > 0) & (before > 0) & (after > 0)
        larger = (size >= factor * before) & (size >= factor * after)
        smaller = (size * factor <= before) & (size * factor <= after)
        checked += int(valid.sum())
        found.append(series.loc[valid & (larger | smaller), ["ticker", "period_end"]].assign(field=name))
    jumps = pd.concat(found, ignore_index=True).sort_values(["ticker", "period_end", "field"], kind="mergesort")
    return jumps.reset_index(drop=True), checked


def _check_unit_jumps(fundamentals: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    jumps, checked = unit_jumps(fundamentals, params.unit_jump_factor)
    share = len(jumps) / checked if checked else 0.0
    findings.stats["fundamentals_unit_jumps"] = len(jumps)
    findings.stats["fundamentals_unit_jump_share"] = round(share, 6)
    shown = ", ".join(f"{t} {f} {p:%Y-%m-%d}" for t, p, f in jumps.head(EXAMPLES).itertuples(index=False))
    findings.check(
        not jumps.empty,
        f"fundamentals: {len(jumps)} quarterly values are {params.unit_jump_factor:g}x larger or smaller than both "
        f"neighbouring quarters (a unit error, millions for billions?): {shown}{', …' if len(jumps) > EXAMPLES else ''} "
        f"({share:.2%} of {checked:,} values checked, max {params.max_unit_jump_share:.2%}; "
        "fix them at the source or raise validate.max_unit_jump_share)",
        critical=share > params.max_unit_jump_share,
    )


def _check_stale(fundamentals: pd.DataFrame, prices: pd.DataFrame, params: ValidateParams, findings: Findings) -> None:
    """Tickers whose last report is far older than their last price: their fundamental features go stale."""
    last_report = fundamentals.groupby("ticker")["report_date"].max()
    last_price = prices.groupby("ticker")["date"].max().reindex(last_report.index)
    age_years = (last_price - last_report).dt.days / 365.25
    stale = last_report[age_years > params.max_fundamentals_age_years].sort_index()
    findings.stats["stale_fundamentals_tickers"] = len(stale)
    shown = ", ".join(f"{t} (last {d:%Y-%m-%d})" for t, d in stale.head(EXAMPLES).items())
    findings.check(
        not stale.empty,
        f"fundamentals: {len(stale)} tickers have no report in the last {params.max_fundamentals_age_years:g} years "
        f"of their prices: {shown}{', …' if len(stale) > EXAMPLES else ''}; their fundamental features go stale: "
        "refresh the fundamentals, or raise validate.max_fundamentals_age_years",
        critical=False,
    )


def _frozen_fields(fundamentals: pd.DataFrame, years: float) -> tuple[int, int]:
    """How many (ticker, field) series span ``years`` or more yet hold a single distinct value."""
    if fundamentals.empty:
        return 0, 0
    span = fundamentals.groupby("ticker")["period_end"].agg(lambda d: (d.max() - d.min()).days / 365.25)
    long_enough = span[span >= years].index
    subset = fundamentals[fundamentals["ticker"].isin(long_enough)]
    if subset.empty:
        return 0, 0
    distinct = subset.groupby("ticker")[FIELDS].nunique()
    observed = subset.groupby("ticker")[FIELDS].count()
    usable = observed >= 4
    frozen = int(((distinct <= 1) & usable).to_numpy().sum())
    pairs = int(usable.to_numpy().sum())
    return frozen, pairs
