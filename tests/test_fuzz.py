"""Property and fuzz tests: whatever comes in, the answer is a result or one of our errors, never a crash.

* raw-table readers: ``schema.conform`` on arbitrary frames, ``io.read_table`` on arbitrary
  bytes, damaged Parquet files and arbitrary frames written as Parquet;
* the params loader: arbitrary YAML-ish mappings and arbitrary text give ``Params`` or ``ConfigError``;
* the feature builders (``cache.build_tables``, which runs every function of ``invest.data.features``)
  on arbitrary small price panels give tables or ``DataError``;
* the files source on arbitrary CSV cells and text;
* point in time: deleting every raw row dated after t leaves every feature at dates <= t unchanged.

Example counts are bounded so the file runs in well under 30 seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from invest import cache
from invest import params as params_module
from invest.data import features
from invest.data.raw import read_table
from invest.data.schema import FUNDAMENTAL_FIELDS, GICS_SECTORS, MACRO_SERIES, TABLES, TABLES_BY_NAME, conform
from invest.data.snapshots import built_features
from invest.errors import ConfigError, DataError
from invest.params import CacheParams


def fuzz(examples: int) -> settings:
    """Bounded, reproducible runs (derandomize: the same examples every time, no shared database needed)."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


# ---------------------------------------------------------------- values

DATES = st.datetimes(min_value=dt.datetime(1500, 1, 1), max_value=dt.datetime(2400, 1, 1))
SCALARS = st.one_of(
    st.none(),
    st.just(np.nan),
    st.just(pd.NaT),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2020-01-31", "2020-02-30", "31/01/2020", "1e400", "inf", "-inf", "nan", "", " 7 ", "NA", "AAPL"]),
    DATES,
    DATES.map(lambda d: d.replace(tzinfo=dt.timezone(dt.timedelta(hours=5)))),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
    st.binary(max_size=4),
)


def typed(kind: str) -> st.SearchStrategy:
    """Mostly plausible values of a column kind, so generated frames often get past the first check."""
    if kind == "str":
        return st.one_of(st.sampled_from(["AAA", "BBB", "CCC"]), st.text(max_size=4), st.none())
    if kind == "date":
        return st.one_of(
            st.dates(min_value=dt.date(2019, 12, 25), max_value=dt.date(2020, 1, 10)).map(pd.Timestamp), st.just(pd.NaT)
        )
    return st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.just(np.nan), st.floats(allow_infinity=True))


@st.composite
def frames_for(draw, table) -> pd.DataFrame:
    """A frame aimed at ``table``: some columns dropped or added, some filled with anything at all."""
    n = draw(st.integers(min_value=0, max_value=6))
    data = {}
    for column, kind in table.columns.items():
        if draw(st.integers(0, 19)) == 0:
            continue  # a missing column
        wild = draw(st.integers(0, 3)) == 0
        values = draw(st.lists(SCALARS if wild else typed(kind), min_size=n, max_size=n))
        data[column] = pd.Series(values, dtype=object) if wild or draw(st.booleans()) else pd.Series(values)
    if draw(st.booleans()):
        data["extra"] = pd.Series(draw(st.lists(SCALARS, min_size=n, max_size=n)), dtype=object)
    return pd.DataFrame(data, index=range(n))


def assert_conformed(out: pd.DataFrame, table) -> None:
    assert list(out.columns) == list(table.columns)
    for column, kind in table.columns.items():
        values = out[column]
        if kind == "str":
            assert values.map(lambda v: v is None or v is pd.NA or isinstance(v, str)).all()
        elif kind == "date":
            assert str(values.dtype) == "datetime64[ns]"
            assert (values.dropna() == values.dropna().dt.normalize()).all()
        else:
            assert values.dtype == np.float64 and not np.isinf(values.to_numpy()).any()
    key = list(table.key)
    assert not out[key].isna().any().any()
    assert not out.duplicated(key).any()
    assert out.equals(out.sort_values(key, kind="mergesort").reset_index(drop=True))


# ---------------------------------------------------------------- raw tables


@fuzz(300)
@given(table=st.sampled_from(TABLES), data=st.data())
def test_conform_returns_the_schema_or_a_data_error(table, data):
    frame = data.draw(frames_for(table))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = conform(frame, table, "fuzz")
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert_conformed(out, table)


