"""Typed, validated view of params.yaml: one frozen dataclass per section.

The loader refuses unknown keys, wrong types and out-of-range values with one
line naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import re
import types
import typing
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from invest.errors import ConfigError


def months(horizon: str) -> int:
    """A horizon's length in months: ``6m`` -> 6, ``1y`` -> 12 (the store's horizons: invest.data.features.HORIZONS)."""
    return int(horizon[:-1]) * {"m": 1, "y": 12}[horizon[-1]]


def _check(condition: bool, key: str, allowed: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"params: {key} = {value!r} is out of range; allowed: {allowed}")


def _date(key: str, value: str) -> dt.date:
    try:
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"params: {key} = {value!r} is not a date; write it as YYYY-MM-DD") from None
    _check(1900 <= date.year <= 2200, key, "a date between 1900 and 2200", value)
    return date


def _seed(key: str, value: int) -> None:
    _check(0 <= value < 2**32, key, "0 to 4294967295", value)


# the series a per_ticker files directory may name (invest.data.schema's market columns and macro series)
FILES_MARKET_SERIES = ("index_close", "vol_index", "short_rate", "long_rate")
FILES_MACRO_SERIES = ("inflation", "unemployment", "gdp_growth")


def _series_files(key: str, files: dict[str, str], allowed: tuple[str, ...]) -> None:
    for name, path in files.items():
        if name not in allowed:
            raise ConfigError(f"params: {key} names an unknown series {name!r}; allowed: {', '.join(allowed)}")
        _check(bool(path.strip()), f"{key}.{name}", "a path relative to data.files_dir", path)


@dataclass(frozen=True)
class DataParams:
    source: str = "sim"  # a registered source (invest.data.sources.registry checks the name and what it can serve)
    seed: int = 42
    n_tickers: int = 100
    start: str = "2006-01-01"
    as_of: str = "2024-12-31"
    universe: list[str] | str | dict[str, int | float | str] = field(default_factory=list)
    files_dir: str = "data/external"
    files_layout: Literal["tables", "per_ticker"] = "tables"
    files_market: dict[str, str] = field(default_factory=dict)
    files_macro: dict[str, str] = field(default_factory=dict)
    report_lag_days: int = 45
    batch_size: int = 25
    max_retries: int = 4
    timeout_s: float = 30.0
    fred_macro: bool = False
    fundamentals: Literal["auto", "sec", "yahoo", "none"] = "auto"
    sectors: Literal["auto", "sec", "yahoo"] = "auto"
    sec_user_agent: str = ""

    def validate(self) -> None:
        _seed("data.seed", self.seed)
        _check(1 <= self.n_tickers <= 100_000, "data.n_tickers", "1 to 100000", self.n_tickers)
        start, as_of = _date("data.start", self.start), _date("data.as_of", self.as_of)
        _check(start < as_of, "data.as_of", f"a date after data.start ({self.start})", self.as_of)
        today = dt.date.today()  # a cutoff in the future would silently be "whatever the source has now"
        _check(as_of <= today, "data.as_of", f"a date up to today ({today.isoformat()})", self.as_of)
        _check(0 <= self.report_lag_days <= 365, "data.report_lag_days", "0 to 365", self.report_lag_days)
        _check(1 <= self.batch_size <= 500, "data.batch_size", "1 to 500", self.batch_size)
        _check(0 <= self.max_retries <= 20, "data.max_retries", "0 to 20", self.max_retries)
        _check(self.timeout_s > 0, "data.timeout_s", "a positive number of seconds", self.timeout_s)
        if isinstance(self.universe, dict):
            _liquidity_rule(self.universe)
        _series_files("data.files_market", self.files_market, FILES_MARKET_SERIES)
        _series_files("data.files_macro", self.files_macro, FILES_MACRO_SERIES)
        _check(
            not self.sec_user_agent.strip() or "@" in self.sec_user_agent,
            "data.sec_user_agent",
            "your name and contact e-mail, e.g. 'Jane Doe jane@example.com' (empty: $SEC_USER_AGENT)",
            self.sec_user_agent,
        )


LIQUIDITY_KEYS = ("top_dollar_volume", "lookback_days", "min_price", "candidates")


def _liquidity_rule(rule: dict) -> None:
    """``data.universe: {top_dollar_volume: N, lookback_days: 252, min_price: 1.0, candidates: file}``."""
    for key in rule:
        if key not in LIQUIDITY_KEYS:
            raise ConfigError(
                f"params: data.universe has an unknown key {key!r}{did_you_mean(key, LIQUIDITY_KEYS)}; a liquidity rule "
                f"takes {', '.join(LIQUIDITY_KEYS)}"
            )
    top = rule.get("top_dollar_volume")
    _check(isinstance(top, int) and top >= 1, "data.universe.top_dollar_volume", "a number of stocks, 1 or more", top)
    lookback = rule.get("lookback_days", 252)
    _check(
        isinstance(lookback, int) and 21 <= lookback <= 2520, "data.universe.lookback_days", "21 to 2520 trading days", lookback
    )
    price = rule.get("min_price", 1.0)
    _check(isinstance(price, (int, float)) and price >= 0, "data.universe.min_price", "0 or more", price)
    candidates = rule.get("candidates", "")
    _check(
        isinstance(candidates, str),
        "data.universe.candidates",
        "a file of tickers (one a line, or a CSV with a ticker column)",
        candidates,
    )


# The columns validate.max_missing_share may name: table -> its value columns (data/schema.py's, which
# this base module cannot import; tests/test_validate.py keeps the two equal).
MISSING_SHARE_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": ("open", "high", "low", "close", "adj_close", "volume"),
    "market": ("index_close", "vol_index", "short_rate", "long_rate"),
}


@dataclass(frozen=True)
class ValidateParams:
    max_missing_share: dict[str, float] = field(default_factory=lambda: {"prices": 0.02, "market": 0.02})
    max_jump: float = 0.75
    max_jump_share: float = 0.0005
    max_gap_days: int = 10
    stale_days: int = 15
    max_stale_share: float = 0.01
    frozen_fundamental_years: float = 3.0
    max_frozen_share: float = 0.2
    fundamentals_collapse_share: float = 0.1
    unit_jump_factor: float = 100.0
    max_unit_jump_share: float = 0.001
    max_fundamentals_age_years: float = 1.5
    min_tickers: int = 5

    def missing_limit(self, table: str, column: str) -> float:
        """The largest share of missing values allowed in ``table.column``: its own entry, else its table's."""
        return self.max_missing_share.get(f"{table}.{column}", self.max_missing_share[table])

    def validate(self) -> None:
        _missing_shares(self.max_missing_share)
        for name in ("max_jump_share", "max_stale_share", "max_frozen_share", "fundamentals_collapse_share"):
            value = getattr(self, name)
            _check(0 <= value <= 1, f"validate.{name}", "a share between 0 and 1", value)
        _check(
            0 <= self.max_unit_jump_share <= 1,
            "validate.max_unit_jump_share",
            "a share between 0 and 1",
            self.max_unit_jump_share,
        )
        _check(self.max_jump > 0, "validate.max_jump", "a positive log return", self.max_jump)
        _check(self.max_gap_days >= 1, "validate.max_gap_days", "1 or more", self.max_gap_days)
        _check(self.stale_days >= 2, "validate.stale_days", "2 or more", self.stale_days)
        _check(self.frozen_fundamental_years > 0, "validate.frozen_fundamental_years", "> 0", self.frozen_fundamental_years)
        _check(self.unit_jump_factor > 1, "validate.unit_jump_factor", "a factor above 1, such as 100", self.unit_jump_factor)
        _check(self.max_fundamentals_age_years > 0, "validate.max_fundamentals_age_years", "> 0", self.max_fundamentals_age_years)
        _check(self.min_tickers >= 1, "validate.min_tickers", "1 or more", self.min_tickers)


