"""``invest tune``: search ``train`` settings on walk-forward validation blocks, never on test years.

Each trial is one set of ``train`` settings drawn by Optuna's TPE sampler (seeded, so a search is
repeatable). It is scored on the validation blocks of ``folds`` walk-forward splits ending at the
first test year (``evaluate.test_years``): for each year V of ``first - folds + 1 .. first`` the
ensemble trains on V's training block, stops early on V's validation block, and its mean prediction
is scored there by rank IC; the trial's value is the mean over the years. Those validation labels
all end before the first test year begins (embargo >= horizon), and before anything runs every
label whose window reaches past that day is blanked, so no test-year return can steer the search
(``tests/test_tune.py`` poisons them to prove it).

Trials run as jobs (``modelling.jobs``: here, local processes or Ray, as ``evaluate.n_jobs`` /
``backend`` say), ``n_jobs`` at a time. Writes ``OUT/trials.csv`` (every trial: settings, value,
each year's validation rank IC, seconds), ``OUT/best.yaml`` (the winner as a params diff) and
prints the ``dvc exp run -S ...`` commands that run the best trials through the real pipeline, so
each kept trial shows in ``dvc exp show`` beside the others.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from invest.errors import ConfigError, DataError, InvestError
from invest.io import write_csv, write_text
from invest.modelling import jobs
from invest.modelling.splits import MIN_ROWS, labelled_span, walk_forward
from invest.params import Params, TrainParams, months

# The settings searched and their ranges: (kind, choices or (low, high)). Log-uniform where the scale matters.
SPACE: dict[str, tuple[str, Any]] = {
    "learning_rate": ("log", (3e-4, 3e-3)),
    "weight_decay": ("log", (1e-5, 1e-2)),
    "dropout": ("float", (0.0, 0.3)),
    "hidden_size": ("choice", (16, 32, 64)),
    "ic_loss_weight": ("choice", (0.0, 0.5, 1.0, 2.0)),
    "aux_horizons": ("choice", ("none", "shorter")),  # shorter: every store horizon shorter than train.horizon
    "feature_norm": ("choice", ("robust", "cs_rank")),
    "cross_section_layers": ("choice", (0, 1)),
}


@dataclass(frozen=True)
class Trial:
    number: int
    settings: dict[str, Any]  # train.* as params.yaml writes them
    value: float  # mean validation rank IC over the years
    by_year: dict[int, float]
    seconds: float


def tuning_years(params: Params, folds: int) -> list[int]:
    """The years whose validation blocks score a trial: the ``folds`` years up to the first test year."""
    if folds < 1:
        raise ConfigError(f"--folds {folds}: give 1 or more validation years")
    first = min(params.evaluate.test_years)
    return list(range(first - folds + 1, first + 1))


def settings_for(draw: dict[str, Any], train: TrainParams, exact: bool = False) -> dict[str, Any]:
    """A sampler's draw as ``train.*`` values (``aux_horizons: shorter`` becomes the list it stands for)."""
    # 3 significant digits: the values a command line carries are exactly the ones the trial ran with
    settings = {key: float(f"{value:.3g}") if isinstance(value, float) and not exact else value for key, value in draw.items()}
    if "aux_horizons" in settings:
        shorter = [h for h in ("1m", "3m", "6m", "1y", "2y") if months(h) < train.horizon_months]
        settings["aux_horizons"] = shorter if settings["aux_horizons"] == "shorter" else []
    return settings


def blank_test_labels(arrays, first_test_year: int, horizon_months: int):
    """``arrays`` with every label (and auxiliary label) whose window ends after the first test year begins
    set to NaN: what tuning may know."""
    test_start = pd.Timestamp(year=first_test_year, month=1, day=1)
    ends = pd.DatetimeIndex(arrays.dates) + pd.DateOffset(months=horizon_months)
    late = np.asarray(ends >= test_start)
    target = np.where(late, np.nan, arrays.target)
    auxiliary = None if arrays.auxiliary is None else np.where(late[:, None], np.nan, arrays.auxiliary)
    return arrays.with_target(target, auxiliary)


def score_trial(
    db_path: str, params: Params, settings: dict[str, Any], years: list[int]
) -> tuple[dict[int, float], float, str | None]:
    """A job: the trial's ensemble on each year's split; its validation rank IC per year, the seconds it took,
    and why it could not run (a setting the data or the network refuse), if it could not."""
    started = time.perf_counter()
    try:
        return _score(db_path, params, settings, years), time.perf_counter() - started, None
    except InvestError as error:
        return {}, time.perf_counter() - started, str(error)


