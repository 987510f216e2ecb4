"""The catalogue of bad inputs (docs/bad_inputs.md), one test per row.

Each row runs the real command line (``invest.cli.main``, the console entry point) in a fresh
directory with a params.yaml written here, and checks the exit code, the one line the user
sees (its stable prefix) and that no traceback is printed. The rows run in this process, so
torch is imported once; ``test_rows_behave_the_same_in_a_real_process`` reruns a few of them
through ``python -m invest`` to show the shortcut changes nothing, and ``--debug`` is checked
to still show the traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import traceback
import urllib.error
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from tests.conftest import REPO, TINY_NETWORK, invest_args, run_train
from tests.fixtures.sec import USER_AGENT as SEC_USER_AGENT
from tests.fixtures.sec import FakeSEC
from tests.fixtures.yahoo import FakeYahoo

from invest import params as params_module

CATALOGUE = REPO / "docs" / "bad_inputs.md"

# the small simulated market of tests/conftest.py (15 tickers, 2010-2018) and a one-epoch model
BASE_PARAMS = {
    "data": {"n_tickers": 15, "start": "2010-01-01", "as_of": "2018-12-31", "seed": 3},
    "train": {
        "train_end": "2013-12-31",
        "val_end": "2015-06-30",
        "epochs": 1,
        "patience": 1,
        **TINY_NETWORK,
        "mc_samples": 4,
        "device": "cpu",
    },
    "evaluate": {"mode": "single", "test_years": [2016, 2017], "val_months": 12, "bootstrap_samples": 20},
}
FILES_PARAMS = {"data": {"source": "files", "files_dir": "ext", "start": "2012-01-01", "as_of": "2012-03-30"}}


@dataclass(frozen=True)
class Case:
    id: str
    command: tuple[str, ...]
    expect: str  # the last line on stderr starts with this
    code: int = 1
    params: dict = field(default_factory=dict)  # merged into BASE_PARAMS, section by section
    params_text: str | None = None  # params.yaml verbatim instead
    needs: tuple[str, ...] = ()  # "raw", "db", "model", "files": copied into the directory first
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path], None] | None = None  # more assertions for rows that succeed
    skip: str | None = None
    patch: Callable[[pytest.MonkeyPatch], None] | None = None  # e.g. an offline stand-in for yfinance


# ---------------------------------------------------------------- setups


def _raw(table: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    """Rewrite data/raw/<table>.parquet with pandas, bypassing the writer's checks."""

    def setup(workdir: Path) -> None:
        path = workdir / "data" / "raw" / f"{table}.parquet"
        change(pd.read_parquet(path)).to_parquet(path, index=False)

    return setup


def _set(frame: pd.DataFrame, rows, column: str, value) -> pd.DataFrame:
    frame = frame.copy()
    if isinstance(value, str):  # a text column, as a spreadsheet export would give
        frame[column] = frame[column].astype(str)
    frame.loc[rows, column] = value
    return frame


def _few_days_ticker(frame: pd.DataFrame) -> pd.DataFrame:
    newcomer = frame[frame["ticker"] == "S000"].tail(3).assign(ticker="NEWCO")
    return pd.concat([frame, newcomer], ignore_index=True)


def _write(path: Path, data: bytes | str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        target = workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())

    return setup


def _truncate(path: str, keep: float) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        target = workdir / path
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * keep)])

    return setup


def _sql(statement: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        with contextlib.closing(sqlite3.connect(workdir / "data" / "stock_data.db")) as connection, connection:
            connection.execute(statement)

    return setup


def _offline_yfinance(mode: str, user_agent: bool = True) -> Callable[[pytest.MonkeyPatch], None]:
    """yfinance as it behaves without a network (tests/fixtures/yahoo.py): no request leaves the machine.

    A row that fails this way before asking Yahoo anything shows that nothing was fetched.
    """

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        import yfinance

        fake = FakeYahoo(offline=mode)
        monkeypatch.setattr(yfinance, "download", fake.download)
        monkeypatch.setattr(yfinance, "Ticker", fake.ticker_factory)
        if user_agent:  # the SEC's fundamentals are the default with yfinance prices
            monkeypatch.setenv("SEC_USER_AGENT", SEC_USER_AGENT)

    return patch


def _online(sec: Callable[[], FakeSEC] = FakeSEC) -> Callable[[pytest.MonkeyPatch], None]:
    """Yahoo and SEC EDGAR answering as recorded (tests/fixtures/yahoo.py, sec.py), with a User-Agent."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        import yfinance

        from invest.data.sources import sec_client

        fake = FakeYahoo()
        monkeypatch.setattr(yfinance, "download", fake.download)
        monkeypatch.setattr(yfinance, "Ticker", fake.ticker_factory)
        monkeypatch.setattr(sec_client, "urllib_transport", sec())
        monkeypatch.setenv("SEC_USER_AGENT", SEC_USER_AGENT)

    return patch


def _sec_offline() -> FakeSEC:
    """SEC's host does not resolve (the first request is always for its tickers file)."""
    from invest.data.sources.sec_client import TICKERS_URL

    return FakeSEC({TICKERS_URL: urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))}, default_routes=False)


