"""PNG figures for people (``dvc plots`` renders blank offline) and the CSV data behind the DVC plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from invest.evaluation import MODEL, metrics
from invest.evaluation.scoring import Evaluation
from invest.io import atomic_path, write_csv
from invest.params import Params


def write_plot_data(plot_dir: Path, evaluation: Evaluation, n_buckets: int) -> None:
    """CSV files behind the DVC plots declared in dvc.yaml."""
    frame = evaluation.frame
    rows = []
    for year, block in frame.groupby(frame["date"].dt.year):
        for name in ranked_predictors(evaluation):
            rows.append({"year": str(year), "predictor": name, "rank_ic": float(metrics.rank_ic_by_date(block, name).mean())})
    write_csv(plot_dir / "ic_by_year.csv", pd.DataFrame(rows))
    write_csv(plot_dir / "buckets.csv", metrics.returns_by_bucket(frame, n_buckets, MODEL).reset_index())
    write_csv(plot_dir / "pred_vs_actual.csv", binned_outcomes(frame))
    write_csv(plot_dir / "coverage.csv", coverage_rows(evaluation.coverage))
    if evaluation.portfolio is not None:
        curves = cumulative_net(evaluation)
        write_csv(plot_dir / "portfolio.csv", curves.assign(date=curves.index.strftime("%Y-%m-%d")).reset_index(drop=True))


def ranked_predictors(evaluation: Evaluation) -> list[str]:
    """Predictors with a rank IC in some test year (constant ones rank nothing, so draw nothing)."""
    frame, years = evaluation.frame, evaluation.frame["date"].dt.year
    return [
        name
        for name in evaluation.predictors
        if any(np.isfinite(metrics.rank_ic_by_date(frame[years == y], name).mean()) for y in years.unique())
    ]


OUTCOME_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def binned_outcomes(frame: pd.DataFrame, max_bins: int = 20, min_rows: int = 50) -> pd.DataFrame:
    """Rows binned by the model's prediction (equal counts, at least ``min_rows`` a bin where possible): mean
    prediction, then the mean and the 10/25/50/75/90% quantiles of what was realised in each bin."""
    rows = frame[[MODEL, "target"]].dropna()
    n_bins = int(np.clip(len(rows) // min_rows, 1, max_bins))
    if rows.empty:
        return pd.DataFrame(columns=["bin", "prediction", "mean_realised", *_quantile_names(), "rows"])
    ranks = rows[MODEL].rank(method="first")
    bins = np.minimum((n_bins * (ranks - 1) // len(rows)).astype(int), n_bins - 1) + 1
    grouped = rows.groupby(bins)
    out = pd.DataFrame({"prediction": grouped[MODEL].mean(), "mean_realised": grouped["target"].mean()})
    for q, name in zip(OUTCOME_QUANTILES, _quantile_names(), strict=True):
        out[name] = grouped["target"].quantile(q)
    out["rows"] = grouped.size()
    return out.rename_axis("bin").reset_index()


def _quantile_names() -> list[str]:
    return [f"q{round(100 * q)}_realised" for q in OUTCOME_QUANTILES]


CONSTANT_PREDICTORS = ("zero", "historical_mean")  # the same prediction for every stock: their books are arbitrary picks


def cumulative_net(evaluation: Evaluation) -> pd.DataFrame:
    """Cumulative net return of each ranking predictor's long-only book, the index and the equal-weighted universe."""
    results = evaluation.portfolio
    curves = {name: result.monthly["top_net_cum"] for name, result in results.items() if name not in CONSTANT_PREDICTORS}
    first = results[MODEL].monthly
    curves |= {"index": first["market_cum"], "equal_weighted": first["universe_cum"]}
    frame = pd.DataFrame(curves)
    frame.index.name = "date"
    return frame[[c for c in frame.columns if c != "date"]]


def coverage_rows(coverage: pd.DataFrame | None) -> pd.DataFrame:
    """Interval coverage per group (pooled, y<year>, vol<tercile>), kind and nominal level."""
    columns = ["group", "interval", "nominal", "coverage"]
    if coverage is None:
        return pd.DataFrame(columns=columns)
    prefix = {"pooled": "", "year": "y", "volatility": "vol"}
    group = [
        ("pooled" if g == "pooled" else f"{prefix[g]}{b}") for g, b in zip(coverage["group"], coverage["bucket"], strict=True)
    ]
    out = pd.DataFrame(
        {"group": group, "interval": coverage["kind"], "nominal": coverage["level"], "coverage": coverage["coverage"]}
    )
    return out[columns]