def _score(db_path: str, params: Params, settings: dict[str, Any], years: list[int]) -> dict[int, float]:
    import torch

    from invest.data.panel import load_panel
    from invest.modelling.dataset import load_arrays
    from invest.modelling.device import resolve_device
    from invest.modelling.engine import predict_rows
    from invest.modelling.ensemble import fit_members
    from invest.modelling.ranking import mean_rank_ic
    from invest.modelling.set_layer import date_codes
    from invest.modelling.stacked import StackedNetwork
    from invest.modelling.training import prepare

    train = replace(params.train, **settings)
    train.validate()
    panel = load_panel(db_path)
    arrays = blank_test_labels(load_arrays(panel, train), min(params.evaluate.test_years), train.horizon_months)
    by_year = {}
    for year in years:
        split = walk_forward(year, train.embargo, params.evaluate.val_months)
        prepared = prepare(panel, train, split, arrays)
        networks, _ = fit_members(prepared, train, resolve_device(train.device), verbose=False)
        rows = np.flatnonzero(prepared.masks["val"])
        stack = StackedNetwork.from_networks(networks)
        inputs = {"past": torch.as_tensor(prepared.past), "static": torch.as_tensor(prepared.static)}
        scores = predict_rows(stack, inputs | {"date": torch.as_tensor(date_codes(arrays.dates))}, rows)
        by_year[year] = mean_rank_ic(scores.mean(0).numpy(), prepared.target[rows], arrays.dates[rows])
    return by_year


def search(
    db_path: str, params: Params, trials: int, folds: int, seed: int, pool: jobs.Pool, log=print, after_batch=None
) -> list[Trial]:
    """``trials`` trials, ``pool.n_jobs`` at a time, each batch told to the sampler before the next is drawn
    (``after_batch`` gets the trials so far: the record is written as it grows)."""
    import optuna
    from optuna.trial import TrialState

    if trials < 1:
        raise ConfigError(f"--trials {trials}: give 1 or more trials")
    years = tuning_years(params, folds)
    _check_years(db_path, params, years)
    space = search_space(params.train)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, trials), constant_liar=True)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    current = current_draw(space, params.train)
    if current is not None:  # trial 0 scores params.yaml's own settings: the line every other trial must beat
        study.enqueue_trial(current)
    else:
        log("tune: params.yaml's train settings lie outside the search space; no trial scores them")
    done: list[Trial] = []
    while len(done) < trials:
        batch = [study.ask() for _ in range(min(max(pool.n_jobs, 1), trials - len(done)))]
        # trial 0 runs params.yaml's values as they are (the others are rounded to what a command line carries)
        draws = [
            settings_for(_draw(trial, space), params.train, exact=current is not None and trial.number == 0) for trial in batch
        ]
        results = jobs.run([jobs.Job(score_trial, (db_path, params, draw, years)) for draw in draws], pool)
        for trial, draw, (by_year, seconds, error) in zip(batch, draws, results, strict=True):
            value = float(np.mean(list(by_year.values()))) if by_year else float("nan")
            if error is None and math.isfinite(value):
                study.tell(trial, value)
                log(f"tune: trial {trial.number}: validation rank IC {value:.4f} ({_show(draw)}; {seconds:.0f} s)")
            else:
                study.tell(trial, state=TrialState.FAIL)
                log(f"tune: trial {trial.number} failed: {error or 'no validation date could be scored'} ({_show(draw)})")
            done.append(Trial(trial.number, draw, value, {y: by_year.get(y, float("nan")) for y in years}, seconds))
        if after_batch is not None:
            after_batch(done)
    if not any(math.isfinite(t.value) for t in done):
        raise DataError(
            f"every one of the {trials} trials failed (see the lines above); fix the data or params.yaml's train section"
        )
    return done


def search_space(train: TrainParams) -> dict[str, tuple[str, Any]]:
    """``SPACE`` less the choices params.yaml's fixed settings rule out (a width the attention heads do not divide)."""
    space = dict(SPACE)
    widths = tuple(width for width in SPACE["hidden_size"][1] if width % train.attention_heads == 0)
    if widths:
        space["hidden_size"] = ("choice", widths)
    else:
        del space["hidden_size"]
    return space


def current_draw(space: dict[str, tuple[str, Any]], train: TrainParams) -> dict[str, Any] | None:
    """params.yaml's ``train`` settings as a draw from ``space`` (None if one of them lies outside it)."""
    draw = {}
    for name, (kind, bounds) in space.items():
        value = getattr(train, name)
        if name == "aux_horizons":
            value = "none" if not value else "shorter" if value == settings_for({name: "shorter"}, train)[name] else value
        if (kind == "choice" and value not in bounds) or (kind != "choice" and not bounds[0] <= value <= bounds[1]):
            return None
        draw[name] = value
    return draw