def _checkpoint(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Load models/model.pt, let ``change`` edit it (or return a replacement) and save it back."""

    def setup(workdir: Path) -> None:
        path = workdir / "models" / "model.pt"
        checkpoint = torch.load(path, weights_only=True)
        replaced = change(checkpoint)
        torch.save(checkpoint if replaced is None else replaced, path)

    return setup


def _zero_bytes(workdir: Path) -> None:
    path = workdir / "models" / "model.pt"
    data = bytearray(path.read_bytes())
    data[100:400] = bytes(300)
    path.write_bytes(bytes(data))


def _other_features(checkpoint: dict) -> None:
    checkpoint["static_features"] = [*checkpoint["static_features"][:-1], "mystery_ratio"]


def _bigger_network(checkpoint: dict) -> None:
    checkpoint["model_config"]["hidden_size"] *= 2


def _files(change: Callable[[dict[str, pd.DataFrame]], None] | None = None) -> Callable[[Path], None]:
    """ext/<table>.csv for the files source, edited by ``change``."""

    def setup(workdir: Path) -> None:
        tables = {name: pd.read_parquet(workdir / "files" / f"{name}.parquet") for name in FILE_TABLES}
        if change is not None:
            change(tables)
        (workdir / "ext").mkdir()
        for name, frame in tables.items():
            out = frame.copy()
            for column in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[column]):
                    out[column] = out[column].dt.strftime("%Y-%m-%d")
            out.to_csv(workdir / "ext" / f"{name}.csv", index=False)

    return setup


FILE_TABLES = ("prices", "companies", "fundamentals", "market", "macro")


def _unsort_prices(tables: dict) -> None:
    tables["prices"] = tables["prices"].iloc[::-1]


def _early_report(tables: dict) -> None:
    fundamentals = tables["fundamentals"]
    fundamentals.loc[0, "report_date"] = fundamentals.loc[0, "period_end"] - pd.Timedelta(days=30)


def _no_volume(tables: dict) -> None:
    tables["prices"] = tables["prices"].drop(columns=["volume"])


def _duplicate_company(tables: dict) -> None:
    companies = tables["companies"]
    tables["companies"] = pd.concat([companies.iloc[:1], companies], ignore_index=True)


# the per_ticker layout of the files source: Yahoo-style CSVs under ext/prices
PER_TICKER_PARAMS = {"data": {**FILES_PARAMS["data"], "files_layout": "per_ticker"}}
YAHOO_CSV = "Date,Open,High,Low,Close,Adj Close,Volume\n2012-01-03,10,11,9,10.5,10.4,1000\n2012-01-04,10.5,11,10,10.8,10.7,900\n"


def _writes(files: dict[str, str]) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        for path, text in files.items():
            _write(Path(path), text)(workdir)

    return setup


def _one_ticker_and_an_equal_weighted_index(workdir: Path) -> None:
    prices = pd.read_parquet(workdir / "data" / "raw" / "prices.parquet")
    market = pd.read_parquet(workdir / "data" / "raw" / "market.parquet")
    assert set(prices["ticker"]) == {"S000"} and prices["adj_close"].tolist() == [10.4, 10.7]
    assert market["index_close"].tolist() == pytest.approx([100, 100 * 10.7 / 10.4])


def _newco_store(workdir: Path) -> None:
    """A store whose prices include NEWCO, a ticker with three days of data."""
    from invest import cache

    _raw("prices", _few_days_ticker)(workdir)
    cache.main(params_module.from_dict(BASE_PARAMS), raw_dir=workdir / "data" / "raw", db_path=workdir / "data" / "stock_data.db")


def _price_only(workdir: Path) -> None:
    """Closes and an index level only: what most people have (no volume, VIX, rates or fundamentals)."""
    _raw("prices", lambda f: f.assign(open=np.nan, high=np.nan, low=np.nan, volume=np.nan))(workdir)
    _raw("market", lambda f: f.assign(vol_index=np.nan, short_rate=np.nan, long_rate=np.nan))(workdir)
    _raw("fundamentals", lambda f: f.iloc[:0])(workdir)


def _unit_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """Every fourth quarter of S001's revenue in thousands of the unit (97M for 97bn)."""
    frame = frame.copy()
    frame.loc[frame.index[frame["ticker"] == "S001"][4:-4:4], "revenue"] /= 1000
    return frame


def _thin_cross_section(frame: pd.DataFrame) -> pd.DataFrame:
    """Only S000-S002 priced from March to May 2014."""
    dropped = frame["date"].between("2014-03-01", "2014-05-31") & ~frame["ticker"].isin(["S000", "S001", "S002"])
    return frame[~dropped]


# ---------------------------------------------------------------- checks for rows that succeed


def _newco_is_known_but_has_no_snapshots(workdir: Path) -> None:
    with contextlib.closing(sqlite3.connect(workdir / "data" / "stock_data.db")) as connection:
        ticker_id = connection.execute("SELECT ticker_id FROM tickers WHERE ticker = 'NEWCO'").fetchone()[0]
        assert connection.execute("SELECT COUNT(*) FROM snapshots WHERE ticker_id = ?", (ticker_id,)).fetchone()[0] == 0


def _missing_prices_are_skipped_not_zero(workdir: Path) -> None:
    """S000's first six closes are NaN: its January 2010 dollar volume averages the 15 known days (a zero would pull it down)."""
    prices = pd.read_parquet(workdir / "data" / "raw" / "prices.parquet")
    january = prices[(prices["ticker"] == "S000") & (prices["date"] < "2010-02-01")]
    expected = float(np.log((january["close"] * january["volume"]).mean()))  # pandas skips the NaN days
    with contextlib.closing(sqlite3.connect(workdir / "data" / "stock_data.db")) as connection:
        (stored,) = connection.execute(
            "SELECT m.log_dollar_volume FROM monthly m JOIN tickers t USING (ticker_id) WHERE t.ticker = 'S000' ORDER BY m.date LIMIT 1"
        ).fetchone()
    assert january["close"].isna().sum() == 6 and stored == pytest.approx(expected, rel=1e-12)


def _report_written(workdir: Path) -> None:
    assert (workdir / "metrics" / "data_quality.json").is_file()


def _sec_fundamentals_for_tesla_only(workdir: Path) -> None:
    fundamentals = pd.read_parquet(workdir / "data" / "raw" / "fundamentals.parquet")
    assert set(fundamentals["ticker"]) == {"TSLA"} and (workdir / "data" / "raw" / "fundamental_vintages.parquet").is_file()


def _price_only_columns_reported(workdir: Path) -> None:
    report = json.loads((workdir / "metrics" / "data_quality.json").read_text())
    assert report["prices_provided_columns"] == ["close", "adj_close"]
    assert report["market_missing_columns"] == ["vol_index", "short_rate", "long_rate"]
    assert report["fundamentals_provided_columns"] == []


# ---------------------------------------------------------------- the catalogue

CUDA = torch.cuda.is_available()
MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())