def test_found_by_fuzzing_missing_text_and_far_dates():
    """Regressions: pandas' text dtype marks a missing sector as NaN (was refused as "not text");
    a date past 2262 cannot be stored in nanoseconds (was an OutOfBoundsDatetime traceback)."""
    companies = pd.DataFrame({"ticker": ["A", "B"], "name": ["a", "b"], "sector": ["Energy", None], "industry": ["x", "y"]})
    assert conform(companies, TABLES_BY_NAME["companies"], "companies")["sector"].tolist() == ["Energy", None]
    market = pd.DataFrame({"date": [dt.datetime(2263, 1, 1)], "index_close": [1.0], "vol_index": [1.0], "short_rate": [1.0]})
    with pytest.raises(DataError, match="column 'date' must hold dates"):
        conform(market.assign(long_rate=1.0), TABLES_BY_NAME["market"], "market")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


VALID_PRICES = _parquet_bytes(
    pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "BBB"],
            "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-02"]),
            **{c: [1.0, 2.0, 3.0] for c in ("open", "high", "low", "close", "adj_close", "volume")},
        }
    )
)


def _read_prices(payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "prices.parquet").write_bytes(payload)
        try:
            out = read_table(directory, TABLES_BY_NAME["prices"])
        except DataError as exc:
            assert "\n" not in str(exc)
            return
        assert_conformed(out, TABLES_BY_NAME["prices"])


@fuzz(100)
@given(payload=st.one_of(st.binary(max_size=3000), st.just(b""), st.just(b"PAR1"), st.just(b"PAR1" + b"\0" * 64 + b"PAR1")))
def test_read_table_on_arbitrary_bytes(payload):
    _read_prices(payload)