def _draw(trial, space: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    draw = {}
    for name, (kind, bounds) in space.items():
        if kind == "log":
            draw[name] = trial.suggest_float(name, *bounds, log=True)
        elif kind == "float":
            draw[name] = trial.suggest_float(name, *bounds)
        else:
            draw[name] = trial.suggest_categorical(name, list(bounds))
    return draw


def _check_years(db_path: str, params: Params, years: list[int]) -> None:
    """The tuning years must have a training and a validation block in the data: one line if not."""
    from invest.data.panel import load_panel
    from invest.modelling.dataset import load_arrays

    arrays = load_arrays(load_panel(db_path), params.train)
    dates = pd.DatetimeIndex(arrays.dates[~np.isnan(arrays.target)])

    def fits(year: int) -> bool:  # a tuning year needs a training and a validation block, never its own rows
        masks = walk_forward(year, params.train.embargo, params.evaluate.val_months).masks(dates)
        return masks["train"].sum() >= MIN_ROWS and masks["val"].sum() >= MIN_ROWS

    usable = 0
    while usable < len(years) and fits(years[-1] - usable):
        usable += 1
    if usable < len(years):
        fix = (
            f"use --folds {usable} or fewer"
            if usable
            else "fetch a longer history (data.start) or move evaluate.test_years later"
        )
        raise ConfigError(
            f"--folds {len(years)}: only {usable} validation year(s) before {years[-1] + 1} have enough labelled history "
            f"to train and validate on ({labelled_span(dates)}); {fix}"
        )


def _show(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_value(value)}" for key, value in settings.items())


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ",".join(value) + "]"
    return str(value)


def exp_command(settings: dict[str, Any], queue: bool = False) -> str:
    """The ``dvc exp run`` command that runs these settings through the pipeline."""
    sets = " ".join(f"-S 'train.{key}={_override(value)}'" for key, value in settings.items())
    return f"dvc exp run {'--queue ' if queue else ''}{sets}"


def _override(value: Any) -> str:
    """A value as Hydra's override grammar (``dvc exp run -S``) reads it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, list):
        return "[" + ", ".join(_override(item) for item in value) + "]"
    return str(value)


def write_trials(out_dir: Path, trials: list[Trial], years: list[int]) -> None:
    """``out_dir``/trials.csv, every trial so far (atomic: rewritten whole after each batch)."""
    rows = [
        {"trial": t.number, "value": t.value, **{f"val_rank_ic_{y}": t.by_year[y] for y in years},
         **{k: _value(v) for k, v in t.settings.items()}, "seconds": round(t.seconds, 1)}
        for t in trials
    ]  # fmt: skip
    write_csv(out_dir / "trials.csv", pd.DataFrame(rows))


def write_best(out_dir: Path, trials: list[Trial], years: list[int], seed: int) -> Trial:
    """``out_dir``/best.yaml: the winner as a params diff, with a comment saying how it was chosen."""
    best = max(trials, key=lambda t: (t.value if math.isfinite(t.value) else -math.inf, -t.number))
    comment = (
        f"# invest tune: the best mean validation rank IC over {years[0]}-{years[-1]} (trial {best.number}, "
        f"{best.value:.4f}; {len(trials)} trials, seed {seed}); every searched setting\n"
    )
    write_text(out_dir / "best.yaml", comment + yaml.safe_dump({"train": best.settings}, sort_keys=False))
    return best


def main(params: Params, db_path: str, out_dir: Path, trials: int, folds: int, seed: int, top: int = 3) -> list[Trial]:
    if trials < 1:
        raise ConfigError(f"--trials {trials}: give 1 or more trials")
    pool = jobs.Pool.of(params.evaluate)
    years = tuning_years(params, folds)
    print(
        f"tune: {trials} trials, scored on the validation blocks of {years[0]}-{years[-1]} "
        f"(labels reaching the test years from {min(params.evaluate.test_years)} are blanked), {pool.n_jobs} at a time",
        file=sys.stderr,
    )
    done = search(
        db_path, params, trials, folds, seed, pool,
        log=lambda line: print(line, file=sys.stderr), after_batch=lambda so_far: write_trials(out_dir, so_far, years),
    )  # fmt: skip
    best = write_best(out_dir, done, years, seed)
    ranked = sorted((t for t in done if math.isfinite(t.value)), key=lambda t: -t.value)[:top]
    if current_draw(search_space(params.train), params.train) is not None:
        value = f"validation rank IC {done[0].value:.4f}" if math.isfinite(done[0].value) else "failed"
        print(f"params.yaml's settings: trial 0, {value}")
    print(f"best: trial {best.number}, validation rank IC {best.value:.4f} ({_show(best.settings)})")
    print(f"wrote {out_dir / 'trials.csv'} and {out_dir / 'best.yaml'}; run the best {len(ranked)} through the pipeline:")
    for trial in ranked:
        print(f"  {exp_command(trial.settings, queue=True)}")
    print("  dvc queue start && dvc exp show")
    return done