CASES = [
    # params.yaml
    Case(
        "params-missing",
        ("validate",),
        "Error: params.yaml not found; run from the repository root or pass --params",
        params_text=None,
        setup=lambda d: (d / "params.yaml").unlink(),
    ),
    Case(
        "params-invalid-yaml",
        ("validate",),
        "Error: params.yaml is not valid YAML at line 3; fix the syntax",
        params_text="train:\n  epochs: [1,\n",
    ),
    Case(
        "params-not-utf8",
        ("validate",),
        "Error: params.yaml is not UTF-8 text; save it as a UTF-8 YAML file",
        setup=_write(Path("params.yaml"), b"\xff\xfe train: {}\n"),
    ),
    Case(
        "params-is-a-directory",
        ("validate", "--params", "data"),
        "Error: cannot read data (Is a directory); pass a readable params.yaml",
        setup=lambda d: (d / "data").mkdir(),
    ),
    Case(
        "params-not-a-mapping",
        ("validate",),
        "Error: params: the file must be a mapping of sections (data, validate, cache, train, evaluate)",
        params_text="- data\n- train\n",
    ),
    Case(
        "params-unknown-section",
        ("validate",),
        "Error: params: unknown section 'trian' (did you mean 'train'?); allowed: data, validate, cache, train, evaluate",
        params_text="trian:\n  epochs: 3\n",
    ),
    Case(
        "params-section-not-a-mapping",
        ("validate",),
        "Error: params: section 'train' must be a mapping of key: value",
        params_text="train: 5\n",
    ),
    Case(
        "params-unknown-key",
        ("train",),
        "Error: params: unknown key train.learnign_rate (did you mean 'learning_rate'?); allowed keys: attention_heads, aux_horizons,",
        params={"train": {"learnign_rate": 0.01}},
    ),
    Case(
        "params-duplicate-key",
        ("train",),
        "Error: params: key 'epochs' appears twice (again at line 3); keep one of them",
        params_text="train:\n  epochs: 3\n  epochs: 30\n",
    ),
    Case(
        "params-wrong-type",
        ("train",),
        "Error: params: train.epochs = 'ten' has the wrong type; expected an integer",
        params={"train": {"epochs": "ten"}},
    ),
    Case(
        "params-bool-for-number",
        ("train",),
        "Error: params: train.epochs = True has the wrong type; expected an integer",
        params={"train": {"epochs": True}},
    ),
    Case(
        "params-learning-rate-negative",
        ("train",),
        "Error: params: train.learning_rate = -0.001 is out of range; allowed: a positive number such as 0.001",
        params={"train": {"learning_rate": -0.001}},
    ),
    Case(
        "params-learning-rate-zero",
        ("train",),
        "Error: params: train.learning_rate = 0.0 is out of range; allowed: a positive number such as 0.001",
        params={"train": {"learning_rate": 0}},
    ),
    Case(
        "params-learning-rate-infinite",
        ("train",),
        "Error: params: train.learning_rate = inf is not a finite number; write a real number",
        params_text="train:\n  learning_rate: .inf\n",
    ),
    Case(
        "params-batch-size-zero",
        ("train",),
        "Error: params: train.batch_size = 0 is out of range; allowed: a positive integer",
        params={"train": {"batch_size": 0}},
    ),
    Case(
        "params-horizon-not-allowed",
        ("train",),
        "Error: params: train.horizon = '5y' is not allowed; choose one of 1m, 3m, 6m, 1y, 2y, 3y",
        params={"train": {"horizon": "5y"}},
    ),
    Case(
        "params-embargo-shorter-than-horizon",
        ("train",),
        "Error: params: train.embargo_months = 3 is out of range; allowed: at least the label horizon (12 months for 1y) and at most 120, or null",
        params={"train": {"embargo_months": 3}},
    ),
    Case(
        "params-val-end-before-train-end",
        ("train",),
        "Error: params: train.val_end = '2015-06-30' is out of range; allowed: a date after train.train_end (2016-12-31)",
        params={"train": {"train_end": "2016-12-31"}},
    ),
    Case(
        "params-heads-do-not-divide-width",
        ("train",),
        "Error: params: train.attention_heads = 3 is out of range; allowed: a divisor of train.hidden_size (8)",
        params={"train": {"attention_heads": 3}},
    ),
    Case(
        "params-dropout-one",
        ("train",),
        "Error: params: train.dropout = 1.0 is out of range; allowed: 0 <= dropout < 1",
        params={"train": {"dropout": 1.0}},
    ),
    Case(
        "params-interval-levels-unsorted",
        ("train",),
        "Error: params: train.interval_levels = [0.95, 0.8] is out of range; allowed: increasing levels between 0 and 1, e.g. [0.8, 0.95]",
        params={"train": {"interval_levels": [0.95, 0.8]}},
    ),
    Case(
        "params-seed-negative",
        ("fetch",),
        "Error: params: data.seed = -1 is out of range; allowed: 0 to 4294967295",
        params={"data": {"seed": -1}},
    ),
    Case(
        "params-date-not-a-date",
        ("fetch",),
        "Error: params: data.start = 'yesterday' is not a date; write it as YYYY-MM-DD",
        params={"data": {"start": "yesterday"}},
    ),
    Case(
        "params-date-impossible",
        ("train",),
        "Error: params: train.train_end = '2015-02-30' is not a date; write it as YYYY-MM-DD",
        params={"train": {"train_end": "2015-02-30"}},
    ),
    Case(
        "params-date-out-of-range",
        ("fetch",),
        "Error: params: data.start = '0001-01-01' is out of range; allowed: a date between 1900 and 2200",
        params={"data": {"start": "0001-01-01"}},
    ),
    Case(
        "params-as-of-before-start",
        ("fetch",),
        "Error: params: data.as_of = '2009-12-31' is out of range; allowed: a date after data.start (2010-01-01)",
        params={"data": {"as_of": "2009-12-31"}},
    ),
    Case(
        "params-as-of-in-the-future",
        ("fetch",),
        "Error: params: data.as_of = '2199-01-01' is out of range; allowed: a date up to today",
        params={"data": {"as_of": "2199-01-01"}},
    ),
    Case(
        "params-test-years-unsorted",
        ("evaluate",),
        "Error: params: evaluate.test_years = [2017, 2016] is out of range; allowed: increasing calendar years without repeats",
        params={"evaluate": {"test_years": [2017, 2016]}},
    ),
    Case(
        "params-missing-share-unknown-column",
        ("validate",),
        "Error: params: validate.max_missing_share has an unknown entry 'prices.volme'; allowed: prices, market or one of "
        "their columns (prices.open, prices.high, prices.low, prices.close, prices.adj_close, prices.volume, "
        "market.index_close, market.vol_index, market.short_rate, market.long_rate)",
        params={"validate": {"max_missing_share": {"prices": 0.02, "market": 0.02, "prices.volme": 0.5}}},
    ),
    Case(
        "params-missing-share-one-number",
        ("validate",),
        "Error: params: validate.max_missing_share = 0.02 has the wrong type; expected a mapping of name: value",
        params={"validate": {"max_missing_share": 0.02}},
    ),
    Case(
        "params-fundamentals-yahoo-without-yfinance",
        ("fetch",),
        "Error: params: data.fundamentals = 'yahoo' needs data.source: yfinance (Yahoo's statements come with its prices); "
        "choose auto, sec or none",
        params={"data": {"fundamentals": "yahoo"}},
    ),
    Case(
        "params-fundamentals-sec-with-sim",
        ("fetch",),
        "Error: params: data.fundamentals = 'sec' needs real tickers (data.source: yfinance or files); "
        "the simulated market has its own (auto) or none",
        params={"data": {"fundamentals": "sec"}},
    ),
    Case(
        "params-sectors-sec-without-sec-fundamentals",
        ("fetch",),
        "Error: params: data.sectors = 'sec' needs the SEC's fundamentals (data.fundamentals is yahoo): "
        "set data.fundamentals: sec, or data.sectors: auto",
        params={"data": {"source": "yfinance", "fundamentals": "yahoo", "sectors": "sec"}},
    ),
    Case(
        "params-sec-user-agent-without-contact",
        ("fetch",),
        "Error: params: data.sec_user_agent = 'Jane Doe' is out of range; allowed: your name and contact e-mail, "
        "e.g. 'Jane Doe jane@example.com' (empty: $SEC_USER_AGENT)",
        params={"data": {"source": "yfinance", "sec_user_agent": "Jane Doe"}},
    ),
    # devices
    Case(
        "device-cuda-without-gpu",
        ("train",),
        "Error: train.device is cuda but this machine has no usable CUDA GPU (or torch is a CPU build); set train.device to auto or cpu, or install a CUDA build of torch",
        params={"train": {"device": "cuda"}},
        needs=("db",),
        skip="this machine has a CUDA GPU" if CUDA else None,
    ),
    Case(
        "device-cuda-without-gpu-nproc-2",
        ("train",),
        "Error: train.device is cuda but this machine has no usable CUDA GPU (or torch is a CPU build); set train.device to auto or cpu, or install a CUDA build of torch",
        params={"train": {"device": "cuda", "nproc": 2}},
        needs=("db",),
        skip="this machine has a CUDA GPU" if CUDA else None,
    ),
    Case(
        "device-mps-unavailable",
        ("train",),
        "Error: train.device is mps but Apple's MPS backend is not available here; set train.device to auto or cpu",
        params={"train": {"device": "mps"}},
        needs=("db",),
        skip="this machine has MPS" if MPS else None,
    ),
    # fetch: sources and the raw directory
    Case(
        "fetch-empty-universe",
        ("fetch",),
        "Error: universe file universe.txt lists no tickers; add one symbol per line (or use [] for the default universe)",
        params={"data": {"source": "yfinance", "universe": "universe.txt"}},
        setup=_write(Path("universe.txt"), "# none yet\n\n"),
    ),
    Case(
        "fetch-universe-bad-symbol",
        ("fetch",),
        "Error: data.universe[1]: 'not a ticker' is not a ticker symbol; write one Yahoo symbol such as AAPL or BRK-B per entry",
        params={"data": {"source": "yfinance", "universe": ["AAPL", "not a ticker"]}},
    ),
    Case(
        "fetch-yahoo-offline-dns",
        ("fetch",),
        "Error: cannot reach Yahoo Finance (could not resolve host query2.finance.yahoo.com): check the network connection; offline, use data.source: sim or files",
        params={"data": {"source": "yfinance", "universe": ["AAPL", "MSFT"]}},
        patch=_offline_yfinance("dns"),
    ),
    Case(
        "fetch-yahoo-offline-refused",
        ("fetch",),
        "Error: cannot reach Yahoo Finance (could not connect to query2.finance.yahoo.com:443): check the network connection; offline, use data.source: sim or files",
        params={"data": {"source": "yfinance", "universe": ["AAPL", "MSFT"]}},
        patch=_offline_yfinance("refused"),
    ),
    Case(
        "fetch-sec-no-user-agent",
        ("fetch",),
        "Error: SEC EDGAR needs a User-Agent with your name and contact e-mail: export SEC_USER_AGENT='Your Name "
        "you@example.com' or set data.sec_user_agent (or choose data.fundamentals: yahoo or none)",
        params={"data": {"source": "yfinance", "universe": ["AAPL", "MSFT"]}},
        patch=_offline_yfinance("dns", user_agent=False),  # stopped before Yahoo is asked: its error would show
    ),
    Case(
        "fetch-sec-offline",
        ("fetch",),
        "Error: cannot reach www.sec.gov (could not resolve host): check the network connection; offline, set "
        "data.fundamentals: none (prices only) or use data.source: sim",
        params={"data": {"source": "yfinance", "universe": ["AAPL", "MSFT"], "start": "2023-01-01", "as_of": "2024-12-31"}},
        patch=_online(_sec_offline),
    ),
    Case(
        "fetch-sec-ticker-without-xbrl",
        ("fetch",),
        "fetch: 1 ticker(s) failed (AAPL: sec fundamentals: no XBRL financial data at SEC (HTTP 404 for "
        "https://data.sec.gov/api/xbrl/companyfacts/CIK0000320193.json)); validate decides if coverage suffices",
        code=0,
        params={"data": {"source": "yfinance", "universe": ["TSLA", "AAPL"], "start": "2022-01-03", "as_of": "2022-12-30"}},
        patch=_online(),
        check=_sec_fundamentals_for_tesla_only,
    ),
    Case(
        "fetch-universe-unknown-index",
        ("fetch",),
        "Error: data.universe: 'sp600' is neither a known index (sp500, nasdaq100) nor a file; name one of those "
        "indices, a file of tickers, or list the tickers",
        params={"data": {"source": "yfinance", "universe": "sp600"}},
    ),
    Case(
        "fetch-universe-start-before-coverage",
        ("fetch",),
        "Error: data.start 2006-01-01 is before the membership history of sp500 (index-constitution 1.0.1), which is "
        "complete from 2010-01-01 to 2027-01-06: set data.start to 2010-01-01 or later, or give data.universe a "
        "membership file (ticker,start,end) that covers it",
        params={"data": {"source": "yfinance", "universe": "sp500", "start": "2006-01-01"}},
        patch=_offline_yfinance("dns"),  # stopped before Yahoo is asked
    ),
    Case(
        "fetch-universe-index-with-sim",
        ("fetch",),
        "Error: data.universe: 'sp500' selects real tickers; the simulated market has its own (use data.source: "
        "yfinance or files, or data.universe: [])",
        params={"data": {"universe": "sp500"}},
    ),
    Case(
        "fetch-universe-membership-end-before-start",
        ("fetch",),
        "Error: membership file members.csv line 3: end 2011-06-30 is not after start 2012-01-03; "
        "end is the first day out of the index (leave it empty while still a member)",
        params={"data": {"source": "yfinance", "universe": "members.csv"}},
        setup=_write(Path("members.csv"), "ticker,start,end\nAAPL,2010-01-04,\nMSFT,2012-01-03,2011-06-30\n"),
    ),
    Case(
        "fetch-files-dir-missing",
        ("fetch",),
        "Error: data.files_dir: ext is not a directory; create it with prices, companies, fundamentals and market as .csv or .parquet files (see docs/data_sources.md)",
        params=FILES_PARAMS,
    ),
    Case(
        "fetch-files-unsorted-keys",
        ("fetch",),
        "Error: ext/prices.csv: rows are not sorted by ticker, date: line 3 (S001, 2012-03-29) comes after line 2 (S001, 2012-03-30); sort the file by ticker, date",
        params=FILES_PARAMS,
        needs=("files",),
        setup=_files(_unsort_prices),
    ),
    Case(
        "fetch-files-report-before-period-end",
        ("fetch",),
        "Error: ext/fundamentals.csv: line 2: report_date 2010-03-01 is before period_end 2010-03-31 (1 row like this); a value cannot be public before its period ends",
        params=FILES_PARAMS,
        needs=("files",),
        setup=_files(_early_report),
    ),
    Case(
        "fetch-files-missing-column",
        ("fetch",),
        "Error: ext/prices.csv: missing column(s) volume; the prices table needs ticker, date, open, high, low, close, adj_close, volume",
        params=FILES_PARAMS,
        needs=("files",),
        setup=_files(_no_volume),
    ),
    Case(
        "fetch-files-duplicate-key",
        ("fetch",),
        "Error: ext/companies.csv: line 2 and line 3 share the key (S000) (2 rows in duplicate keys); keep one row per ticker",
        params=FILES_PARAMS,
        needs=("files",),
        setup=_files(_duplicate_company),
    ),
    Case(
        "fetch-files-per-ticker-missing-ticker",
        ("fetch",),
        "fetch: 1 ticker(s) failed (NOPE: no file ext/prices/NOPE.csv (or .csv.gz)); validate decides if coverage suffices",
        code=0,
        params={"data": {**PER_TICKER_PARAMS["data"], "universe": ["S000", "NOPE"]}},
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV}),
        check=_one_ticker_and_an_equal_weighted_index,
    ),
    Case(
        "fetch-files-per-ticker-no-prices-folder",
        ("fetch",),
        "Error: data.files_dir: ext/prices is not a directory; the per_ticker layout needs prices/<TICKER>.csv (or .csv.gz) files there (see docs/data_sources.md)",
        params=PER_TICKER_PARAMS,
        setup=_writes({"ext/S000.csv": YAHOO_CSV}),
    ),
    Case(
        "fetch-files-per-ticker-empty-file",
        ("fetch",),
        "Error: ext/prices/S001.csv: the file is empty (not even a header line); download it again or delete it",
        params=PER_TICKER_PARAMS,
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV, "ext/prices/S001.csv": ""}),
    ),
    Case(
        "fetch-files-per-ticker-non-numeric-close",
        ("fetch",),
        "Error: ext/prices/S000.csv: line 3: Close holds '10,8', not a number; write a number, or leave the cell empty if the value is unknown",
        params=PER_TICKER_PARAMS,
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV.replace(",10.8,", ',"10,8",')}),
    ),
    Case(
        "fetch-files-per-ticker-duplicate-date",
        ("fetch",),
        "Error: ext/prices/S000.csv: line 2 and line 4 are the same day (2012-01-03); keep one row per day",
        params=PER_TICKER_PARAMS,
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV + "2012-01-03,10,11,9,10.5,10.4,1000\n"}),
    ),
    Case(
        "fetch-files-market-two-value-columns",
        ("fetch",),
        "Error: ext/market/index.csv: line 1: cannot tell which column holds the values (columns: date, SPY, QQQ); keep the date and one value column, or name the value column value (or Close)",
        params={"data": {**PER_TICKER_PARAMS["data"], "files_market": {"index_close": "market/index.csv"}}},
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV, "ext/market/index.csv": "date,SPY,QQQ\n2012-01-03,127.5,57.2\n"}),
    ),
    Case(
        "fetch-files-universe-csv-without-ticker",
        ("fetch",),
        "Error: data.universe: universe.csv line 1: no ticker column (columns: symbol, rank); name the column of symbols ticker, or write one symbol per line without a header",
        params={"data": {**PER_TICKER_PARAMS["data"], "universe": "universe.csv"}},
        setup=_writes({"ext/prices/S000.csv": YAHOO_CSV, "universe.csv": "symbol,rank\nS000,1\n"}),
    ),
    Case(
        "fetch-raw-dir-is-a-file",
        ("fetch",),
        "Error: cannot write data/raw/prices.parquet (a file is in the way of a directory); move that file away so data/raw can be a directory, or write somewhere else; existing files were left unchanged",
        setup=_write(Path("data/raw"), "not a directory\n"),
    ),
    Case(
        "report-path-is-a-directory",
        ("validate", "--report", "metrics"),
        "Error: cannot write metrics (a directory is in the way); remove the directory metrics or write somewhere else; existing files were left unchanged",
        needs=("raw",),
        setup=lambda d: (d / "metrics").mkdir(),
    ),
    Case(
        "evaluate-report-dir-is-a-file",
        ("evaluate",),
        "Error: cannot write evaluation/report.md (a file is in the way of a directory); move that file away so evaluation can be a directory, or write somewhere else; existing files were left unchanged",
        needs=("db", "model"),
        setup=_write(Path("evaluation"), "not a directory\n"),
    ),
    # raw tables
    Case("raw-dir-missing", ("validate",), "Error: data/raw/prices.parquet not found; fetch it with `dvc repro fetch`"),
    Case(
        "raw-table-missing",
        ("cache",),
        "Error: data/raw/market.parquet not found; fetch it with `dvc repro fetch`",
        needs=("raw",),
        setup=lambda d: (d / "data" / "raw" / "market.parquet").unlink(),
    ),
    Case(
        "raw-not-parquet",
        ("validate",),
        "Error: data/raw/prices.parquet is not a readable Parquet file (ArrowInvalid); delete it and rerun fetch",
        needs=("raw",),
        setup=_write(Path("data/raw/prices.parquet"), "ticker,date\nAAA,2020-01-02\n"),
    ),
    Case(
        "raw-truncated-parquet",
        ("validate",),
        "Error: data/raw/prices.parquet is not a readable Parquet file",
        needs=("raw",),
        setup=_truncate("data/raw/prices.parquet", 0.5),
    ),
    Case(
        "raw-missing-column",
        ("validate",),
        "Error: data/raw/prices.parquet: missing column(s) volume; the prices table needs ticker, date, open, high, low, close, adj_close, volume",
        needs=("raw",),
        setup=_raw("prices", lambda f: f.drop(columns=["volume"])),
    ),
    Case(
        "raw-text-in-number-column",
        ("validate",),
        "Error: data/raw/prices.parquet: column 'close' must hold numbers",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, 0, "close", "n/a")),
    ),
    Case(
        "raw-text-in-date-column",
        ("validate",),
        "Error: data/raw/prices.parquet: column 'date' must hold dates (YYYY-MM-DD)",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f.assign(date=f["date"].dt.strftime("%Y-%m-%d")), 0, "date", "someday")),
    ),
    Case(
        "raw-empty-key",
        ("validate",),
        "Error: data/raw/prices.parquet: key column 'date' has empty values; fill or drop those rows",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, 3, "date", pd.NaT)),
    ),
    Case(
        "raw-infinite-value",
        ("validate",),
        "Error: data/raw/prices.parquet: column 'close' holds infinite values; replace them with empty values or real numbers",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, 3, "close", np.inf)),
    ),
    Case(
        "raw-nan-in-most-rows",
        ("validate",),
        "Error: raw data failed validation: prices.close is missing in 50.0% of rows (max 2.0%; raise "
        "validate.max_missing_share.prices.close). Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, f.index[::2], "close", np.nan)),
        check=_report_written,
    ),
    Case(
        "raw-nan-in-a-few-rows",
        ("cache",),
        "cache: 1,404 snapshots of 15 tickers",
        code=0,
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, f.index[:6], "close", np.nan)),
        check=_missing_prices_are_skipped_not_zero,
    ),
    Case(
        "raw-duplicate-keys",
        ("validate",),
        "Error: data/raw/prices.parquet: 4 rows share a key (ticker, date), the first (S000, 2010-01-01); keep one row per key",
        needs=("raw",),
        setup=_raw("prices", lambda f: pd.concat([f, f.iloc[:2]], ignore_index=True)),
    ),
    Case(
        "raw-unsorted-keys",
        ("validate",),
        "validate: ok (15 tickers, 34,114 price rows, 0 warnings, 0 notes)",
        code=0,
        needs=("raw",),
        setup=_raw("prices", lambda f: f.iloc[::-1]),
    ),
    Case(
        "raw-report-before-period-end",
        ("validate",),
        "Error: raw data failed validation: 1 fundamentals rows have a report_date before their period_end (look-ahead). Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("fundamentals", lambda f: _set(f, 0, "report_date", f.loc[0, "period_end"] - pd.Timedelta(days=9))),
    ),
    Case(
        "raw-negative-prices",
        ("validate",),
        "Error: raw data failed validation: 101 price rows have a zero or negative price. Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, f.index[:101], "close", -1.0)),
    ),
    Case(
        "raw-empty-fundamentals",
        ("validate",),
        "validate: ok (15 tickers, 34,114 price rows, 0 warnings, 1 notes)",
        code=0,
        needs=("raw",),
        setup=_raw("fundamentals", lambda f: f.iloc[:0]),
    ),
    Case(
        "raw-price-only",
        ("validate",),
        "validate: ok (15 tickers, 34,114 price rows, 0 warnings, 3 notes)",
        code=0,
        needs=("raw",),
        setup=_price_only,
        check=_price_only_columns_reported,
    ),
    Case(
        "raw-volume-partly-missing",
        ("validate",),
        "Error: raw data failed validation: prices.volume is missing in 35.0% of rows (max 2.0%; raise "
        "validate.max_missing_share.prices.volume or leave the column empty everywhere if you do not have it). "
        "Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("prices", lambda f: _set(f, f.index[: int(len(f) * 0.35)], "volume", np.nan)),
    ),
    Case(
        "raw-adj-close-empty",
        ("validate",),
        "Error: raw data failed validation: prices.adj_close is empty in every row but is required; fill it (copy close "
        "if your source has no dividend-adjusted prices). Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("prices", lambda f: f.assign(adj_close=np.nan)),
    ),
    Case(
        "raw-fundamentals-stop",
        ("validate",),
        "Error: raw data failed validation: fundamentals (every field): coverage collapses from 2016 on (at most 0.0% of "
        "trading tickers report per year, down from a median of 100.0%); fetch the missing reports, or lower "
        "validate.fundamentals_collapse_share (0 accepts it). Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("fundamentals", lambda f: f[f["report_date"] < "2016-01-01"]),
    ),
    Case(
        "raw-fundamentals-unit-error",
        ("validate",),
        "Error: raw data failed validation: fundamentals: 7 quarterly values are 100x larger or smaller than both "
        "neighbouring quarters (a unit error, millions for billions?): S001 revenue 2011-03-31",
        needs=("raw",),
        setup=_raw("fundamentals", _unit_errors),
    ),
    Case(
        "raw-too-few-tickers-per-month",
        ("validate",),
        "Error: raw data failed validation: prices: fewer than 5 tickers have a close at 3 month ends: 2014-03 (3), "
        "2014-04 (3), 2014-05 (3); rank IC needs a cross-section: add tickers for those months or lower "
        "validate.min_tickers. Details in metrics/data_quality.json",
        needs=("raw",),
        setup=_raw("prices", _thin_cross_section),
    ),
    Case(
        "raw-ticker-with-three-days-validate",
        ("validate",),
        "validate: ok (16 tickers, 34,117 price rows, 1 warnings, 0 notes)",
        code=0,
        needs=("raw",),
        setup=_raw("prices", _few_days_ticker),
    ),
    Case(
        "raw-ticker-with-three-days-cache",
        ("cache",),
        "cache: 1,404 snapshots of 15 tickers",
        code=0,
        needs=("raw",),
        setup=_raw("prices", _few_days_ticker),
        check=_newco_is_known_but_has_no_snapshots,
    ),
    Case(
        "raw-empty-prices",
        ("cache",),
        "Error: the raw prices or market table is empty; rerun `invest fetch` and check its report",
        needs=("raw",),
        setup=_raw("prices", lambda f: f.iloc[:0]),
    ),
    Case(
        "cache-too-little-history",
        ("cache",),
        "Error: no (ticker, date) has 2520 days of history; fetch a longer period or lower cache.min_history_days",
        params={"cache": {"min_history_days": 2520}},
        needs=("raw",),
    ),
    # the store
    Case("db-missing", ("train",), "Error: data/stock_data.db not found; build it with `dvc repro cache`"),
    Case(
        "db-truncated",
        ("train",),
        "Error: data/stock_data.db is not a readable invest database (database disk image is malformed); delete it and rerun `dvc repro`",
        needs=("db",),
        setup=_truncate("data/stock_data.db", 0.3),
    ),
    Case(
        "db-not-sqlite",
        ("train",),
        "Error: data/stock_data.db is not a readable invest database (file is not a database); delete it and rerun `dvc repro`",
        setup=_write(Path("data/stock_data.db"), "hello\n" * 200),
    ),
    Case(
        "db-empty-file",
        ("evaluate",),
        "Error: data/stock_data.db is not a readable invest database (no such table: meta); delete it and rerun `dvc repro`",
        setup=_write(Path("data/stock_data.db"), b""),
    ),
    Case(
        "db-older-schema",
        ("train",),
        "Error: data/stock_data.db has schema version 0, this code needs 2; rebuild it with `dvc repro --force cache`",
        needs=("db",),
        setup=_sql("UPDATE meta SET value = '0' WHERE key = 'schema_version'"),
    ),
    Case(
        "db-table-missing",
        ("train",),
        "Error: the database is damaged or incomplete (",
        needs=("db",),
        setup=_sql("DROP TABLE snapshots"),
    ),
    Case(
        "train-no-training-rows",
        ("train",),
        "Error: only 0 labelled train rows for horizon 1y (labelled snapshots run 2010-12-31 to 2017-12-29); adjust train.train_end / train.val_end to the data's dates",
        params={"train": {"train_end": "2009-12-31"}},
        needs=("db",),
    ),
    # checkpoints
    Case(
        "model-missing",
        ("evaluate",),
        "Error: models/model.pt not found; train a model with `dvc repro train`",
        needs=("db",),
    ),
    Case(
        "model-corrupt",
        ("evaluate",),
        "Error: models/model.pt is not a readable checkpoint (",
        needs=("db", "model"),
        setup=_zero_bytes,
    ),
    Case(
        "model-truncated",
        ("evaluate",),
        "Error: models/model.pt is not a readable checkpoint (",
        needs=("db", "model"),
        setup=_truncate("models/model.pt", 0.25),
    ),
    Case(
        "model-bare-state-dict",
        ("evaluate",),
        "Error: models/model.pt is a bare state dict or another format, not an invest checkpoint; build the network with LSTMTransformerNetwork.from_config(ModelConfig.from_params(TrainParams(), n_temporal, n_static)) and call load_state_dict, or retrain",
        needs=("db", "model"),
        setup=_checkpoint(lambda checkpoint: checkpoint["state_dicts"][0]),
    ),
    Case(
        "model-pickled-module",
        ("predict",),
        "Error: models/model.pt is not a readable checkpoint (UnpicklingError)",
        needs=("db", "model"),
        setup=lambda d: torch.save(torch.nn.Linear(2, 1), d / "models" / "model.pt"),
    ),
    Case(
        "model-newer-format",
        ("evaluate",),
        "Error: models/model.pt has checkpoint format 99, this code reads 2; retrain it",
        needs=("db", "model"),
        setup=_checkpoint(lambda checkpoint: checkpoint.update(format_version=99)),
    ),
    Case(
        "model-incomplete",
        ("evaluate",),
        "Error: models/model.pt is an incomplete checkpoint (no scaler); retrain it (dvc repro train)",
        needs=("db", "model"),
        setup=_checkpoint(lambda checkpoint: checkpoint.pop("scaler") and None),
    ),
    Case(
        "model-weights-do-not-fit",
        ("evaluate",),
        "Error: models/model.pt: the weights, model_config or scaler do not fit together (RuntimeError: size mismatch",
        needs=("db", "model"),
        setup=_checkpoint(_bigger_network),
    ),
    Case(
        "model-other-feature-schema",
        ("evaluate",),
        "Error: the model's static features differ from data/stock_data.db: model needs mystery_ratio",
        needs=("db", "model"),
        setup=_checkpoint(_other_features),
    ),
    Case(
        "model-other-feature-schema-predict",
        ("predict",),
        "Error: the model's static features differ from data/stock_data.db: model needs mystery_ratio",
        needs=("db", "model"),
        setup=_checkpoint(_other_features),
    ),
    # evaluate
    Case(
        "evaluate-test-years-after-data",
        ("evaluate",),
        "Error: evaluate.test_years: 2030 has no labelled snapshots (1y returns; labelled snapshots run 2010-12-31 to 2017-12-29); choose years from 2014 to 2017",
        params={"evaluate": {"mode": "walk_forward", "test_years": [2030]}},
        needs=("db", "model"),
    ),
    Case(
        "evaluate-test-years-before-data",
        ("evaluate",),
        "Error: evaluate.test_years: 2005 has no labelled snapshots (1y returns; labelled snapshots run 2010-12-31 to 2017-12-29); choose years from 2014 to 2017",
        params={"evaluate": {"mode": "walk_forward", "test_years": [2005]}},
        needs=("db", "model"),
    ),
    # splits: the dates, checked against the store before train or evaluate removes anything
    Case(
        "splits-test-year-with-a-few-labelled-months",
        ("splits",),
        "Error: evaluate.test_years: 2018 has labels on only 6 of its 12 snapshot dates (6m returns; labelled snapshots run "
        "2010-12-31 to 2018-06-29); choose years from 2014 to 2017",
        params={"train": {"horizon": "6m"}, "evaluate": {"mode": "walk_forward", "test_years": [2017, 2018]}},
        needs=("db",),
    ),
    Case(
        "splits-training-before-the-data",
        ("splits",),
        "Error: train.train_end / train.val_end: only 0 labelled 1y rows for training (up to 2009-06-30; labelled snapshots "
        "run 2010-12-31 to 2017-12-29); move train.train_end / train.val_end inside the labelled dates, or fetch a longer "
        "history (data.start)",
        params={"train": {"train_end": "2009-06-30"}},
        needs=("db",),
    ),
    Case(
        "evaluate-model-for-another-horizon",
        ("evaluate",),
        "Error: models/model.pt was trained for 1y excess returns with seq_len 6 but params.yaml says 3y excess with seq_len 6; retrain it (dvc repro train) or set train.horizon/target/seq_len back",
        params={"train": {"horizon": "3y"}},
        needs=("db", "model"),
    ),
    # predict
    Case(
        "predict-unknown-ticker",
        ("predict", "--ticker", "ZZZZ"),
        "Error: unknown ticker 'ZZZZ'; 15 tickers in the store, e.g. S000, S001, S002, S003, S004",
        needs=("db", "model"),
    ),
    Case(
        "predict-ticker-without-snapshot",
        ("predict", "--ticker", "NEWCO"),
        "Error: ticker 'NEWCO' is in the store but has no snapshot (too little price history for a feature window); "
        "fetch a longer history (data.start) or leave it out",
        needs=("raw", "model"),
        setup=_newco_store,
    ),
    Case(
        "predict-as-of-not-a-date",
        ("predict", "--as-of", "yesterday"),
        "Error: --as-of 'yesterday' is not a date; write it as YYYY-MM-DD",
        needs=("db", "model"),
    ),
    Case(
        "predict-as-of-before-data",
        ("predict", "--as-of", "1990-01-01"),
        "Error: --as-of 1990-01-01 is before the first snapshot (2010-12-31); the store covers 2010-12-31 to 2018-12-31",
        needs=("db", "model"),
    ),
    Case(
        "predict-one-mc-sample",
        ("predict", "--mc-samples", "1"),
        "Error: --mc-samples 1: allowed: 0 (no sampling) or 2 or more",
        needs=("db", "model"),
    ),
    # the command line itself
    # the command line itself: typer prints usage, then the message in a box
    Case("cli-unknown-option", ("train", "--no-such-option"), "No such option: --no-such-option", code=2),
    Case("cli-unknown-command", ("retrain",), "No such command 'retrain'. Did you mean 'train'?", code=2),
]
assert len({case.id for case in CASES}) == len(CASES)


