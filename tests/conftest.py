"""Shared fixtures: a tiny simulated market, small params and a built store."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import settings as hypothesis_settings

from invest import params as params_module
from invest.data.market import simulate
from invest.data.raw import write_table
from invest.data.schema import TABLES_BY_NAME

# CI runs the property tests with fixed seeds (.ci/run sets INVEST_HYPOTHESIS_PROFILE=ci), so a red CI
# is reproducible and never depends on the draw; local runs keep exploring new random cases.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("INVEST_HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["INVEST_HYPOTHESIS_PROFILE"])

REPO = Path(__file__).resolve().parents[1]
# each stage's command line, as dvc.yaml runs it (the one place its paths are written)
STAGE_ARGS = {
    name: shlex.split(stage["cmd"])[1:] for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()
}


# what a repository of this pipeline holds besides src/ and params.yaml (data/external: fetch's files dependency)
PIPELINE_FILES = ("dvc.yaml", ".gitignore", ".dvcignore", "pyproject.toml", "data/external/README.md")


def invest_args(*args: str) -> list[str]:
    """``invest <args>`` with a bare stage name expanded to its dvc.yaml command line (paths included)."""
    head = [a for a in args[:1] if a == "--debug"]
    rest = list(args[len(head) :])
    if rest and rest[0] in STAGE_ARGS:
        rest = [*STAGE_ARGS[rest[0]], *rest[1:]]
    return [*head, *rest]


# A network small enough to train in seconds; the test params below share it.
TINY_NETWORK = {"hidden_size": 8, "attention_heads": 2, "seq_len": 6, "batch_size": 64, "num_threads": 1, "ensemble_size": 2}

# Jobs in this process: pytest-xdist already keeps the cores busy, and a pool's workers would each spend
# seconds importing torch for a job of milliseconds. The pools have their own tests (test_jobs, test_train).
SERIAL = {"n_jobs": 1}

# Small enough for seconds, large enough for every stage: 15 tickers, 2010-2018.
SMALL_PARAMS = {
    "data": {"n_tickers": 15, "start": "2010-01-01", "as_of": "2018-12-31", "seed": 3},
    "train": {
        "train_end": "2013-12-31",
        "val_end": "2015-06-30",
        "epochs": 2,
        "patience": 2,
        **TINY_NETWORK,
        **SERIAL,
    },
    "evaluate": {"test_years": [2016, 2017], "val_months": 12, "bootstrap_samples": 50, **SERIAL},
}


@pytest.fixture(scope="session")
def small_tables() -> dict:
    return simulate(15, "2010-01-01", "2018-12-31", seed=3)


@pytest.fixture
def small_params() -> params_module.Params:
    return params_module.from_dict(SMALL_PARAMS)


def write_raw(raw_dir: Path, tables: dict) -> Path:
    for name, frame in tables.items():
        write_table(raw_dir, TABLES_BY_NAME[name], frame)
    return raw_dir


@pytest.fixture
def raw_dir(tmp_path: Path, small_tables: dict) -> Path:
    return write_raw(tmp_path / "raw", small_tables)


@pytest.fixture(scope="session")
def small_store(tmp_path_factory, small_tables: dict) -> Path:
    """A store built once per session from the small market (treat it as read-only)."""
    from invest import cache

    base = tmp_path_factory.mktemp("store")
    write_raw(base / "raw", small_tables)
    db = base / "stock_data.db"
    cache.main(params_module.from_dict(SMALL_PARAMS), raw_dir=base / "raw", db_path=db)
    return db


def make_dvc_repo(path: Path, params: dict | None = None) -> Path:
    """A real git + DVC repository holding this project's pipeline files, with one commit."""
    path.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE_FILES:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, path / name)
    shutil.copytree(REPO / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    merged = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in (params or SMALL_PARAMS).items():
        merged[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "test@example.com"], path)
    run(["git", "config", "user.name", "test"], path)
    run(["dvc", "init", "-q"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "init"], path)
    return path


def run(
    args: list[str], cwd: Path, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``args`` in ``cwd`` (environment: this one plus ``env``); a failure raises with its output."""
    full_env = {**os.environ, **env} if env else None
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_train(
    params: params_module.Params, db: Path, model: Path, metrics: Path | None = None, live_dir: Path | None = None
) -> Path:
    """``train.main`` with the pipeline's file layout beside ``model`` (card, run log, metrics, curves)."""
    from invest import train

    train.main(
        params,
        db_path=db,
        model_path=model,
        card_path=model.with_name("model_card.train.json"),
        metrics_path=metrics or model.with_suffix(".json"),
        live_dir=live_dir or model.parent / f"live_{model.stem}",
        run_log=model.with_suffix(".run.json"),
    )
    return model


def run_evaluate(params: params_module.Params, db: Path, model: Path, out_dir: Path, report_dir: Path) -> None:
    """``evaluate.main`` writing eval.json, predictions.csv and plots/ to ``out_dir``, the card beside the model."""
    from invest import evaluate

    evaluate.main(
        params,
        db_path=db,
        model_path=model,
        metrics_path=out_dir / "eval.json",
        headline_path=out_dir / "headline.json",
        predictions_path=out_dir / "predictions.csv",
        plots_dir=out_dir / "plots",
        report_dir=report_dir,
        card_path=model.with_name("model_card.json"),
    )


# --- the comparison screen (README, "A short tour") ---------------------------------------------

HEADLINE = ["rank_ic", "margin", "mae_vs_0", "cov_95", "excess"]  # metrics/headline.json, in order
COMPARE = ["dvc", "exp", "show", "--only-changed", "--drop", "State|Executor|models/"]  # as the README writes it


def assert_screen_fits_120_columns(show, changed: str) -> None:
    """``show(columns)`` prints the README's comparison at a width: the headline and the changed param whole at 120."""
    wide = show("400")
    header = next(line for line in wide.splitlines() if "Experiment" in line)
    assert header.split() == ["Experiment", "Created", *HEADLINE, changed], wide
    # on a later day DVC writes "Created" as "Nov 27, 2026", 4 characters more than today's "07:59 PM"
    assert len(header.rstrip()) + 4 <= 120, wide
    shown = show("120")
    assert next(line for line in shown.splitlines() if "Experiment" in line).split() == header.split(), shown
