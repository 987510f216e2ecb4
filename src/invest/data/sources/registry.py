"""The data sources (``data.source``): each one declared once, at the bottom of this module.

A ``SourceSpec`` says what the rest of the code needs to know about a source without importing
it: the module with its ``fetch(params, existing) -> FetchResult`` (imported only when the source
runs, so a run loads only its own source), a few words for titles, whether its tickers are real
(listed, and so SEC filers), where its fundamentals and sector labels come from by default, and
what else of ``data`` it reads. ``check`` holds every rule that depends on the source: it runs
before anything is fetched, and with the pipeline's parameter check.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from invest.errors import ConfigError

if TYPE_CHECKING:
    from invest.params import DataParams

OWN = "own"  # a spec's fundamentals or sectors: the source's own tables (named after the source)
SEC = "sec"
YAHOO = "yahoo"


@dataclass(frozen=True)
class SourceSpec:
    """One data source. ``load`` imports and returns its module (the one with ``fetch``)."""

    name: str
    load: Callable[[], ModuleType]
    words: str  # for titles: "simulated market", "Yahoo Finance prices", ...
    real_tickers: bool = True  # listed tickers (SEC filers, index members); a simulated market has none
    fundamentals: str = OWN  # with data.fundamentals: auto: OWN or SEC
    sectors: str = OWN  # with data.sectors: auto: OWN or YAHOO ...
    sectors_with_sec: bool = False  # ... but the SEC's labels when the fundamentals are the SEC's
    yahoo: bool = False  # offers Yahoo's statements and company labels (data.fundamentals/sectors: yahoo)
    tickers_from_universe: bool = False  # its tickers are data.universe: resolved (and checked) before anything else
    series_files: bool = False  # reads data.files_market and data.files_macro (with data.files_layout: per_ticker)

    def module(self) -> ModuleType:
        return self.load()


_SOURCES: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    """Add a source; its name must be new."""
    if spec.name in _SOURCES:
        raise ValueError(f"data source {spec.name!r} is registered twice")
    _SOURCES[spec.name] = spec
    return spec


def sources() -> tuple[SourceSpec, ...]:
    """Every registered source, in the order registered."""
    return tuple(_SOURCES.values())


def names(trait: str | None = None) -> list[str]:
    """The registered names in order; with ``trait``, those whose spec has it true (e.g. ``"real_tickers"``)."""
    return [spec.name for spec in _SOURCES.values() if trait is None or getattr(spec, trait)]


def get(name: str) -> SourceSpec:
    """The source called ``name``; ConfigError (one line, the allowed names, a near miss named) otherwise."""
    spec = _SOURCES.get(name)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(str(name), list(_SOURCES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"params: data.source = {name!r} is not allowed{hint}; choose one of {', '.join(_SOURCES)}")


def title_words(name: str) -> str:
    """A few words for a source in titles ("simulated market"); the name itself for an unknown one."""
    spec = _SOURCES.get(name)
    return spec.words if spec is not None else name


def fundamentals_from(params: DataParams) -> str:
    """Where fundamentals come from: ``sec``, ``yahoo``, ``none``, or the source's own (its name)."""
    if params.fundamentals != "auto":
        return params.fundamentals
    spec = get(params.source)
    return spec.name if spec.fundamentals == OWN else spec.fundamentals


def sectors_from(params: DataParams) -> str:
    """Where company names and sectors come from: ``sec``, ``yahoo``, or the source's own (its name)."""
    if params.sectors != "auto":
        return params.sectors
    spec = get(params.source)
    if spec.sectors_with_sec and fundamentals_from(params) == SEC:
        return SEC
    return spec.name if spec.sectors == OWN else spec.sectors


def check(params: DataParams) -> None:
    """ConfigError for a source that does not exist, or settings of ``data`` this source cannot serve."""
    spec = get(params.source)
    yahoo = " or ".join(names("yahoo"))
    if params.fundamentals == YAHOO and not spec.yahoo:
        raise ConfigError(
            f"params: data.fundamentals = 'yahoo' needs data.source: {yahoo} (Yahoo's statements come with its prices); "
            "choose auto, sec or none"
        )
    if params.fundamentals == SEC and not spec.real_tickers:
        raise ConfigError(
            f"params: data.fundamentals = 'sec' needs real tickers (data.source: {' or '.join(names('real_tickers'))}); "
            f"the {spec.words} has its own (auto) or none"
        )
    if params.sectors == YAHOO and not spec.yahoo:
        raise ConfigError(f"params: data.sectors = 'yahoo' needs data.source: {yahoo}; choose auto or sec")
    if params.sectors == SEC and (fundamentals := fundamentals_from(params)) != SEC:
        raise ConfigError(
            f"params: data.sectors = 'sec' needs the SEC's fundamentals (data.fundamentals is {fundamentals}): "
            "set data.fundamentals: sec, or data.sectors: auto"
        )
    if isinstance(params.universe, dict) and not spec.real_tickers:
        raise ConfigError(
            f"params: data.universe: a liquidity rule chooses among real stocks; the {spec.words} has its own tickers "
            f"(use data.source: {' or '.join(names('real_tickers'))}, or data.universe: [])"
        )
    if spec.series_files and params.files_layout == "tables":
        for key in ("files_market", "files_macro"):
            if getattr(params, key):
                raise ConfigError(
                    f"params: data.{key} is read only with data.files_layout: per_ticker; "
                    "set the layout or remove the key (the tables layout reads market and macro tables)"
                )


# ---------------------------------------------------------------- the sources, each declared once


def _sim() -> ModuleType:
    from invest.data.sources import sim

    return sim


def _yfinance() -> ModuleType:
    from invest.data.sources import yahoo

    return yahoo


def _files() -> ModuleType:
    from invest.data.sources import files

    return files


register(SourceSpec("sim", _sim, "simulated market", real_tickers=False))
register(
    SourceSpec(
        "yfinance",
        _yfinance,
        "Yahoo Finance prices",
        fundamentals=SEC,
        sectors=YAHOO,
        sectors_with_sec=True,
        yahoo=True,
        tickers_from_universe=True,
    )
)
register(SourceSpec("files", _files, "your files", series_files=True))