def write_figures(report_dir: Path, evaluation: Evaluation, params: Params) -> list[tuple[str, str]]:
    """The report's PNGs, each titled with the data and the test period; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    about = subtitle(evaluation, params)
    figures = [
        _ic_by_year(plt, report_dir, evaluation, about),
        _deciles(plt, report_dir, evaluation, params.evaluate.n_buckets, about),
        _pred_vs_actual(plt, report_dir, evaluation, about),
    ]
    if evaluation.portfolio is not None:
        figures.append(_portfolio(plt, report_dir, evaluation, params, about))
    return figures


def subtitle(evaluation: Evaluation, params: Params) -> str:
    """'simulated market, 60 stocks, test Jan 2019 – Dec 2023, target 12m excess return'."""
    frame = evaluation.frame
    first, last = frame["date"].min(), frame["date"].max()
    return (
        f"{evaluation.about.get('words', 'real prices')}, {frame['ticker'].nunique()} stocks, "
        f"test {first:%b %Y} – {last:%b %Y}, target {params.train.horizon} {params.train.target} return"
    )


def _ic_by_year(plt, report_dir: Path, evaluation: Evaluation, about: str) -> tuple[str, str]:
    frame = evaluation.frame
    shown = ranked_predictors(evaluation)
    years = sorted(frame["date"].dt.year.unique())
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(len(shown), 1)
    for i, name in enumerate(shown):
        values = [metrics.rank_ic_by_date(frame[frame["date"].dt.year == y], name).mean() for y in years]
        style = {"color": "black"} if name == MODEL else {}
        ax.bar(np.arange(len(years)) + i * width, values, width, label=name, **style)
    ax.set_xticks(np.arange(len(years)) + 0.4 - width / 2, [str(y) for y in years])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("mean per-date rank IC")
    _titles(ax, "Rank IC by test year (higher = better ranking)", about)
    ax.legend(fontsize=7, ncol=3)
    return _save(fig, report_dir, "ic_by_year.png", "Rank IC by test year, every predictor that ranks", plt)


def _deciles(plt, report_dir: Path, evaluation: Evaluation, n_buckets: int, about: str) -> tuple[str, str]:
    buckets = metrics.returns_by_bucket(evaluation.frame, n_buckets, MODEL)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.bar(buckets.index, buckets["mean_target"], color="tab:blue", label="realised (mean)")
    ax.plot(buckets.index, buckets["mean_prediction"], "o-", color="tab:orange", label="predicted (mean)")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel(f"predicted {_bucket_word(n_buckets)} within each date (1 = lowest)")
    ax.set_ylabel("return")
    _titles(ax, f"Realised return by predicted {_bucket_word(n_buckets)}", about)
    ax.legend(fontsize=8)
    return _save(fig, report_dir, "deciles.png", "Realised and predicted return by predicted bucket (calibration)", plt)


def _bucket_word(n: int) -> str:
    return {10: "decile", 5: "quintile", 4: "quartile"}.get(n, f"1/{n} bucket")


def _pred_vs_actual(plt, report_dir: Path, evaluation: Evaluation, about: str) -> tuple[str, str]:
    bins = binned_outcomes(evaluation.frame)
    fig, ax = plt.subplots(figsize=(7, 5))
    caption = "Predicted vs realised: what happened to stocks given each predicted return"
    if bins.empty:
        return _save(fig, report_dir, "pred_vs_actual.png", caption, plt)
    x = bins["prediction"]
    ax.fill_between(x, bins["q10_realised"], bins["q90_realised"], color="tab:blue", alpha=0.15, label="10–90% of realised")
    ax.fill_between(x, bins["q25_realised"], bins["q75_realised"], color="tab:blue", alpha=0.3, label="25–75% of realised")
    ax.plot(x, bins["mean_realised"], "o-", color="tab:blue", label="mean realised")
    ax.plot(x, bins["q50_realised"], "--", color="tab:blue", linewidth=1, label="median realised")
    ax.plot(x, x, color="black", linewidth=0.8, label="realised = predicted")
    low, high = float(bins["q10_realised"].min()), float(bins["q90_realised"].max())
    low, high = min(low, float(x.min())), max(high, float(x.max()))
    pad = 0.08 * (high - low)
    ax.set_ylim(low - pad, high + pad)
    target = evaluation.frame["target"].dropna()
    clipped = float(((target < low - pad) | (target > high + pad)).mean()) if len(target) else 0.0
    ax.set_xlabel(f"predicted return (mean of each of {len(bins)} equal-count bins of predictions)")
    ax.set_ylabel("realised return")
    _titles(ax, f"Predicted vs realised ({clipped:.1%} of outcomes lie beyond the y-axis)", about)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, report_dir, "pred_vs_actual.png", caption, plt)


def _portfolio(plt, report_dir: Path, evaluation: Evaluation, params: Params, about: str) -> tuple[str, str]:
    curves = cumulative_net(evaluation)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for names in _same_curves(curves):  # identical books (e.g. two momentum flavours) share one line and label
        name = names[0]
        style = {"linewidth": 2.2, "color": "black"} if name == MODEL else {"linewidth": 1.0}
        if name in ("index", "equal_weighted"):
            style = {"linewidth": 1.4, "linestyle": "--"}
        ax.plot(curves.index, 100 * curves[name], label=" = ".join(names), **style)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_ylabel("cumulative return, %")
    settings = params.evaluate
    size = f"top {settings.top_k}" if settings.top_k else f"top {settings.top_quantile:.0%} of"
    _titles(ax, f"Buying each predictor's {size} stocks, net of {settings.cost_bps:g} bps costs", about)
    ax.legend(fontsize=7, ncol=2)
    caption = "What acting on each ranking would have earned: cumulative net return"
    return _save(fig, report_dir, "portfolio.png", caption, plt)


def _same_curves(curves: pd.DataFrame) -> list[list[str]]:
    """Column names grouped by identical values, in column order."""
    groups: list[list[str]] = []
    for name in curves.columns:
        twin = next((g for g in groups if np.allclose(curves[g[0]], curves[name], equal_nan=True)), None)
        if twin is None:
            groups.append([name])
        else:
            twin.append(name)
    return groups


def _titles(ax, title: str, about: str) -> None:
    ax.set_title(f"{title}\n{about}", fontsize=10)


def _save(fig, report_dir: Path, name: str, caption: str, plt) -> tuple[str, str]:
    fig.tight_layout()
    with atomic_path(report_dir / name) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return name, caption