def _missing_shares(shares: dict[str, float]) -> None:
    """Entries are a table (prices, market) or one of its columns (prices.volume); every table needs its own."""
    columns = [f"{table}.{column}" for table, names in MISSING_SHARE_COLUMNS.items() for column in names]
    for name, value in shares.items():
        if name not in MISSING_SHARE_COLUMNS and name not in columns:
            raise ConfigError(
                f"params: validate.max_missing_share has an unknown entry {name!r}; allowed: "
                f"{', '.join(MISSING_SHARE_COLUMNS)} or one of their columns ({', '.join(columns)})"
            )
        _check(0 <= value <= 1, f"validate.max_missing_share.{name}", "a share between 0 and 1", value)
    for table in MISSING_SHARE_COLUMNS:
        if table not in shares:
            raise ConfigError(
                f"params: validate.max_missing_share has no entry for {table}; give each table its share, "
                "e.g. {prices: 0.02, market: 0.02}"
            )


@dataclass(frozen=True)
class CacheParams:
    snapshot_freq: Literal["monthly", "quarterly"] = "monthly"
    min_history_days: int = 252
    min_price: float = 1.0

    def validate(self) -> None:
        _check(21 <= self.min_history_days <= 2520, "cache.min_history_days", "21 to 2520", self.min_history_days)
        _check(self.min_price >= 0, "cache.min_price", "0 or more", self.min_price)


