"""Evaluation outputs for people and for DVC: predictions, plot data, PNG figures and report.md."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from invest import metrics
from invest.io import atomic_path, output_errors, write_text
from invest.params import Params

PREDICTORS = ("model", "zero", "historical_mean", "momentum", "ridge", "gbt", "oracle")


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")


def write_predictions(path: Path, frame: pd.DataFrame) -> None:
    out = frame.copy()
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    write_csv(path, out)


def write_plot_data(plot_dir: Path, frame: pd.DataFrame, summary: dict, n_buckets: int) -> None:
    """CSV files behind the DVC plots declared in dvc.yaml."""
    present = [p for p in PREDICTORS if p in frame]
    rows = []
    for year, block in frame.groupby(frame["date"].dt.year):
        for name in present:
            rows.append({"year": str(year), "predictor": name, "rank_ic": float(metrics.rank_ic_by_date(block, name).mean())})
    write_csv(plot_dir / "ic_by_year.csv", pd.DataFrame(rows))
    buckets = metrics.returns_by_bucket(frame, n_buckets, "model").reset_index()
    write_csv(plot_dir / "buckets.csv", buckets)
    scatter = frame[["date", "ticker", "model", "target"]].rename(columns={"model": "prediction"})
    scatter = scatter.assign(date=scatter["date"].dt.strftime("%Y-%m-%d"))
    write_csv(plot_dir / "pred_vs_actual.csv", scatter)
    write_csv(plot_dir / "coverage.csv", coverage_rows(summary))


def coverage_rows(summary: dict) -> pd.DataFrame:
    """Long table of interval coverage: group (pooled / year / volatility tercile), kind, level, coverage."""
    rows = []
    for key, value in summary.items():
        if not key.endswith("_coverage") or "interval_" not in key or value is None:
            continue
        head, _, level = key[: -len("_coverage")].rpartition("_")
        group, _, kind = head.rpartition("interval")
        kind = "mc_dropout" if group.endswith("mc_") else "calibrated"
        group = group.removesuffix("mc_").rstrip("_") or "pooled"
        rows.append({"group": group, "interval": kind, "nominal": float(level) / 100, "coverage": value})
    return pd.DataFrame(rows, columns=["group", "interval", "nominal", "coverage"])


def _figures(report_dir: Path, frame: pd.DataFrame, n_buckets: int) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    present = [p for p in PREDICTORS if p in frame and p != "zero"]
    years = sorted(frame["date"].dt.year.unique())
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(present)
    for i, name in enumerate(present):
        values = [metrics.rank_ic_by_date(frame[frame["date"].dt.year == y], name).mean() for y in years]
        ax.bar(np.arange(len(years)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(years)) + 0.4 - width / 2, [str(y) for y in years])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("mean per-date rank IC")
    ax.set_title("Rank IC by test year")
    ax.legend(fontsize=7, ncol=3)
    figures.append(("ic_by_year.png", "Rank IC by test year, every predictor"))
    _save(fig, report_dir / figures[-1][0], plt)

    buckets = metrics.returns_by_bucket(frame, n_buckets, "model")
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
    ax.scatter(frame["model"], frame["target"], s=3, alpha=0.3)
    low, high = np.nanpercentile(frame["target"], [1, 99])
    ax.plot([low, high], [low, high], color="black", linewidth=0.8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("realised")
    ax.set_title("Predicted vs realised")
    figures.append(("pred_vs_actual.png", "Predicted vs realised, every test row"))
    _save(fig, report_dir / figures[-1][0], plt)
    return figures


def _save(fig, path: Path, plt) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def write_report(report_dir: Path, frame: pd.DataFrame, summary: dict, params: Params) -> None:
    with output_errors(report_dir / "report.md"):  # a file named like the directory, no permission
        report_dir.mkdir(parents=True, exist_ok=True)
    figures = _figures(report_dir, frame, params.evaluate.n_buckets)
    s = summary
    lines = ["# Evaluation report", ""]
    lines.append(_headline(s, params))
    lines += [
        "",
        "## Pooled over the test years",
        "",
        "| predictor | rank IC | IC std | ICIR | t (Newey-West) | MAE | RMSE | hit rate | Q5-Q1 spread | calibration slope |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in PREDICTORS:
        if f"{name}_rank_ic" not in s:
            continue
        lines.append(
            f"| {name} | {_fmt(s[f'{name}_rank_ic'])} | {_fmt(s[f'{name}_rank_ic_std'])} | {_fmt(s[f'{name}_icir'], 2)} | "
            f"{_fmt(s[f'{name}_rank_ic_t_nw'], 2)} | {_fmt(s[f'{name}_mae'])} | {_fmt(s[f'{name}_rmse'])} | "
            f"{_fmt(s[f'{name}_hit_rate'])} | {_fmt(s[f'{name}_quintile_spread'])} | {_fmt(s[f'{name}_calibration_slope'], 2)} |"
        )
    lines += [
        "",
        f"Base rate (share of positive outcomes): {_fmt(s['base_rate'])}; a constant-sign guess hits "
        f"{_fmt(s['best_constant_hit_rate'])}; the model predicts a positive value for {_fmt(s['pred_positive_share'])} of rows.",
        "The oracle is the simulator's planted expected return: the best any model could rank.",
        "",
        "## Model minus baseline (bootstrap over date blocks, 95% interval)",
        "",
        "| baseline | rank IC margin | interval | MAE margin (negative = model better) | interval |",
        "|---|---|---|---|---|",
    ]
    for name in ("zero", "historical_mean", "momentum", "ridge", "gbt"):
        lines.append(
            f"| {name} | {_fmt(s[f'margin_vs_{name}_rank_ic'])} | [{_fmt(s[f'margin_vs_{name}_rank_ic_lo'])}, "
            f"{_fmt(s[f'margin_vs_{name}_rank_ic_hi'])}] | {_fmt(s[f'margin_vs_{name}_mae'], 4)} | "
            f"[{_fmt(s[f'margin_vs_{name}_mae_lo'], 4)}, {_fmt(s[f'margin_vs_{name}_mae_hi'], 4)}] |"
        )
    years = sorted({int(k[1:5]) for k in s if k.startswith("y") and k[1:5].isdigit()})
    present = [p for p in PREDICTORS if f"{p}_rank_ic" in s]
    lines += [
        "",
        "## Rank IC per test year",
        "",
        "| year | rows | " + " | ".join(present) + " |",
        "|---|---|" + "---|" * len(present),
    ]
    for year in years:
        cells = " | ".join(_fmt(s.get(f"y{year}_{p}_rank_ic")) for p in present)
        lines.append(f"| {year} | {s[f'y{year}_rows']} | {cells} |")
    lines += _uncertainty_section(s)
    lines += ["", "## Figures", ""] + [f"![{caption}]({name})" for name, caption in figures]
    lines += ["", "Metric definitions: docs/metrics.md.", ""]
    write_text(report_dir / "report.md", "\n".join(lines))


def _headline(s: dict, params: Params) -> str:
    """The plain-words summary a reader sees first."""
    parts = []
    for name in ("momentum", "ridge", "gbt"):  # every ranking baseline, the strongest (ridge) included
        diff, lo, hi = s[f"margin_vs_{name}_rank_ic"], s[f"margin_vs_{name}_rank_ic_lo"], s[f"margin_vs_{name}_rank_ic_hi"]
        if diff is None or lo is None or hi is None:
            parts.append(f"cannot be compared with {name} on rank IC (undefined: constant predictions)")
        elif lo > 0:
            parts.append(f"beats {name} by {diff:.3f} rank IC (95% interval {lo:.3f} to {hi:.3f})")
        elif hi < 0:
            parts.append(f"loses to {name} by {-diff:.3f} rank IC (95% interval {-hi:.3f} to {-lo:.3f})")
        else:
            parts.append(f"is not distinguishable from {name} (rank IC margin {diff:.3f}, interval {lo:.3f} to {hi:.3f})")
    text = (
        f"**Summary.** Over {s['dates']} test dates ({s['rows']} predictions, horizon {params.train.horizon}, "
        f"target {params.train.target} return) the model's mean rank IC is {_fmt(s['model_rank_ic'])} "
        f"(t = {_fmt(s['model_rank_ic_t_nw'], 1)}, Newey-West); it " + "; it ".join(parts) + "."
    )
    if s.get("oracle_rank_ic") is not None:
        text += (
            f" The oracle reaches {_fmt(s['oracle_rank_ic'])}, so the model captures "
            f"{100 * s['model_share_of_oracle_ic']:.0f}% of the achievable rank IC."
        )
    text += (
        f" Its hit rate {_fmt(s['model_hit_rate'])} compares with a base rate of {_fmt(s['base_rate'])} "
        f"(a constant guess scores {_fmt(s['best_constant_hit_rate'])})."
    )
    covered = [
        (key.split("_")[1], value)
        for key, value in s.items()
        if key.startswith("interval_") and key.endswith("_coverage") and value is not None
    ]
    if covered:
        text += " Calibrated intervals cover " + ", ".join(
            f"{100 * value:.1f}% at a nominal {level}%" for level, value in covered
        )
        raw = [s.get(f"mc_interval_{level}_coverage") for level, _ in covered]
        if all(value is not None for value in raw):
            text += " (raw MC dropout: " + ", ".join(f"{100 * value:.1f}%" for value in raw) + ")"
        text += "."
    return text


def _uncertainty_section(s: dict) -> list[str]:
    """Interval coverage (calibrated beside raw MC dropout) and error by confidence bucket."""
    table = coverage_rows(s)
    if table.empty:
        return []
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
    widths = [f"{key.split('_')[1]}%: {_fmt(s[key])}" for key in s if key.startswith("interval_") and key.endswith("_width")]
    lines += [
        "",
        "Mean calibrated width — " + ", ".join(widths) + ".",
        "",
        "## Confidence",
        "",
        "Confidence quintile 1 is the least confident fifth of predictions.",
        "",
        "| quintile | MAE | rank IC |",
        "|---|---|---|",
    ]
    for k in range(1, 6):
        if f"confidence_q{k}_mae" in s:
            lines.append(f"| {k} | {_fmt(s[f'confidence_q{k}_mae'])} | {_fmt(s[f'confidence_q{k}_rank_ic'])} |")
    order = s.get("confidence_mae_order")
    if order is not None:
        verdict = (
            "errors fall as confidence rises, as they should" if order < -0.8 else "errors do NOT fall steadily with confidence"
        )
        lines += ["", f"Rank correlation of quintile and MAE: {order:.2f} ({verdict})."]
    return lines