# ---------------------------------------------------------------- fixtures and the runner


@pytest.fixture(scope="session")
def built(small_store: Path, tmp_path_factory) -> dict[str, Path]:
    """Raw tables, a store and a one-epoch checkpoint of the small market, built once."""

    base = tmp_path_factory.mktemp("bad_inputs")
    model = base / "models" / "model.pt"
    run_train(params_module.from_dict(BASE_PARAMS), small_store, model, base / "train.json", base / "live")
    prices = pd.read_parquet(small_store.parent / "raw" / "prices.parquet")
    files = base / "files"
    files.mkdir()
    window = ("2011-12-25", "2012-03-30")  # a few weeks before data.start too (clipped by the source)
    two = prices[prices["ticker"].isin(["S000", "S001"]) & prices["date"].between(*window)]
    two.to_parquet(files / "prices.parquet")
    for name in ("companies", "fundamentals", "market", "macro"):
        frame = pd.read_parquet(small_store.parent / "raw" / f"{name}.parquet")
        if "ticker" in frame:
            frame = frame[frame["ticker"].isin(["S000", "S001"])]
        if "date" in frame:
            frame = frame[frame["date"].between(*window)]
        if "period_end" in frame:
            frame = frame[frame["period_end"].between("2010-01-01", "2012-03-30")]
        frame.reset_index(drop=True).to_parquet(files / f"{name}.parquet")
    return {"raw": small_store.parent / "raw", "db": small_store, "model": model, "files": files}