@dataclass(frozen=True)
class TrainParams:
    seed: int = 42
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    num_threads: int = 1
    horizon: Literal["1m", "3m", "6m", "1y", "2y", "3y"] = "1y"
    target: Literal["excess", "raw"] = "excess"
    control: Literal["none", "shuffled_labels", "future_features"] = "none"
    train_end: str = "2015-12-31"
    val_end: str = "2018-12-31"
    embargo_months: int | None = None
    seq_len: int = 12
    hidden_size: int = 32
    lstm_layers: int = 1
    transformer_layers: int = 1
    attention_heads: int = 4
    dropout: float = 0.1
    batch_size: int = 256
    learning_rate: float = 0.001
    weight_decay: float = 0.0001
    epochs: int = 30
    patience: int = 2
    huber_delta: float = 1.0
    ic_loss_weight: float = 0.0
    aux_horizons: list[str] = field(default_factory=list)
    aux_weight: float = 0.5
    cross_section_layers: int = 0
    mixed_precision: bool = False
    nproc: int = 1
    n_jobs: int = 2
    mc_samples: int = 30
    interval_levels: list[float] = field(default_factory=lambda: [0.8, 0.95])
    ensemble_size: int = 5
    feature_norm: Literal["robust", "cs_rank", "cs_zscore"] = "robust"
    label_transform: Literal["none", "cs_rank", "cs_zscore"] = "none"
    select_by: Literal["loss", "rank_ic"] = "loss"
    point_map: Literal["none", "median"] = "median"

    @property
    def horizon_months(self) -> int:
        return months(self.horizon)

    @property
    def embargo(self) -> int:
        return self.horizon_months if self.embargo_months is None else self.embargo_months

    def validate(self) -> None:
        _seed("train.seed", self.seed)
        _check(0 <= self.num_threads <= 1024, "train.num_threads", "0 (torch default) to 1024", self.num_threads)
        train_end, val_end = _date("train.train_end", self.train_end), _date("train.val_end", self.val_end)
        _check(train_end < val_end, "train.val_end", f"a date after train.train_end ({self.train_end})", self.val_end)
        _check(
            self.horizon_months <= self.embargo <= 120,
            "train.embargo_months",
            f"at least the label horizon ({self.horizon_months} months for {self.horizon}) and at most 120, or null",
            self.embargo_months,
        )
        _check(1 <= self.seq_len <= 120, "train.seq_len", "1 to 120 monthly steps", self.seq_len)
        _check(1 <= self.hidden_size <= 4096, "train.hidden_size", "1 to 4096", self.hidden_size)
        _check(1 <= self.lstm_layers <= 8, "train.lstm_layers", "1 to 8", self.lstm_layers)
        _check(0 <= self.transformer_layers <= 12, "train.transformer_layers", "0 to 12", self.transformer_layers)
        _check(
            self.attention_heads >= 1 and self.hidden_size % self.attention_heads == 0,
            "train.attention_heads",
            f"a divisor of train.hidden_size ({self.hidden_size})",
            self.attention_heads,
        )
        _check(0 <= self.dropout < 1, "train.dropout", "0 <= dropout < 1", self.dropout)
        _check(self.batch_size >= 1, "train.batch_size", "a positive integer", self.batch_size)
        _check(self.learning_rate > 0, "train.learning_rate", "a positive number such as 0.001", self.learning_rate)
        _check(self.weight_decay >= 0, "train.weight_decay", "0 or more", self.weight_decay)
        _check(self.epochs >= 1, "train.epochs", "a positive integer", self.epochs)
        _check(self.patience >= 1, "train.patience", "a positive integer", self.patience)
        _check(self.huber_delta > 0, "train.huber_delta", "a positive number", self.huber_delta)
        _check(0 <= self.ic_loss_weight <= 100, "train.ic_loss_weight", "0 (Huber alone) to 100", self.ic_loss_weight)
        shorter = [name for name in ("1m", "3m", "6m", "1y", "2y", "3y") if months(name) < self.horizon_months]
        _check(
            isinstance(self.aux_horizons, list)
            and all(name in shorter for name in self.aux_horizons)
            and len(set(self.aux_horizons)) == len(self.aux_horizons),
            "train.aux_horizons",
            f"a list of distinct horizons shorter than train.horizon ({', '.join(shorter) or 'none for ' + self.horizon}): "
            "a longer label would reach past the embargo into later blocks",
            self.aux_horizons,
        )
        _check(0 <= self.aux_weight <= 100, "train.aux_weight", "0 to 100", self.aux_weight)
        _check(0 <= self.cross_section_layers <= 4, "train.cross_section_layers", "0 (off) to 4", self.cross_section_layers)
        _check(
            self.cross_section_layers == 0 or self.nproc == 1,
            "train.cross_section_layers",
            "0 with train.nproc > 1 (data-parallel training does not split batches of whole dates yet)",
            self.cross_section_layers,
        )
        _check(1 <= self.nproc <= 64, "train.nproc", "1 to 64 data-parallel processes", self.nproc)
        _check(1 <= self.n_jobs <= 1024, "train.n_jobs", "1 to 1024 processes", self.n_jobs)
        _check(2 <= self.mc_samples <= 1000, "train.mc_samples", "2 to 1000 Monte Carlo dropout passes", self.mc_samples)
        _check(1 <= self.ensemble_size <= 100, "train.ensemble_size", "1 to 100 networks", self.ensemble_size)
        levels = self.interval_levels
        _check(
            len(levels) > 0 and all(0 < level < 1 for level in levels) and levels == sorted(set(levels)),
            "train.interval_levels",
            "increasing levels between 0 and 1, e.g. [0.8, 0.95]",
            levels,
        )


