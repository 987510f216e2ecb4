import sys

import numpy as np
import pandas as pd
import pytest
import torch
from tests.tiny_pipeline import TINY_PARAMS, build_store, train_and_evaluate

from invest import predict
from invest.errors import ConfigError, DataError
from invest.modelling import checkpoint
from invest.params import from_dict

PARAMS = from_dict(TINY_PARAMS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        db = build_store(base)
        model = train_and_evaluate(base, db)
    bare = base / "bare.pt"  # an older checkpoint: no intervals, no confidence
    ckpt = checkpoint.load(model)
    for key in ("intervals", "confidence"):
        ckpt.pop(key, None)
    torch.save(ckpt, bare)
    return db, model, bare


def test_latest_snapshot_of_every_ticker_sorted_by_prediction(trained, tmp_path, capsys):
    db, model, _ = trained
    frame = predict.main(PARAMS, db, model, tmp_path / "out.csv")
    assert len(frame) == 12 and frame["ticker"].is_unique
    assert (frame["date"] == "2016-12-30").all()  # the newest snapshot: its 6m label is unknown, still scored
    assert frame["prediction"].is_monotonic_decreasing
    assert frame["percentile"].iloc[0] == 100 and frame["percentile"].is_monotonic_decreasing  # rank within the date
    assert frame["percentile"].iloc[-1] == pytest.approx(100 / 12)
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["ticker"]) == list(frame["ticker"])
    np.testing.assert_allclose(written["prediction"], frame["prediction"], rtol=1e-5)
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["#", "ticker", "data", "date"]
    assert lines[2].lstrip().startswith("1  " + frame["ticker"][0])
    assert len({len(line) for line in lines[2:14]}) <= 2  # aligned columns (rstrip may trim the last)


def test_intervals_and_confidence_from_the_checkpoint(trained, tmp_path, capsys):
    db, model, _ = trained
    if "intervals" not in checkpoint.load(model):
        pytest.skip("train does not calibrate intervals in this tree")
    frame = predict.main(PARAMS, db, model, tmp_path / "out.csv")
    assert {"mc_std", "lower_80", "upper_80", "lower_95", "upper_95", "confidence"} <= set(frame.columns)
    finite = np.isfinite(frame["lower_80"])
    assert (frame.loc[finite, "lower_80"] <= frame.loc[finite, "prediction"]).all()
    assert (frame.loc[finite, "lower_95"] <= frame.loc[finite, "lower_80"]).all()
    assert frame["confidence"].between(0, 1).all()
    out = capsys.readouterr().out
    assert "80% interval" in out and "95% interval" in out
    # a ticker's confidence does not depend on which other tickers were asked for
    alone = predict.main(PARAMS, db, model, None, tickers=["S003"], echo=False)
    assert alone["confidence"].iloc[0] == pytest.approx(frame.set_index("ticker").loc["S003", "confidence"])


def test_without_intervals_or_confidence_they_read_n_a(trained, tmp_path, capsys):
    db, _, bare = trained
    frame = predict.main(PARAMS, db, bare, tmp_path / "out.csv")
    assert "lower_80" not in frame and frame["confidence"].isna().all()
    out = capsys.readouterr().out
    assert "intervals: n/a" in out and "confidence: n/a" in out
    assert out.splitlines()[2].split()[-2:] == ["n/a", "n/a"]


def test_given_tickers_and_date(trained):
    db, model, _ = trained
    frame = predict.main(PARAMS, db, model, None, tickers=["s003", "S001"], as_of="2015-06-15", echo=False)
    assert sorted(frame["ticker"]) == ["S001", "S003"]
    assert (frame["date"] == "2015-05-29").all()  # the last month end on or before the date


def test_bad_tickers_and_dates_are_one_line_errors(trained):
    db, model, _ = trained
    with pytest.raises(DataError, match=r"unknown ticker 'S0O3'; close matches: S003"):
        predict.main(PARAMS, db, model, None, tickers=["S0O3"], echo=False)
    with pytest.raises(DataError, match="unknown ticker 'ZZZZZZ'; 12 tickers in the store"):
        predict.main(PARAMS, db, model, None, tickers=["ZZZZZZ"], echo=False)
    with pytest.raises(ConfigError, match="not a date"):
        predict.main(PARAMS, db, model, None, as_of="2015-13-01", echo=False)
    with pytest.raises(DataError, match="before the first snapshot"):
        predict.main(PARAMS, db, model, None, as_of="2001-01-01", echo=False)
    with pytest.raises(ConfigError, match="mc-samples"):
        predict.main(PARAMS, db, model, None, mc_samples=1, echo=False)


def _invest(monkeypatch, capsys, *args):
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    from invest import cli

    monkeypatch.setattr(sys, "argv", ["invest", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line(trained, tmp_path, monkeypatch, capsys):
    db, model, _ = trained
    monkeypatch.chdir(tmp_path)  # no params.yaml here: predict falls back to the defaults
    args = ["predict", "--db", str(db), "--model", str(model), "--out", str(tmp_path / "p.csv"), "--mc-samples", "0"]
    code, out, _ = _invest(monkeypatch, capsys, *args, "-t", "S001,S002")
    assert code == 0
    assert "S001" in out and "S002" in out and "S003" not in out and (tmp_path / "p.csv").exists()
    code, _, err = _invest(monkeypatch, capsys, *args, "-t", "NOPE1")
    assert code == 1
    assert err.startswith("Error: unknown ticker 'NOPE1'") and err.count("\n") == 1


def test_a_delisted_ticker_is_left_out_by_default_and_scored_when_named(trained, tmp_path, capsys):
    from tests.conftest import write_raw

    from invest import cache
    from invest.data.market import simulate

    _, model, _ = trained
    tables = simulate(12, "2010-01-01", "2016-12-31", seed=5)
    prices = tables["prices"]
    tables["prices"] = prices[(prices["ticker"] != "S004") | (prices["date"] < "2015-10-01")]  # S004 stops trading
    write_raw(tmp_path / "raw", tables)
    db = tmp_path / "stock_data.db"
    cache.main(PARAMS, raw_dir=tmp_path / "raw", db_path=db)

    frame = predict.main(PARAMS, db, model, None)
    assert "S004" not in set(frame["ticker"]) and (frame["date"] == "2016-12-30").all() and len(frame) == 11
    assert "left out 1 ticker(s) with no snapshot on 2016-12-30 (delisted or stale), e.g. S004" in capsys.readouterr().err
    named = predict.main(PARAMS, db, model, None, tickers=["S004"], echo=False)
    assert list(named["ticker"]) == ["S004"] and named["date"].iloc[0] < "2015-10-01"
