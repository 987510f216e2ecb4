"""The ``invest`` command: one subcommand per pipeline stage, plus model tools.

This is the only place where errors become exit codes: an ``InvestError`` prints
``Error: <one line>`` and exits 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

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


def _params(path: Path, stage: Any = None):
    """params.yaml, loaded and checked; for a stage, only the sections its module declares (``SECTIONS``),
    the ones dvc.yaml lists for it, so reading another section fails loudly instead of lying to DVC."""
    from invest.params import load, scoped

    loaded = load(path)
    return loaded if stage is None else scoped(loaded, stage.SECTIONS, stage.__name__)


def _path(help: str) -> Any:
    """A required path option: every stage's inputs and outputs are named in dvc.yaml's cmd."""
    return typer.Option(..., help=help)


@app.command()
def check(
    report: Annotated[Path, _path("Check report (JSON; the same bytes whenever the check passes).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check every section of params.yaml; `dvc repro` runs this first, before any stage removes its outputs."""
    from invest import check as stage

    stage.main(_params(params, stage), report_path=report)


@app.command()
def fetch(
    raw_dir: Annotated[Path, _path("Where the raw Parquet tables go.")],
    report: Annotated[Path, _path("Fetch report (JSON).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Pull raw tables from the configured source (sim, yfinance or files)."""
    from invest import fetch as stage

    stage.main(_params(params, stage), raw_dir=raw_dir, report_path=report)


@app.command()
def validate(
    raw_dir: Annotated[Path, _path("Raw tables to check.")],
    report: Annotated[Path, _path("Data-quality report (JSON).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check the raw tables; exit 1 on critical problems."""
    from invest import validate as stage

    stage.main(_params(params, stage), raw_dir=raw_dir, report_path=report)


@app.command()
def cache(
    raw_dir: Annotated[Path, _path("Validated raw tables.")],
    db: Annotated[Path, _path("SQLite store to build.")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Build the point-in-time SQLite store."""
    from invest import cache as stage

    stage.main(_params(params, stage), raw_dir=raw_dir, db_path=db)


@app.command()
def splits(
    db: Annotated[Path, _path("SQLite store.")],
    train_report: Annotated[Path, _path("The training split and its labelled rows (JSON).")],
    evaluate_report: Annotated[Path, _path("The walk-forward folds (or the single test block) and their rows (JSON).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Check the train/validation/test splits against the store's labelled dates, before anything is trained."""
    from invest import splits as stage

    stage.main(_params(params, stage), db_path=db, train_report=train_report, evaluate_report=evaluate_report)


@app.command()
def train(
    db: Annotated[Path, _path("SQLite store.")],
    model: Annotated[Path, _path("Checkpoint to write.")],
    card: Annotated[Path, _path("Model card of the trained checkpoint (JSON).")],
    metrics: Annotated[Path, _path("Training summary (JSON).")],
    live_dir: Annotated[Path, _path("dvclive directory for training curves.")],
    run_log: Annotated[Path, _path("Wall-clock facts of the run (JSON, not versioned).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Train the LSTM/Transformer network on the training block (train.nproc > 1: several processes)."""
    from invest import train as stage
    from invest.modelling import distributed

    loaded = _params(params, stage)
    if loaded.train.nproc > 1 and not distributed.under_torchrun():
        distributed.preflight(loaded.train.device, db)  # one line here rather than one per worker under torchrun
        paths = {"--db": db, "--model": model, "--card": card, "--metrics": metrics, "--live-dir": live_dir, "--run-log": run_log}
        argv = ["train", "--params", str(params), *(str(part) for pair in paths.items() for part in pair)]
        raise typer.Exit(distributed.relaunch(loaded.train.nproc, argv))
    stage.main(loaded, db_path=db, model_path=model, card_path=card, metrics_path=metrics, live_dir=live_dir, run_log=run_log)


@app.command()
def evaluate(
    db: Annotated[Path, _path("SQLite store.")],
    model: Annotated[Path, _path("Checkpoint to evaluate.")],
    metrics: Annotated[Path, _path("Every metric, flat (JSON).")],
    headline: Annotated[Path, _path("The few metrics `dvc exp show` compares (JSON).")],
    predictions: Annotated[Path, _path("One row per test prediction (CSV).")],
    plots: Annotated[Path, _path("Directory of the CSV files behind the DVC plots.")],
    report_dir: Annotated[Path, _path("Directory of report.md and its figures.")],
    card: Annotated[Path, _path("Model card with the headline metrics (JSON).")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Score the model on the test period beside baselines and the oracle."""
    from invest import evaluate as stage

    stage.main(
        _params(params, stage),
        db_path=db,
        model_path=model,
        metrics_path=metrics,
        headline_path=headline,
        predictions_path=predictions,
        plots_dir=plots,
        report_dir=report_dir,
        card_path=card,
    )


# --- model management: predict, compare, and the `invest models` registry (docs/models.md) ---


def _params_or_defaults(path: Path):
    """params.yaml if present; the defaults otherwise (predict/compare only need seeds and bootstrap settings)."""
    from invest.params import from_dict, load

    return load(path) if path.exists() or path != Path("params.yaml") else from_dict({})


@app.command()
def predict(
    params: ParamsOption = Path("params.yaml"),
    db: Annotated[
        Path | None, typer.Option(help="SQLite store with the latest snapshots (default: the one dvc.yaml builds).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Checkpoint, e.g. from `invest models get prod` (default: dvc.yaml's stock-model).")
    ] = None,
    out: Annotated[Path, typer.Option(help="CSV to write.")] = Path("predictions/latest.csv"),
    ticker: Annotated[
        list[str] | None, typer.Option("--ticker", "-t", help="Ticker(s) to score (repeat or comma-separate); default all.")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="Use the newest snapshot on or before this date (YYYY-MM-DD).")] = None,
    mc_samples: Annotated[
        int | None, typer.Option(help="Monte Carlo dropout samples; default: what the checkpoint's intervals use, else 0.")
    ] = None,
) -> None:
    """Predict forward returns from the latest snapshot of each ticker (table + CSV)."""
    from invest import predict as command

    tickers = [name.strip() for item in ticker or [] for name in item.split(",") if name.strip()] or None
    from invest import pipeline

    db, model = db or pipeline.default_store(), model or pipeline.default_model()
    command.main(_params_or_defaults(params), db, model, out, tickers=tickers, as_of=as_of, mc_samples=mc_samples)


@app.command()
def tune(
    params: ParamsOption = Path("params.yaml"),
    db: Annotated[Path | None, typer.Option(help="SQLite store (default: the one dvc.yaml builds).")] = None,
    trials: Annotated[int, typer.Option(help="Settings to try.")] = 20,
    folds: Annotated[int, typer.Option(help="Validation years scored, ending at the first test year.")] = 3,
    seed: Annotated[int, typer.Option(help="The sampler's seed (the same seed repeats the search).")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for trials.csv and best.yaml.")] = Path("tune"),
) -> None:
    """Search train settings on walk-forward validation blocks (never test years); print the `dvc exp run` of the best."""
    from invest import pipeline
    from invest import tune as command

    command.main(_params(params), str(db or pipeline.default_store()), out, trials, folds, seed)


@app.command()
def compare(
    a: Annotated[
        str,
        typer.Argument(
            help="Model A: checkpoint path, version (v1.0.0), `latest`, stage (prod), experiment name (dvc exp show) or commit."
        ),
    ],
    b: Annotated[str, typer.Argument(help="Model B: same forms as A.")],
    params: ParamsOption = Path("params.yaml"),
    db: Annotated[
        Path | None, typer.Option(help="SQLite store to score both models on (default: the one dvc.yaml builds).")
    ] = None,
    repo: Annotated[str, typer.Option(help="Registry repository (path or git URL) for versions and stages.")] = ".",
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON.")] = None,
) -> None:
    """Score two models on the same test rows; metrics side by side and a verdict on B - A."""
    from invest import compare as command
    from invest import pipeline

    command.main(_params_or_defaults(params), db or pipeline.default_store(), a, b, repo=repo, out_json=out)


@app.command()
def metrics(
    file: Annotated[Path, typer.Argument(help="The evaluation's every-metric file.")] = Path("metrics/eval.json"),
    rev: Annotated[
        str | None, typer.Option(help="Read it at a commit, branch, tag or DVC experiment name (dvc exp show lists them).")
    ] = None,
) -> None:
    """Every metric of eval.json as tables: each predictor, the model's margins, interval coverage, each test year."""
    from invest import scores

    print(scores.render(scores.load(file, rev)))


models_app = typer.Typer(
    no_args_is_help=True, help="Model registry: GTO version/stage tags on the stock-model artifact in dvc.yaml."
)
app.add_typer(models_app, name="models")


@models_app.command("register")
def models_register(
    version: Annotated[str, typer.Argument(help="Semantic version, e.g. v1.0.0.")],
    ref: Annotated[str, typer.Option(help="Commit whose dvc.lock holds the trained model.")] = "HEAD",
    message: Annotated[str | None, typer.Option(help="Tag message.")] = None,
    push: Annotated[
        bool, typer.Option(help="Push the model to the default DVC remote if it is missing there, and the tag to git.")
    ] = False,
) -> None:
    """Register a version of stock-model (git tag stock-model@VERSION) once other clones can fetch its model."""
    from invest import registry

    item, note = registry.register(version, ref=ref, message=message, push=push)
    if note:
        print(f"models: {note}", file=sys.stderr)
    print(
        f"registered {registry.ARTIFACT}@{item.version} at {item.commit[:8]}"
        + ("" if push else f"; share the tag with `git push origin {registry.ARTIFACT}@{item.version}`")
    )


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Registered version, e.g. v1.0.0.")],
    stage: Annotated[str, typer.Argument(help="Stage, e.g. dev, staging, prod.")],
    message: Annotated[str | None, typer.Option(help="Tag message.")] = None,
    push: Annotated[bool, typer.Option(help="Push the tag to the git remote.")] = False,
) -> None:
    """Assign a stage to a registered version (git tag stock-model#STAGE#N)."""
    from invest import registry

    item = registry.promote(version, stage, message=message, push=push)
    print(f"{registry.ARTIFACT} {item.version} -> {stage}" + ("" if push else "; share it with `git push origin --tags`"))


@models_app.command("list")
def models_list(
    repo: Annotated[str, typer.Option(help="Registry repository (path or git URL).")] = ".",
) -> None:
    """List registered versions and their stages."""
    from invest import registry

    print(registry.table(registry.versions(repo)))


@models_app.command("get")
def models_get(
    version_or_stage: Annotated[str, typer.Argument(help="Version (v1.0.0), `latest` or stage (prod).")],
    repo: Annotated[str, typer.Option(help="Repository to fetch from (path or git URL).")] = ".",
    out: Annotated[Path | None, typer.Option(help="Where to write the checkpoint (default ./model.pt).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Download the model of a version or stage (dvc artifacts get)."""
    from invest import registry

    item, path = registry.get(version_or_stage, repo=repo, out=out, force=force)
    print(f"{registry.ARTIFACT} {item.version} (commit {item.commit[:8]}) -> {path}")


def main() -> None:
    """Console entry point: run the app, turning user errors into one line and exit code 1."""
    try:
        app()  # standalone: usage errors print typer's message and exit 2
    except InvestError as exc:
        if State.debug or os.environ.get("INVEST_DEBUG"):
            raise
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