@dataclass(frozen=True)
class EvaluateParams:
    seed: int = 7
    mode: Literal["walk_forward", "single"] = "walk_forward"
    test_years: list[int] = field(default_factory=lambda: [2019, 2020, 2021, 2022, 2023])
    val_months: int = 24
    bootstrap_samples: int = 1000
    block_months: int = 12
    n_buckets: int = 10
    n_jobs: int = 2
    warm_start: bool = False
    warm_start_shrink: float = 0.5
    backend: Literal["local", "ray"] = "local"
    ray_address: str = "auto"
    top_k: int | None = None
    top_quantile: float = 0.1
    long_short_quantile: float = 0.1
    cost_bps: float = 10.0
    rebalance_months: int = 1

    def validate(self) -> None:
        _seed("evaluate.seed", self.seed)
        _check(len(self.test_years) > 0, "evaluate.test_years", "a non-empty list of years", self.test_years)
        _check(
            all(1900 < year < 2200 for year in self.test_years) and self.test_years == sorted(set(self.test_years)),
            "evaluate.test_years",
            "increasing calendar years without repeats",
            self.test_years,
        )
        _check(6 <= self.val_months <= 120, "evaluate.val_months", "6 to 120", self.val_months)
        _check(self.bootstrap_samples >= 10, "evaluate.bootstrap_samples", "10 or more", self.bootstrap_samples)
        _check(self.block_months >= 1, "evaluate.block_months", "1 or more", self.block_months)
        _check(2 <= self.n_buckets <= 100, "evaluate.n_buckets", "2 to 100", self.n_buckets)
        _check(1 <= self.n_jobs <= 1024, "evaluate.n_jobs", "1 to 1024 parallel jobs", self.n_jobs)
        _check(
            0 < self.warm_start_shrink <= 1,
            "evaluate.warm_start_shrink",
            "more than 0 and at most 1 (the share of the previous year's weights kept)",
            self.warm_start_shrink,
        )
        _check(bool(self.ray_address.strip()), "evaluate.ray_address", "auto, or host:port of a Ray cluster", self.ray_address)
        _check(
            self.top_k is None or self.top_k >= 1, "evaluate.top_k", "an integer >= 1, or null to use top_quantile", self.top_k
        )
        _check(0 < self.top_quantile <= 1, "evaluate.top_quantile", "more than 0 and at most 1", self.top_quantile)
        _check(
            0 < self.long_short_quantile <= 0.5,
            "evaluate.long_short_quantile",
            "more than 0 and at most 0.5",
            self.long_short_quantile,
        )
        _check(0 <= self.cost_bps <= 1000, "evaluate.cost_bps", "0 to 1000 (basis points)", self.cost_bps)
        _check(self.rebalance_months in (1, 3, 6, 12), "evaluate.rebalance_months", "one of 1, 3, 6, 12", self.rebalance_months)


