"""Stage ``evaluate``: out-of-sample scores of the network beside every baseline (and the oracle).

Walk-forward (default): for each test year the network and the baselines are refitted on an
expanding window (``evaluation.walk_forward``); ``evaluate.mode: single`` scores the trained
checkpoint on its own test block instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from invest.data.panel import load_panel
from invest.evaluation import figures, predictors, report, scoring, summary, walk_forward
from invest.evaluation.model_card import complete_card
from invest.io import write_json
from invest.modelling.checkpoint import check_schema, load_model
from invest.modelling.training import configure_runtime
from invest.params import Params

SECTIONS = ("train", "evaluate")  # walk-forward retrains the network with the train settings


def main(
    params: Params,
    *,
    db_path: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    headline_path: str | os.PathLike[str],
    predictions_path: str | os.PathLike[str],
    plots_dir: str | os.PathLike[str],
    report_dir: str | os.PathLike[str],
    card_path: str | os.PathLike[str],
) -> None:
    started = time.perf_counter()
    configure_runtime(params.train.num_threads)
    panel = load_panel(db_path)
    loaded = load_model(model_path)
    check_schema(loaded.checkpoint, panel.temporal_features, panel.static_features, str(db_path))
    if params.evaluate.mode == "walk_forward":
        frame = walk_forward.walk_forward(panel, params)
    else:
        frame = walk_forward.single_split(panel, params, loaded, str(model_path))
    predicted = time.perf_counter()
    evaluation = scoring.evaluate_predictions(frame, predictors.baseline_names(), params)
    evaluation.about = scoring.data_about(panel.meta)
    flat = summary.flatten(evaluation)
    write_json(metrics_path, flat)
    write_json(headline_path, summary.headline(flat, evaluation), sort_keys=False)
    complete_card(card_path, evaluation, loaded.checkpoint, params.evaluate)
    report.write_predictions(Path(predictions_path), frame)
    figures.write_plot_data(Path(plots_dir), evaluation, params.evaluate.n_buckets)
    report.write_report(Path(report_dir), evaluation, params)
    done = time.perf_counter()
    print(
        f"evaluate: time: predictions {predicted - started:.1f} s, scoring, report and figures {done - predicted:.1f} s",
        file=sys.stderr,
    )
    line = f"evaluate: model rank IC {flat['model_rank_ic']:.3f}"
    if flat.get("oracle_rank_ic") is not None:
        line += f" (oracle {flat['oracle_rank_ic']:.3f})"
    print(
        f"{line}, MAE {flat['model_mae']:.3f} vs historical mean {flat['historical_mean_mae']:.3f} -> {metrics_path}",
        file=sys.stderr,
    )
