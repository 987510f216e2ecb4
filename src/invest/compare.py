"""``invest compare A B``: two models scored on the same test rows, side by side, with a verdict.

A and B are checkpoint paths, registered versions (``v1.2.0``), ``latest``, stages (``prod``),
DVC experiments (the names ``dvc exp show`` lists), commits, branches or tags; every model that is
not a file is fetched into a temporary directory (from the DVC cache or remote).

The rows: snapshots after the *later* of the two models' ``split.test_start`` that have a known
label, so neither model trained or selected epochs on them. Each model scores them with its own
scaler and sequence length after its feature schema is checked against the store. The margin
B − A (rank IC and MAE) comes from ``metrics.paired_margin``: a date-block bootstrap over the
same rows. Exit code 0 whatever the verdict.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from invest.data.features import horizon_months, label_column
from invest.data.panel import Panel, load_panel
from invest.errors import DataError
from invest.evaluation import metrics, portfolio
from invest.evaluation.scoring import score
from invest.io import write_json
from invest.modelling.checkpoint import LoadedModel, check_schema, load_model
from invest.modelling.dataset import arrays_for
from invest.modelling.inference import predict
from invest.params import EvaluateParams, Params


@dataclass
class Candidate:
    label: str  # what the user typed
    source: str  # where it came from: a path, or "v1.1.0 (stage prod)"
    loaded: LoadedModel


def resolve(spec: str, repo: str, workdir: Path, slot: str) -> tuple[Path, str]:
    """A checkpoint path for ``spec``: an existing file; a registered version or ``latest``; a stage that holds
    a version; an experiment (``dvc exp show``'s names), a commit, a branch or a tag."""
    path = Path(spec)
    if path.is_file():
        return path, str(path)
    from invest import registry
    from invest.registry import revisions

    if path.suffix == ".pt" or "/" in spec and not revisions.commit_of(repo, spec):
        raise DataError(f"{spec} not found; {FORMS}")
    if registry.is_version(spec) or spec == registry.LATEST:
        version, fetched = registry.get(spec, repo=repo, out=workdir / f"{slot}.pt", force=True)
        return fetched, version.version
    stages = {stage for version in _registered(repo) for stage in version.stages}
    if spec in stages:
        version, fetched = registry.get(spec, repo=repo, out=workdir / f"{slot}.pt", force=True)
        return fetched, f"{version.version} ({spec})"
    commit = revisions.commit_of(repo, spec)
    if commit is None:
        shown = f" (stages in use: {', '.join(sorted(stages))})" if stages else ""
        raise DataError(f"{spec!r} is not a checkpoint file, a registered version, a stage{shown} or an experiment; {FORMS}")
    fetched = revisions.model_at(repo, commit, spec, workdir / f"{slot}.pt")
    return fetched, spec if spec.startswith(commit[:7]) else f"{spec} ({commit[:8]})"


FORMS = (
    "give a checkpoint path, a registered version (v1.2.0) or latest, a stage holding a version (prod), "
    "an experiment name (dvc exp show lists them) or a commit"
)


def _registered(repo: str) -> list:
    from invest import registry

    try:
        return registry.versions(repo)
    except registry.RegistryError:  # not a git repository, or no registry yet: no stages
        return []


def main(
    params: Params,
    db_path: str | os.PathLike[str],
    a: str,
    b: str,
    repo: str = ".",
    out_json: str | os.PathLike[str] | None = None,
    echo: bool = True,
) -> dict[str, Any]:
    """Score A and B on the shared test rows; print the comparison; return (and optionally write) it as a dict."""
    panel = load_panel(db_path)
    with tempfile.TemporaryDirectory(prefix="invest-compare-") as tmp:
        candidates = []
        for slot, spec in (("A", a), ("B", b)):
            path, source = resolve(spec, repo, Path(tmp), slot)
            loaded = load_model(path)
            check_schema(loaded.checkpoint, panel.temporal_features, panel.static_features, str(db_path))
            candidates.append(Candidate(spec, source, loaded))
    frame, test_start = score_rows(panel, candidates[0].loaded, candidates[1].loaded)
    settings = params.evaluate
    horizon = horizon_months(candidates[0].loaded.checkpoint["target"]["horizon"])
    result: dict[str, Any] = {
        "a": candidates[0].source,
        "b": candidates[1].source,
        "db": str(db_path),
        "test_start": str(test_start.date()),
        "rows": len(frame),
        "dates": int(frame["date"].nunique()),
        "first_date": str(frame["date"].min().date()),
        "last_date": str(frame["date"].max().date()),
        "target": dict(candidates[0].loaded.checkpoint["target"]),
    }
    for slot in ("A", "B"):
        result[slot.lower() + "_metrics"] = side(frame, slot, horizon)
    margin = metrics.paired_margin(frame, "A", "B", settings.block_months, settings.bootstrap_samples, settings.seed)
    result["margin"] = {key: margin[key] for key in ("rank_ic", "mae") if key in margin}
    result["margin"]["portfolio"] = portfolio_margin(frame, settings)
    result["n_ic_dates"] = margin.get("n_ic_dates", 0)
    result["verdicts"] = verdicts(result["margin"])
    result["verdict"] = "; ".join(result["verdicts"])
    result = _plain(result)
    if out_json is not None:
        write_json(out_json, result)
    if echo:
        print(render(result))
    return result


def score_rows(panel: Panel, a: LoadedModel, b: LoadedModel) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Both models' predictions on the labelled rows after the later test start."""
    ta, tb = a.checkpoint["target"], b.checkpoint["target"]
    if (ta["horizon"], ta["kind"]) != (tb["horizon"], tb["kind"]):
        raise DataError(
            f"A predicts {ta['horizon']} {ta['kind']} returns and B {tb['horizon']} {tb['kind']} returns; "
            "compare models trained for the same train.horizon and train.target"
        )
    test_start = max(pd.Timestamp(a.checkpoint["split"]["test_start"]), pd.Timestamp(b.checkpoint["split"]["test_start"]))
    snapshots = panel.snapshots
    dates = pd.DatetimeIndex(snapshots["date"])
    labelled = snapshots[label_column(ta["horizon"], ta["kind"])].notna().to_numpy()
    rows = np.asarray(dates > test_start) & labelled
    if not rows.any():
        last = dates[labelled].max() if labelled.any() else None
        raise DataError(
            f"no labelled {ta['horizon']} rows after {test_start.date()} (the later test start of A and B; "
            f"labels in {'this store end ' + str(last.date()) if last is not None else 'this store: none'}); "
            "score on a store with more recent data"
        )
    predictions = {}
    for slot, loaded in (("A", a), ("B", b)):
        target = loaded.checkpoint["target"]  # each model its own sequence length and scaler
        arrays = arrays_for(panel, target)
        predictions[slot] = predict(loaded, arrays, rows=rows)["prediction"]  # the rest of a date: cross-section context
        arrays = arrays.subset(rows)
    chosen = snapshots.iloc[np.flatnonzero(rows)]
    horizon = ta["horizon"]
    frame = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(chosen["date"]),
            "ticker": chosen["ticker"].to_numpy(),
            "target": arrays.target,
            "market_return": (chosen[label_column(horizon, "raw")] - chosen[label_column(horizon, "excess")]).to_numpy(),
            "A": predictions["A"],
            "B": predictions["B"],
            portfolio.RETURN: chosen[label_column("1m", "raw")].to_numpy(),
            portfolio.MARKET: (chosen[label_column("1m", "raw")] - chosen[label_column("1m", "excess")]).to_numpy(),
        }
    )
    frame[portfolio.MARKET] = frame.groupby("date")[portfolio.MARKET].transform("first")  # one index return a date
    return frame, test_start