@dataclass(frozen=True)
class Params:
    data: DataParams
    validate: ValidateParams
    cache: CacheParams
    train: TrainParams
    evaluate: EvaluateParams


_SECTION_TYPES = {
    "data": DataParams,
    "validate": ValidateParams,
    "cache": CacheParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML silently keeps the last; DVC refuses)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise ConfigError(
                    f"params: key {key!r} appears twice (again at line {key_node.start_mark.line + 1}); keep one of them"
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; run from the repository root or pass --params") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as a UTF-8 YAML file") from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(f"cannot read {path} ({exc.strerror or type(exc).__name__}); pass a readable params.yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}; fix the syntax") from None
    return from_dict(raw if raw is not None else {})


def from_dict(raw: Any) -> Params:
    if not isinstance(raw, dict):
        raise ConfigError("params: the file must be a mapping of sections (data, validate, cache, train, evaluate)")
    unknown = sorted(set(raw) - set(_SECTION_TYPES), key=str)
    if unknown:
        raise ConfigError(
            f"params: unknown section {unknown[0]!r}{did_you_mean(unknown[0], _SECTION_TYPES)}; allowed: {', '.join(_SECTION_TYPES)}"
        )
    sections = {name: _section(name, cls, raw.get(name) or {}) for name, cls in _SECTION_TYPES.items()}
    return Params(**sections)


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"params: section {name!r} must be a mapping of key: value")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            shown = key if isinstance(key, str) and key.isidentifier() else repr(key)  # a key with a newline stays one line
            raise ConfigError(
                f"params: unknown key {name}.{shown}{did_you_mean(key, fields)}; allowed keys: {', '.join(sorted(fields))}"
            )
    values = {key: _typed(f"{name}.{key}", hints[key], value) for key, value in raw.items()}
    section = cls(**values)
    section.validate()
    return section


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """' (did you mean 'learning_rate'?)' for a near miss, else ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _typed(key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"params: {key} = {value!r} is not allowed{did_you_mean(value, map(str, choices))}; "
                f"choose one of {', '.join(map(str, choices))}"
            )
        return value
    if origin in (types.UnionType, typing.Union):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _typed(key, option, value)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"params: {key} = {value!r} has the wrong type; expected {_describe(hint)}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"params: {key} must be null")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"params: {key} = {value!r} has the wrong type; expected a list")
        return [_typed(f"{key}[{i}]", item, v) for i, v in enumerate(value)]
    if origin is dict:
        key_type, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"params: {key} = {value!r} has the wrong type; expected a mapping of name: value")
        return {_typed(f"{key} (a name)", key_type, k): _typed(f"{key}.{k}", item, v) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, str) and YAML12_FLOAT.fullmatch(value.strip()):
            # `dvc exp run -S train.learning_rate=0.00001` writes 1e-05, which YAML 1.1 (PyYAML) reads as text
            value = float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"params: {key} = {value!r} is not a finite number; write a real number")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, dt.date):  # YAML reads an unquoted 2020-01-01 as a date
            return value.isoformat()
    raise ConfigError(f"params: {key} = {value!r} has the wrong type; expected {_describe(hint)}")


YAML12_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-05: a number in YAML 1.2, text in YAML 1.1


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return "a list"
    if typing.get_origin(hint) is dict:
        return "a mapping of name: value"
    return {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null"}.get(hint, str(hint))


def to_dict(params: Params) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(params)


class UndeclaredSection:
    """Stands in for a section a stage does not declare: reading it is a bug (DVC would not rerun the
    stage when that section changes), so it fails at once, naming the fix."""

    def __init__(self, section: str, stage: str, declared: tuple[str, ...]) -> None:
        self._where = (section, stage, declared)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        section, stage, declared = self._where
        raise RuntimeError(
            f"{stage} reads params.{section}.{name} but declares only {', '.join(declared)} (SECTIONS); "
            f"add {section!r} to its SECTIONS and to its params in dvc.yaml (python scripts/stage_deps.py)"
        )


def scoped(params: Params, sections: Iterable[str], stage: str = "this stage") -> Params:
    """``params`` with every section but ``sections`` replaced by an ``UndeclaredSection``."""
    keep = tuple(sections)
    hidden = {name: UndeclaredSection(name, stage, keep) for name in _SECTION_TYPES if name not in keep}
    return dataclasses.replace(params, **hidden)
