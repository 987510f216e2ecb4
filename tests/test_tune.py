"""``invest tune``: a search scored on validation blocks before the first test year, repeatable from its
seed, whose winner is a params diff that ``dvc exp run -S`` applies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import SMALL_PARAMS

from invest import tune
from invest.data.panel import load_panel
from invest.errors import ConfigError
from invest.modelling import dataset
from invest.modelling.splits import walk_forward
from invest.params import from_dict

PARAMS = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "epochs": 1, "ensemble_size": 1}})
FIRST_TEST = min(PARAMS.evaluate.test_years)  # 2016
SETTINGS = {"learning_rate": 0.002, "dropout": 0.1, "hidden_size": 8, "ic_loss_weight": 0.5, "aux_horizons": ["1m"]}


def test_every_validation_label_of_the_search_ends_before_the_first_test_year():
    test_start = pd.Timestamp(year=FIRST_TEST, month=1, day=1)
    years = tune.tuning_years(PARAMS, 3)
    assert years == [FIRST_TEST - 2, FIRST_TEST - 1, FIRST_TEST]
    for year in years:
        split = walk_forward(year, PARAMS.train.embargo, PARAMS.evaluate.val_months)
        assert split.val_end + pd.DateOffset(months=PARAMS.train.horizon_months) < test_start


def test_labels_whose_window_reaches_a_test_year_are_blanked(small_store):
    arrays = dataset.load_arrays(
        load_panel(small_store), from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], "aux_horizons": ["3m"]}}).train
    )
    blanked = tune.blank_test_labels(arrays, FIRST_TEST, 12)
    ends = pd.DatetimeIndex(arrays.dates) + pd.DateOffset(months=12)
    late = np.asarray(ends >= pd.Timestamp(f"{FIRST_TEST}-01-01"))
    assert late.any() and (~late & ~np.isnan(arrays.target)).any()
    assert np.isnan(blanked.target[late]).all() and np.isnan(blanked.auxiliary[late]).all()
    np.testing.assert_array_equal(blanked.target[~late], arrays.target[~late])
    np.testing.assert_array_equal(blanked.auxiliary[~late], arrays.auxiliary[~late])


def test_a_trial_never_reads_a_label_that_reaches_into_the_test_years(small_store, monkeypatch):
    """Poison every such label: the trial's validation scores do not move."""
    from invest.modelling import training

    years = tune.tuning_years(PARAMS, 2)
    clean, _, error = tune.score_trial(str(small_store), PARAMS, SETTINGS, years)
    assert error is None
    seen = []
    prepare = training.prepare

    def spy(panel, params, split=None, arrays=None):  # what training is handed: no label reaching a test year
        ends = pd.DatetimeIndex(arrays.dates) + pd.DateOffset(months=params.horizon_months)
        late = np.asarray(ends >= pd.Timestamp(f"{FIRST_TEST}-01-01"))
        seen.append(bool(np.isnan(arrays.target[late]).all() and np.isnan(arrays.auxiliary[late]).all()))
        return prepare(panel, params, split, arrays)

    monkeypatch.setattr(training, "prepare", spy)
    load = dataset.load_arrays

    def poisoned(panel, params):
        arrays = load(panel, params)
        ends = pd.DatetimeIndex(arrays.dates) + pd.DateOffset(months=params.horizon_months)
        late = np.asarray(ends >= pd.Timestamp(f"{FIRST_TEST}-01-01"))
        rng = np.random.default_rng(0)
        target = np.where(late, rng.normal(scale=1e3, size=len(late)), arrays.target)
        auxiliary = np.where(late[:, None], 1e3, arrays.auxiliary)
        return arrays.with_target(target, auxiliary)

    monkeypatch.setattr(dataset, "load_arrays", poisoned)
    again, _, _ = tune.score_trial(str(small_store), PARAMS, SETTINGS, years)
    assert again == clean and all(np.isfinite(list(clean.values())))
    assert seen == [True, True]


