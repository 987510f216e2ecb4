import re
import sys

import pandas as pd
import pytest
from tests.conftest import run_train
from tests.tiny_pipeline import TINY_PARAMS, build_store, tiny_params

from invest import compare
from invest.errors import DataError
from invest.params import from_dict

PARAMS = from_dict(TINY_PARAMS)
NUMBER = r"[+-]?\d+\.\d+%?"
VERDICT = re.compile(
    rf"^(rank IC|MAE|top-book net return a year): "
    rf"((A|B) better \(B − A = {NUMBER}, 95% interval {NUMBER} to {NUMBER}; significant\)"
    rf"|no significant difference \(B − A = {NUMBER}, 95% interval {NUMBER} to {NUMBER}"
    rf"(; these data detect a margin of \d+\.\d+%? or more at 80% power)?\)"
    rf"|no verdict \(undefined on these rows\))$"
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Three checkpoints on one store: A, B (another seed), C (later validation end, so a later test start)."""
    base = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        db = build_store(base)
        paths = {}
        for name, raw in (("a", tiny_params()), ("b", tiny_params(seed=7)), ("c", tiny_params(val_end="2015-03-31"))):
            paths[name] = base / f"{name}.pt"
            run_train(from_dict(raw), db, paths[name], base / f"{name}.json", base / f"live_{name}")
    return db, paths


def test_two_models_side_by_side_with_a_verdict(models, tmp_path, capsys):
    db, paths = models
    result = compare.main(PARAMS, db, str(paths["a"]), str(paths["b"]), out_json=tmp_path / "cmp.json")
    assert result["test_start"] == "2015-06-30"
    assert result["first_date"] > "2015-06-30" and result["last_date"] <= "2016-06-30"  # labelled 6m rows only
    assert result["rows"] == 12 * result["dates"]
    for side in ("a_metrics", "b_metrics"):
        assert set(result[side]) >= {"rank_ic", "mae", "hit_rate"}
    assert result["margin"]["rank_ic"]["diff"] == pytest.approx(result["b_metrics"]["rank_ic"] - result["a_metrics"]["rank_ic"])
    assert result["margin"]["mae"]["diff"] == pytest.approx(result["b_metrics"]["mae"] - result["a_metrics"]["mae"])
    assert [line.split(":")[0] for line in result["verdicts"]] == ["rank IC", "MAE", "top-book net return a year"]
    for line in result["verdicts"]:
        assert VERDICT.match(line), line
    assert result["margin"]["portfolio"]["months"] == result["dates"]
    out = capsys.readouterr().out
    assert "rank IC" in out and "MAE" in out and "hit rate" in out
    assert out.rstrip().splitlines()[-3:] == [f"verdict, {line}" for line in result["verdicts"]]
    assert (tmp_path / "cmp.json").exists()


def test_a_model_against_itself_is_no_difference(models):
    db, paths = models
    result = compare.main(PARAMS, db, str(paths["a"]), str(paths["a"]), echo=False)
    assert result["margin"]["rank_ic"]["diff"] == 0
    assert result["margin"]["portfolio"]["diff"] == 0
    assert all(": no significant difference" in line for line in result["verdicts"]), result["verdicts"]


def test_rows_start_after_the_later_test_start(models):
    db, paths = models
    result = compare.main(PARAMS, db, str(paths["c"]), str(paths["a"]), echo=False)
    assert result["test_start"] == "2015-09-30"  # C's: val_end 2015-03-31 + a 6-month embargo (the horizon)
    assert pd.Timestamp(result["first_date"]) == pd.Timestamp("2015-10-30")  # the first month end after it
    full = compare.main(PARAMS, db, str(paths["a"]), str(paths["b"]), echo=False)
    assert result["rows"] == full["rows"] - 3 * 12


def test_models_of_different_targets_are_refused(models, tmp_path, monkeypatch):
    db, paths = models
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "raw.pt"
    run_train(from_dict(tiny_params(target="raw")), db, other, tmp_path / "t.json", tmp_path / "live")
    with pytest.raises(DataError, match="A predicts 6m excess returns and B 6m raw returns"):
        compare.main(PARAMS, db, str(paths["a"]), str(other), echo=False)


def test_a_missing_checkpoint_is_a_clear_error(models, tmp_path):
    db, paths = models
    with pytest.raises(DataError, match="nope.pt not found"):
        compare.main(PARAMS, db, str(paths["a"]), str(tmp_path / "nope.pt"), echo=False)


def test_the_command_line_exits_0_and_prints_the_verdict(models, tmp_path, monkeypatch, capsys):
    from invest import cli

    db, paths = models
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["invest", "compare", str(paths["a"]), str(paths["b"]), "--db", str(db)])
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code
    assert "verdict, rank IC: " in capsys.readouterr().out
