"""The ``invest`` command: one subcommand per pipeline stage, plus model tools.

This is the only place where errors become exit codes: an ``InvestError`` prints
``Error: <one line>`` and exits 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from invest.errors import InvestError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Reproducible stock-return modelling: fetch -> validate -> cache -> train -> evaluate.",
)
ParamsOption = Annotated[Path, typer.Option("--params", "-p", help="Path to params.yaml.")]


class State:
    debug = False


@app.callback()
def _global(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    State.debug = debug


def _params(path: Path):
    from invest.params import load

    return load(path)


@app.command()
def fetch(
    params: ParamsOption = Path("params.yaml"),
    raw_dir: Annotated[Path, typer.Option(help="Where the raw Parquet tables go.")] = Path("data/raw"),
    report: Annotated[Path, typer.Option(help="Fetch report (JSON).")] = Path("metrics/fetch.json"),
) -> None:
    """Pull raw tables from the configured source (sim, yfinance or files)."""
    from invest import fetch as stage

    stage.main(_params(params), raw_dir, report)


@app.command()
def validate(
    params: ParamsOption = Path("params.yaml"),
    raw_dir: Annotated[Path, typer.Option(help="Raw tables to check.")] = Path("data/raw"),
    report: Annotated[Path, typer.Option(help="Data-quality report (JSON).")] = Path("metrics/data_quality.json"),
) -> None:
    """Check the raw tables; exit 1 on critical problems."""
    from invest import validate as stage

    stage.main(_params(params), raw_dir, report)


@app.command()
def cache(
    params: ParamsOption = Path("params.yaml"),
    raw_dir: Annotated[Path, typer.Option(help="Validated raw tables.")] = Path("data/raw"),
    db: Annotated[Path, typer.Option(help="SQLite store to build.")] = Path("data/stock_data.db"),
) -> None:
    """Build the point-in-time SQLite store."""
    from invest import cache as stage

    stage.main(_params(params), raw_dir, db)


@app.command()
def train(
    params: ParamsOption = Path("params.yaml"),
    db: Annotated[Path, typer.Option(help="SQLite store.")] = Path("data/stock_data.db"),
    model: Annotated[Path, typer.Option(help="Checkpoint to write.")] = Path("models/model.pt"),
    metrics: Annotated[Path, typer.Option(help="Training summary (JSON).")] = Path("metrics/train.json"),
    live_dir: Annotated[Path, typer.Option(help="dvclive directory for training curves.")] = Path("metrics/train"),
) -> None:
    """Train the LSTM/Transformer network on the training block."""
    from invest import train as stage

    stage.main(_params(params), db, model, metrics, live_dir)


@app.command()
def evaluate(
    params: ParamsOption = Path("params.yaml"),
    db: Annotated[Path, typer.Option(help="SQLite store.")] = Path("data/stock_data.db"),
    model: Annotated[Path, typer.Option(help="Checkpoint to evaluate.")] = Path("models/model.pt"),
    out_dir: Annotated[Path, typer.Option(help="Where metrics, predictions and plots go.")] = Path("metrics"),
) -> None:
    """Score the model on the test period beside baselines and the oracle."""
    from invest import evaluate as stage

    stage.main(_params(params), db, model, out_dir)


def main() -> None:
    """Console entry point: run the app, turning user errors into one line and exit code 1."""
    try:
        app()  # standalone: usage errors print typer's message and exit 2
    except InvestError as exc:
        if State.debug or os.environ.get("INVEST_DEBUG"):
            raise
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