def test_the_same_seed_repeats_the_search_and_its_winner_applies_as_a_params_diff(small_store, tmp_path, capsys):
    first = tune.main(PARAMS, str(small_store), tmp_path / "a", trials=3, folds=1, seed=5)
    printed = capsys.readouterr().out
    tune.main(PARAMS, str(small_store), tmp_path / "b", trials=3, folds=1, seed=5)
    a, b = (pd.read_csv(tmp_path / run / "trials.csv").drop(columns="seconds") for run in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)  # everything but the time it took
    assert len({tuple(sorted(map(str, t.settings.items()))) for t in first}) == 3  # three different settings
    text = (tmp_path / "a" / "best.yaml").read_text()
    assert text.startswith("# invest tune: ") and list(yaml.safe_load(text)) == ["train"]  # a params diff, comment and all
    best = yaml.safe_load(text)
    winner = max(first, key=lambda t: t.value)
    assert best["train"] == winner.settings
    merged = from_dict({**SMALL_PARAMS, "train": {**SMALL_PARAMS["train"], **best["train"]}})  # a valid params.yaml
    assert merged.train.learning_rate == winner.settings["learning_rate"]
    assert f"-S 'train.learning_rate={winner.settings['learning_rate']!r}'" in printed
    assert "dvc exp run --queue" in printed and "dvc queue start" in printed


def test_overrides_read_back_as_the_values_the_trial_ran_with(tmp_path):
    """What `dvc exp run -S` writes into params.yaml loads as the same settings."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump({"train": {"learning_rate": 0.001, "weight_decay": 0.0001, "aux_horizons": [], "hidden_size": 32}})
    )
    settings = {"learning_rate": 0.000734, "weight_decay": 1e-05, "aux_horizons": ["1m", "3m", "6m"], "hidden_size": 64}
    command = tune.exp_command(settings)
    overrides = [part.strip("'") for part in command.split(" -S ")[1:]]
    apply_overrides(str(path), overrides)
    loaded = from_dict(yaml.safe_load(path.read_text())).train
    assert {key: getattr(loaded, key) for key in settings} == settings


@pytest.mark.parametrize(
    ("trials", "folds", "message"), [(0, 1, "--trials 0"), (1, 0, "--folds 0"), (1, 9, "--folds 9: only 3 validation year")]
)
def test_a_search_that_cannot_run_is_one_clear_line(small_store, tmp_path, trials, folds, message):
    with pytest.raises(ConfigError, match=message) as error:
        tune.main(PARAMS, str(small_store), tmp_path, trials=trials, folds=folds, seed=0)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "trials.csv").exists()


def test_a_trial_the_data_refuses_fails_alone_and_the_search_goes_on(small_store, tmp_path, monkeypatch, capsys):
    """A trial that cannot run is recorded as failed; the others still run and the record is written."""
    from invest.errors import DataError

    real = tune._score

    def refuse_wide(db_path, params, settings, years):
        if settings.get("hidden_size") == 64:
            raise DataError("a refused setting")
        return real(db_path, params, settings, years)

    monkeypatch.setattr(tune, "_score", refuse_wide)
    done = tune.main(PARAMS, str(small_store), tmp_path, trials=6, folds=1, seed=5)
    failed = [t for t in done if t.settings["hidden_size"] == 64]
    assert failed and all(np.isnan(t.value) for t in failed) and len(done) == 6
    assert "failed: a refused setting" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 6
    assert yaml.safe_load((tmp_path / "best.yaml").read_text())["train"]["hidden_size"] != 64


def test_widths_the_attention_heads_do_not_divide_are_not_searched():
    def widths(heads: int, hidden: int):
        space = tune.search_space(from_dict({"train": {"hidden_size": hidden, "attention_heads": heads}}).train)
        return space.get("hidden_size")

    assert widths(4, 32) == ("choice", (16, 32, 64))
    assert widths(32, 32) == ("choice", (32, 64))
    assert widths(3, 48) is None  # no width fits: params.yaml's own is kept


def test_trial_0_scores_params_yamls_own_settings(small_store, tmp_path, capsys):
    """The line every other trial must beat: the settings the pipeline runs today."""
    train = {**SMALL_PARAMS["train"], "hidden_size": 16, "aux_horizons": ["1m", "3m", "6m"], "learning_rate": 0.0012345}
    params = from_dict({**SMALL_PARAMS, "train": train})
    done = tune.main(params, str(small_store), tmp_path / "in", trials=1, folds=1, seed=5)
    assert done[0].number == 0 and done[0].settings == {name: getattr(params.train, name) for name in done[0].settings}
    assert "params.yaml's settings: trial 0" in capsys.readouterr().out
    tune.main(PARAMS, str(small_store), tmp_path / "out", trials=1, folds=1, seed=5)  # hidden_size 8: not searched
    assert "lie outside the search space" in capsys.readouterr().err