def side(frame: pd.DataFrame, pred: str, horizon_months: int) -> dict[str, float]:
    """The metrics the comparison shows, from the scoring ``evaluate`` uses."""
    scores = score(frame, pred, horizon_months)
    return {key: scores[key] for key in ("rank_ic", "rank_ic_t_nw", "mae", "hit_rate", "excess_hit_rate")}


def portfolio_margin(frame: pd.DataFrame, settings: EvaluateParams) -> dict[str, float]:
    """B − A in the net return of the long-only top book (monthly rebalanced, with costs), annualised."""
    book = portfolio.PortfolioSettings.from_params(settings)
    backtests = portfolio.compare_predictors(frame, ["A", "B"], book)
    return portfolio.paired_difference(backtests["A"], backtests["B"], book)


def verdicts(margin: dict[str, Any]) -> list[str]:
    """A verdict on each metric: rank IC (the ranking), MAE (the level) and the portfolio (what acting on it earned)."""
    out = []
    for key, what, higher, fmt in metrics.VERDICT_METRICS:
        m = margin.get(key) or {}
        out.append(
            metrics.verdict(what, m.get("diff"), m.get("ci_low"), m.get("ci_high"), higher, fmt, detectable=m.get("detectable"))
        )
    return out


def render(result: dict[str, Any]) -> str:
    a, b = result["a_metrics"], result["b_metrics"]
    rows = [("", "A", "B", "B − A")]
    for key, name, digits in (
        ("rank_ic", "rank IC", 3),
        ("rank_ic_t_nw", "rank IC t (NW)", 2),
        ("mae", "MAE", 4),
        ("hit_rate", "hit rate", 3),
    ):
        diff = None if a.get(key) is None or b.get(key) is None else b[key] - a[key]
        rows.append((name, _fmt(a.get(key), digits), _fmt(b.get(key), digits), _fmt(diff, digits, sign=True)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows
    ]
    lines = [
        f"A: {result['a']}",
        f"B: {result['b']}",
        f"rows: {result['rows']} labelled snapshots on {result['dates']} dates, {result['first_date']} .. "
        f"{result['last_date']} (after {result['test_start']}, the later test start; "
        f"target {result['target']['horizon']} {result['target']['kind']} return)",
        "",
        *table,
        "",
    ]
    lines += [f"verdict, {line}" for line in result["verdicts"]]
    return "\n".join(lines)


def _fmt(value: Any, digits: int, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