def prepare(case: Case, workdir: Path, built: dict[str, Path]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    if case.params_text is not None:
        (workdir / "params.yaml").write_text(case.params_text)
    else:
        merged = {section: dict(values) for section, values in BASE_PARAMS.items()}
        for section, values in case.params.items():
            merged.setdefault(section, {}).update(values)
        (workdir / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    shutil.copy(REPO / "dvc.yaml", workdir / "dvc.yaml")  # predict finds the store and the model through it
    targets = {"raw": "data/raw", "db": "data/stock_data.db", "model": "models/model.pt", "files": "files"}
    for need in case.needs:
        source, target = built[need], workdir / targets[need]
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    if case.setup is not None:
        case.setup(workdir)


def run_invest(args: tuple[str, ...], cwd: Path) -> tuple[int, str]:
    """``invest <args>`` through the console entry point, in this process: (exit code, stderr).

    An exception escaping ``main`` is printed as Python would print it and counts as exit 1;
    warnings are printed as a fresh process would show them (Python's default filters).
    """
    from invest import cli

    stderr = io.StringIO()
    old_cwd, old_argv, old_debug = os.getcwd(), sys.argv, cli.State.debug
    code = 0
    os.chdir(cwd)
    sys.argv = ["invest", *invest_args(*args)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", hidden)
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - reported as a real process would
            stderr.write(traceback.format_exc())
            code = 1
        finally:
            os.chdir(old_cwd)
            sys.argv = old_argv
            cli.State.debug = old_debug
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught)
    return code, shown + stderr.getvalue()


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def shows(case: Case, stderr: str) -> bool:
    """Whether the user sees the row's message: the last line, or (usage errors) the line in typer's box."""
    if case.code == 2:
        return any(line.strip(" │").startswith(case.expect) for line in stderr.splitlines())
    return last_line(stderr).startswith(case.expect)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input(case: Case, built, tmp_path, monkeypatch):
    if case.skip:
        pytest.skip(case.skip)
    monkeypatch.delenv("INVEST_DEBUG", raising=False)
    monkeypatch.delenv("SEC_USER_AGENT", raising=False)  # a row that needs it sets it (patch)
    if case.patch is not None:
        case.patch(monkeypatch)
    prepare(case, tmp_path, built)
    code, stderr = run_invest(case.command, tmp_path)
    assert "Traceback" not in stderr, stderr
    assert "Warning:" not in stderr, stderr  # nothing but the message (and, for a few rows, validate's own lines)
    assert code == case.code, stderr
    assert shows(case, stderr), stderr
    if case.code == 1:  # exactly one error line, the last one
        assert [line for line in stderr.splitlines() if line.startswith("Error:")] == [last_line(stderr)]
    if case.check is not None:
        case.check(tmp_path)


def invest_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "INVEST_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "invest", *invest_args(*args)], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.parametrize("case_id", ["raw-missing-column", "cli-unknown-option"])
def test_rows_behave_the_same_in_a_real_process(case_id, built, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    prepare(case, tmp_path, built)
    result = invest_process(*case.command, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert result.returncode == case.code
    assert shows(case, result.stderr)


def test_debug_shows_the_traceback(built, tmp_path):
    case = next(c for c in CASES if c.id == "raw-missing-column")
    prepare(case, tmp_path, built)
    result = invest_process("--debug", *case.command, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "invest.errors.DataError: data/raw/prices.parquet: missing column(s) volume" in result.stderr


def test_debug_in_this_process_raises_the_error(built, tmp_path):
    from invest.errors import ConfigError

    case = next(c for c in CASES if c.id == "params-wrong-type")
    prepare(case, tmp_path, built)
    code, stderr = run_invest(("--debug", *case.command), tmp_path)
    assert code == 1 and "Traceback" in stderr and ConfigError.__name__ in stderr


# ---------------------------------------------------------------- the document


def catalogue_rows() -> list[tuple[str, str, int]]:
    """(id, message, exit code) of every row of the table in docs/bad_inputs.md."""
    rows = []
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z0-9-]+)`\s*\|.*\|\s*`` (.+?) ``…?\s*\|\s*(\d)\s*\|\s*$", line)
        if match:
            rows.append((match.group(1), match.group(2), int(match.group(3))))
    return rows


def test_the_catalogue_documents_every_tested_row_and_nothing_else():
    documented = {row_id: (message, code) for row_id, message, code in catalogue_rows()}
    tested = {case.id: (case.expect, case.code) for case in CASES}
    assert len(documented) >= 30
    assert documented == tested
