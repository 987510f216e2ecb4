"""PNG figures for people (``dvc plots`` renders blank offline) and the CSV data behind the DVC plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from invest.evaluation import MODEL, metrics
from invest.evaluation.scoring import Evaluation
from invest.io import atomic_path, write_csv


def write_plot_data(plot_dir: Path, evaluation: Evaluation, n_buckets: int) -> None:
    """CSV files behind the DVC plots declared in dvc.yaml."""
    frame = evaluation.frame
    rows = []
    for year, block in frame.groupby(frame["date"].dt.year):
        for name in evaluation.predictors:
            rows.append({"year": str(year), "predictor": name, "rank_ic": float(metrics.rank_ic_by_date(block, name).mean())})
    write_csv(plot_dir / "ic_by_year.csv", pd.DataFrame(rows))
    write_csv(plot_dir / "buckets.csv", metrics.returns_by_bucket(frame, n_buckets, MODEL).reset_index())
    scatter = frame[["date", "ticker", MODEL, "target"]].rename(columns={MODEL: "prediction"})
    write_csv(plot_dir / "pred_vs_actual.csv", scatter.assign(date=scatter["date"].dt.strftime("%Y-%m-%d")))
    write_csv(plot_dir / "coverage.csv", coverage_rows(evaluation.coverage))
    if evaluation.portfolio is not None:
        curves = cumulative_net(evaluation)
        write_csv(plot_dir / "portfolio.csv", curves.assign(date=curves.index.strftime("%Y-%m-%d")).reset_index(drop=True))


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


def write_figures(report_dir: Path, evaluation: Evaluation, n_buckets: int) -> list[tuple[str, str]]:
    """The report's PNGs; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = evaluation.frame
    figures = []
    shown = [name for name in evaluation.predictors if name != "zero"]  # zero ranks nothing: no rank IC
    years = sorted(frame["date"].dt.year.unique())
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(shown)
    for i, name in enumerate(shown):
        values = [metrics.rank_ic_by_date(frame[frame["date"].dt.year == y], name).mean() for y in years]
        ax.bar(np.arange(len(years)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(years)) + 0.4 - width / 2, [str(y) for y in years])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("mean per-date rank IC")
    ax.set_title("Rank IC by test year")
    ax.legend(fontsize=7, ncol=3)
    figures.append(("ic_by_year.png", "Rank IC by test year, every predictor"))
    _save(fig, report_dir / figures[-1][0], plt)

    buckets = metrics.returns_by_bucket(frame, n_buckets, MODEL)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(buckets.index, buckets["mean_target"], color="tab:blue", label="realised")
    ax.plot(buckets.index, buckets["mean_prediction"], "o-", color="tab:orange", label="predicted")
    ax.set_xlabel("predicted decile (1 = lowest)")
    ax.set_ylabel("mean return")
    ax.set_title("Realised return by predicted decile")
    ax.legend()
    figures.append(("deciles.png", "Realised and predicted return by predicted decile (calibration)"))
    _save(fig, report_dir / figures[-1][0], plt)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(frame[MODEL], frame["target"], s=3, alpha=0.3)
    low, high = np.nanpercentile(frame["target"], [1, 99])
    ax.plot([low, high], [low, high], color="black", linewidth=0.8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("realised")
    ax.set_title("Predicted vs realised")
    figures.append(("pred_vs_actual.png", "Predicted vs realised, every test row"))
    _save(fig, report_dir / figures[-1][0], plt)

    if evaluation.portfolio is not None:
        curves = cumulative_net(evaluation)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name in curves.columns:
            style = {"linewidth": 2.2, "color": "black"} if name == MODEL else {"linewidth": 1.0}
            if name in ("index", "equal_weighted"):
                style = {"linewidth": 1.4, "linestyle": "--"}
            ax.plot(curves.index, 100 * curves[name], label=name, **style)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_ylabel("cumulative return, %")
        ax.set_title("Long-only top book, monthly rebalanced, net of costs")
        ax.legend(fontsize=7, ncol=2)
        figures.append(("portfolio.png", "What acting on each ranking would have earned: cumulative net return"))
        _save(fig, report_dir / figures[-1][0], plt)
    return figures


def _save(fig, path: Path, plt) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