@fuzz(100)
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(VALID_PRICES) - 1), st.integers(0, 255)), min_size=1, max_size=8),
    keep=st.integers(0, len(VALID_PRICES)),
)
def test_read_table_on_damaged_parquet(cuts, keep):
    damaged = bytearray(VALID_PRICES)
    for position, value in cuts:
        damaged[position] = value
    _read_prices(bytes(damaged[:keep] if keep < len(damaged) // 2 else damaged))


@fuzz(80)
@given(data=st.data())
def test_read_table_on_arbitrary_parquet_frames(data):
    frame = data.draw(frames_for(TABLES_BY_NAME["prices"]))
    try:
        payload = _parquet_bytes(frame)
    except Exception:  # noqa: BLE001 - pyarrow cannot store this frame at all; nothing to read
        assume(False)
    _read_prices(payload)


# ---------------------------------------------------------------- params

FIELDS = {name: [f.name for f in cls.__dataclass_fields__.values()] for name, cls in params_module._SECTION_TYPES.items()}
PARAM_VALUES = st.recursive(
    st.one_of(
        SCALARS.filter(lambda v: not isinstance(v, bytes)),
        st.sampled_from(["auto", "cpu", "cuda", "1y", "6m", "excess", "monthly", "sim", "files", "walk_forward", "single"]),
        st.sampled_from([0, 1, 2, 4, 12, 30, 100, 2019, 2**32, -1, 0.5, 0.8, 0.95, 1.0]),
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def params_mappings(draw) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(PARAM_VALUES)  # not even a mapping
    sections = {}
    for section in draw(st.lists(st.sampled_from([*FIELDS, "trian", ""]), unique=True, max_size=5)):
        if draw(st.integers(0, 9)) == 0:
            sections[section] = draw(PARAM_VALUES)
            continue
        keys = draw(st.lists(st.sampled_from(FIELDS.get(section, ["x"]) + ["typo"]), unique=True, max_size=6))
        sections[section] = {key: draw(PARAM_VALUES) for key in keys}
    return sections


@fuzz(300)
@given(raw=params_mappings())
def test_params_are_loaded_or_refused_with_one_line(raw):
    try:
        loaded = params_module.from_dict(raw)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(loaded, params_module.Params)
    for section in params_module.to_dict(loaded).values():
        for value in section.values():
            assert not (isinstance(value, float) and not math.isfinite(value))


YAML_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            [
                "train:",
                "data:",
                "evaluate:",
                "  epochs: 3",
                "  epochs: 3",
                "  seed: -1",
                "  horizon: 1y",
                "  start: 2020-01-01",
                "  test_years: [2019, 2020]",
                "  test_years: 2019",
                "  learning_rate: .nan",
                "  device: cuda",
                "  - a",
                "? [a]",
                "  : x",
                "&a [*a]",
                "train: &a {x: *a}",
                "  dropout: !!binary aGk=",
                "!!python/object:os.system x",
                "\t",
                "{",
                "'",
                "  universe: [AAPL, 1]",
                "  embargo_months: null",
                "  interval_levels: [0.95, 0.8]",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)


@fuzz(300)
@given(text=YAML_TEXT)
def test_params_files_are_loaded_or_refused_with_one_line(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("params", numbered=True) / "params.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        params_module.load(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


# ---------------------------------------------------------------- features

PRICE = st.one_of(
    st.floats(min_value=0.5, max_value=500),
    st.just(np.nan),
    st.sampled_from([0.0, -1.0, 1e-300, 1e300]),
)


@st.composite
def small_markets(draw) -> dict[str, pd.DataFrame]:
    """Raw tables for 1-3 tickers over a random stretch of business days; values anything from sane to absurd."""
    first = pd.Timestamp("2015-01-01") + pd.Timedelta(days=draw(st.integers(0, 60)))
    days = pd.bdate_range(first, periods=draw(st.integers(1, 420)))
    tickers = ["AAA", "BBB", "CCC"][: draw(st.integers(1, 3))]
    rows = []
    for ticker in tickers:
        start, stop = sorted(draw(st.lists(st.integers(0, len(days)), min_size=2, max_size=2)))
        level = draw(st.floats(min_value=1, max_value=300))
        steps = np.exp(np.cumsum(np.full(len(days), draw(st.floats(-0.01, 0.01)))))
        for i in range(start, stop):
            close = level * steps[i] if draw(st.integers(0, 30)) else draw(PRICE)
            rows.append(
                (ticker, days[i], close, close * 1.01, close * 0.99, close, close, draw(st.sampled_from([1e6, 0.0, np.nan])))
            )
    prices = pd.DataFrame(rows, columns=list(TABLES_BY_NAME["prices"].columns))
    market_days = days[:: draw(st.integers(1, 3))]
    market = pd.DataFrame(
        {
            "date": market_days,
            "index_close": 100 * np.exp(np.linspace(0, draw(st.floats(-1, 1)), len(market_days))),
            "vol_index": draw(st.sampled_from([15.0, np.nan])),
            "short_rate": 1.0,
            "long_rate": draw(st.sampled_from([2.0, np.nan])),
        }
    )
    quarters = pd.date_range(first - pd.DateOffset(years=1), days[-1], freq="QE")
    fundamentals = pd.DataFrame(
        [
            {
                "ticker": ticker,
                "period_end": end,
                "report_date": end + pd.Timedelta(days=draw(st.integers(0, 90))),
                **{field: draw(st.sampled_from([1e9, -1e8, 0.0, np.nan, 5.0])) for field in FUNDAMENTAL_FIELDS},
            }
            for ticker in tickers
            for end in quarters
            if draw(st.integers(0, 5))
        ],
        columns=list(TABLES_BY_NAME["fundamentals"].columns),
    )
    months = pd.date_range(first - pd.DateOffset(months=3), days[-1], freq="ME")
    macro = pd.DataFrame(
        [
            (series, end, end + pd.Timedelta(days=15), draw(st.sampled_from([2.0, -1.0, np.nan])))
            for series in MACRO_SERIES
            for end in months
            if draw(st.integers(0, 3))
        ],
        columns=list(TABLES_BY_NAME["macro"].columns),
    )
    companies = pd.DataFrame(
        {
            "ticker": tickers,
            "name": tickers,
            "sector": [draw(st.sampled_from([*GICS_SECTORS, "Unknown", None])) for _ in tickers],
            "industry": "x",
        }
    )
    tables = {"prices": prices, "companies": companies, "fundamentals": fundamentals, "market": market, "macro": macro}
    return {name: conform(frame, TABLES_BY_NAME[name], name) for name, frame in tables.items()}


@fuzz(30)
@given(raw=small_markets(), history=st.sampled_from([21, 63, 252]), freq=st.sampled_from(["monthly", "quarterly"]))
def test_feature_builders_never_crash_on_small_panels(raw, history, freq):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            tables = cache.build_tables(raw, CacheParams(snapshot_freq=freq, min_history_days=history, min_price=1.0))
        except DataError as exc:
            assert "\n" not in str(exc)
            return
    snapshots = tables["snapshots"]
    temporal, static = built_features(raw)
    lacking = features.left_out(raw)
    assert static == [name for name in features.STATIC_FEATURES if name not in lacking]  # the contract's order
    assert list(snapshots.columns) == ["ticker", "date", *static, *features.LABELS]
    assert not snapshots.duplicated(["ticker", "date"]).any()
    assert not np.isinf(snapshots[static].to_numpy(dtype=float)).any()
    assert list(tables["monthly"].columns) == ["ticker", "date", *temporal]


def test_found_by_fuzzing_a_single_day_of_data():
    """Regression: fewer days than one complete month crashed features.month_ends (IndexError)."""
    day = pd.Timestamp("2015-01-01")
    raw = {
        "prices": pd.DataFrame(
            {
                "ticker": ["AAA"],
                "date": [day],
                **{c: [1.0] for c in ("open", "high", "low", "close", "adj_close")},
                "volume": [1e6],
            }
        ),
        "companies": pd.DataFrame({"ticker": ["AAA"], "name": ["AAA"], "sector": ["Energy"], "industry": ["x"]}),
        "fundamentals": pd.DataFrame(columns=list(TABLES_BY_NAME["fundamentals"].columns)),
        "market": pd.DataFrame(
            {"date": [day], "index_close": [100.0], "vol_index": [15.0], "short_rate": [1.0], "long_rate": [2.0]}
        ),
        "macro": pd.DataFrame(columns=list(TABLES_BY_NAME["macro"].columns)),
    }
    raw = {name: conform(frame, TABLES_BY_NAME[name], name) for name, frame in raw.items()}
    with pytest.raises(DataError, match="days of history"):
        cache.build_tables(raw, CacheParams(min_history_days=21))


# ---------------------------------------------------------------- the files source

files = pytest.importorskip("invest.data.sources.files")
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "AAA",
            "BBB",
            "2024-01-02",
            "2024-01-03",
            "2024-13-01",
            "01/02/2024",
            "1.5",
            "-1",
            "0",
            "nan",
            "inf",
            "1e400",
            "NA",
            "true",
            " 3 ",
            '"',
            "a,b",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6),
)


@st.composite
def csv_texts(draw, table) -> str:
    columns = list(table.columns)
    header = draw(st.permutations(columns)) if draw(st.booleans()) else columns
    if draw(st.integers(0, 9)) == 0:
        header = header[:-1]
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 5))):
        lines.append(",".join(draw(CELLS).replace("\n", " ") for _ in header))
    return "\n".join(lines) + "\n"


