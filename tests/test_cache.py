import sqlite3

import pytest

from invest.cache import main
from invest.data import features, store
from invest.data.snapshots import build_tables, store_meta
from invest.errors import DataError
from invest.params import CacheParams


def test_store_holds_every_table_and_reads_back(small_store):
    connection = store.connect_readonly(small_store)
    meta = store.read_meta(connection)
    assert meta["schema_version"] == store.SCHEMA_VERSION
    assert meta["temporal_features"] == list(features.TEMPORAL_FEATURES)
    snapshots = store.read_table(connection, "snapshots")
    assert list(snapshots.columns) == ["ticker", "date", *features.STATIC_FEATURES, *features.LABELS]
    assert not snapshots.duplicated(["ticker", "date"]).any()
    oracle = store.read_table(connection, "oracle")
    assert len(oracle) >= len(snapshots)
    connection.close()


def test_the_store_holds_features_not_daily_prices(small_store):
    connection = store.connect_readonly(small_store)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert tables == {"meta", "tickers", "monthly", "snapshots", "oracle"}


def test_store_is_small_per_snapshot(small_store):
    connection = store.connect_readonly(small_store)
    snapshots = connection.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    connection.close()
    assert small_store.stat().st_size / snapshots < 4096


def test_store_uses_rollback_journal_and_leaves_no_side_files(small_store):
    connection = store.connect_readonly(small_store)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()
    assert not small_store.with_name(small_store.name + "-wal").exists()
    assert not small_store.with_name(small_store.name + "-shm").exists()


def test_snapshots_need_enough_history(small_tables):
    tables = build_tables(small_tables, CacheParams(min_history_days=500))
    first_day = small_tables["prices"].groupby("ticker")["date"].min()
    first_snapshot = tables["snapshots"].groupby("ticker")["date"].min()
    assert ((first_snapshot - first_day.reindex(first_snapshot.index)).dt.days > 500 * 7 / 5 - 30).all()


def test_quarterly_snapshots(small_tables):
    snapshots = build_tables(small_tables, CacheParams(snapshot_freq="quarterly"))["snapshots"]
    assert set(snapshots["date"].dt.month) <= {3, 6, 9, 12}


def test_too_little_history_is_a_clear_error(small_tables):
    with pytest.raises(DataError, match="cache.min_history_days"):
        build_tables(small_tables, CacheParams(min_history_days=2520))


def test_a_damaged_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "stock_data.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DataError, match="not a readable invest database"):
        store.connect_readonly(bad)


def test_an_older_schema_asks_for_a_rebuild(tmp_path, small_store):
    copy = tmp_path / "old.db"
    copy.write_bytes(small_store.read_bytes())
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(DataError, match="schema version 0, this code needs"):
        store.connect_readonly(copy)


def test_main_writes_atomically_and_replaces(tmp_path, raw_dir, small_params):
    db = tmp_path / "out.db"
    main(small_params, raw_dir=raw_dir, db_path=db)
    first = db.read_bytes()
    main(small_params, raw_dir=raw_dir, db_path=db)
    assert db.read_bytes() == first  # same input, same bytes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.db")] == []


def price_only(tables: dict) -> dict:
    """What most people have: prices without volume or ranges, an index, nothing else."""
    out = {name: frame.copy() for name, frame in tables.items() if name != "oracle"}
    out["prices"][["open", "high", "low", "volume"]] = float("nan")
    out["market"][["vol_index", "short_rate", "long_rate"]] = float("nan")
    out["fundamentals"] = out["fundamentals"].iloc[0:0]
    out["macro"] = out["macro"].iloc[0:0]
    out["companies"]["sector"] = "Unknown"
    return out


PRICE_FEATURES = [
    "ret_1m",
    "ret_3m",
    "ret_6m",
    "ret_12_1m",
    "mom_vol_scaled",
    "excess_ret_1m",
    "vol_1m",
    "vol_3m",
    "dist_52w_high",
]


def test_price_only_data_builds_only_the_features_it_has_inputs_for(small_tables):
    raw = price_only(small_tables)
    tables = build_tables(raw, CacheParams())
    assert list(tables["monthly"].columns) == ["ticker", "date", *PRICE_FEATURES]
    static = [c for c in tables["snapshots"].columns if c not in ("ticker", "date", *features.LABELS)]
    assert static == ["market_ret_12m", "market_vol_3m"]
    assert tables["snapshots"][static].notna().mean().min() > 0.9  # what is built is filled with data, not constants
    left_out = features.left_out(raw)
    assert left_out["log_dollar_volume"] == "prices.volume" and left_out["hl_range_1m"] == "prices.high, prices.low"
    assert left_out["book_to_market"] == "fundamentals.equity, fundamentals.shares"
    assert left_out["inflation"] == "macro.inflation" and left_out["sector_energy"] == "companies.sector"
    assert left_out["amihud_1m"] == "prices.volume" and left_out["sector_rel_mom"] == "companies.sector"
    assert "mom_vol_scaled" not in left_out  # adj_close is all it needs
    assert features.left_out(small_tables) == {}  # the simulated market has every input


def test_data_without_sectors_or_volume_records_the_new_features_as_not_provided(small_tables):
    """Sector-relative momentum needs sectors and Amihud needs volume: without them the store leaves them out."""
    raw = {name: frame.copy() for name, frame in small_tables.items()}
    raw["companies"]["sector"] = "Unknown"
    tables = build_tables(raw, CacheParams())
    meta = store_meta(raw, tables, CacheParams())
    assert meta["features_left_out"] == {name: "companies.sector" for name in (*features.SECTOR_FEATURES, "sector_rel_mom")}
    assert "sector_rel_mom" not in meta["static_features"] and "sector_rel_mom" not in tables["snapshots"].columns
    assert "amihud_1m" in meta["temporal_features"] and tables["monthly"]["amihud_1m"].notna().mean() > 0.9
    raw["prices"]["volume"] = float("nan")
    tables = build_tables(raw, CacheParams())
    meta = store_meta(raw, tables, CacheParams())
    assert meta["features_left_out"]["amihud_1m"] == "prices.volume"
    assert "amihud_1m" not in meta["temporal_features"] and "amihud_1m" not in tables["monthly"].columns
    assert tables["monthly"]["mom_vol_scaled"].notna().mean() > 0.8