@fuzz(200)
@given(table=st.sampled_from(TABLES), data=st.data())
def test_files_source_reads_arbitrary_csv_or_says_what_is_wrong(table, data, tmp_path_factory):
    text = data.draw(st.one_of(csv_texts(table), st.text(max_size=120)))
    path = tmp_path_factory.mktemp("csv", numbered=True) / f"{table.name}.csv"
    path.write_text(text, encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = files.read_checked(path, table)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert_conformed(out, table)


# ---------------------------------------------------------------- point in time


@pytest.fixture(scope="module")
def small_market() -> dict[str, pd.DataFrame]:
    from invest.data.market import simulate

    return simulate(8, "2012-01-01", "2016-12-31", seed=9)


def _cut_after(tables: dict[str, pd.DataFrame], cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Every raw table as it stood at ``cutoff``: rows dated (known) after it deleted."""
    known = {"prices": "date", "market": "date", "oracle": "date", "fundamentals": "report_date", "macro": "release_date"}
    out = {}
    for name, frame in tables.items():
        column = known.get(name)
        out[name] = frame if column is None else frame[frame[column] <= cutoff].reset_index(drop=True)
    return out


@fuzz(5)
@given(days_in=st.integers(min_value=400, max_value=1700))
def test_deleting_every_row_after_t_leaves_features_at_t_unchanged(small_market, days_in):
    """The point-in-time invariant under truncation (test_features.py perturbs values instead)."""
    cutoff = pd.Timestamp("2012-01-01") + pd.Timedelta(days=days_in)
    params = CacheParams(min_history_days=126)
    full = cache.build_tables(small_market, params)
    then = cache.build_tables(_cut_after(small_market, cutoff), params)
    for table, columns in (("monthly", list(features.TEMPORAL_FEATURES)), ("snapshots", list(features.STATIC_FEATURES))):
        before = full[table][full[table]["date"] <= cutoff].set_index(["ticker", "date"])[columns]
        after = then[table].set_index(["ticker", "date"])[columns]
        assert after.index.get_level_values("date").max() <= cutoff
        pd.testing.assert_frame_equal(before.loc[after.index], after, check_exact=False, rtol=1e-10)
        # every (ticker, month end) known at t is there: only a month still running at t may be missing
        missing = before.index.difference(after.index)
        assert all(date.to_period("M") == cutoff.to_period("M") for _, date in missing)
