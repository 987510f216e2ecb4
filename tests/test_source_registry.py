"""The data-source registry: one place declares the sources, and everything else asks it."""

from __future__ import annotations

import ast
import dataclasses
import itertools
from pathlib import Path

import pytest
from tests.conftest import REPO

from invest.data import sources
from invest.data.sources import registry
from invest.errors import ConfigError
from invest.params import DataParams

PACKAGE = REPO / "src" / "invest"
SOURCES = PACKAGE / "data" / "sources"
NAMES = ("sim", "yfinance", "files")
FUNDAMENTALS = ("auto", "sec", "yahoo", "none")
SECTORS = ("auto", "sec", "yahoo")


def test_every_registered_source_has_a_module_with_fetch():
    assert registry.names() == list(NAMES)
    for spec in registry.sources():
        assert registry.get(spec.name) is spec
        assert callable(spec.module().fetch), spec.name
        assert spec.words and registry.title_words(spec.name) == spec.words
    assert registry.title_words("mine") == "mine"  # an unknown name stands for itself in a title
    assert [spec.name for spec in registry.sources() if spec.real_tickers] == ["yfinance", "files"]


def test_a_source_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.get("sim"))
    assert registry.names() == list(NAMES)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("yfinace", " (did you mean 'yfinance'?)"),
        ("file", " (did you mean 'files'?)"),
        ("Sim", " (did you mean 'sim'?)"),
        ("bloomberg", ""),
    ],
)
def test_an_unknown_source_is_refused_in_one_line_with_a_near_miss_named(name, suggestion):
    expected = f"params: data.source = {name!r} is not allowed{suggestion}; choose one of sim, yfinance, files"
    calls = (
        lambda: registry.get(name),
        lambda: registry.check(DataParams(source=name)),
        lambda: registry.fundamentals_from(DataParams(source=name)),
        lambda: sources.fetch(DataParams(source=name), {}),  # the fetch stage: before anything is fetched
    )
    for call in calls:
        with pytest.raises(ConfigError) as info:
            call()
        assert str(info.value) == expected


def _fundamentals_before(p: DataParams) -> str:
    """DataParams.fundamentals_from as it was before the registry (the reference)."""
    if p.fundamentals != "auto":
        return p.fundamentals
    return "sec" if p.source == "yfinance" else p.source


def _sectors_before(p: DataParams) -> str:
    if p.sectors != "auto":
        return p.sectors
    if p.source == "yfinance":
        return "sec" if _fundamentals_before(p) == "sec" else "yahoo"
    return p.source


def test_where_fundamentals_and_sectors_come_from_is_what_it_was():
    for source, fundamentals, sectors in itertools.product(NAMES, FUNDAMENTALS, SECTORS):
        p = DataParams(source=source, fundamentals=fundamentals, sectors=sectors)
        assert registry.fundamentals_from(p) == _fundamentals_before(p), (source, fundamentals, sectors)
        assert registry.sectors_from(p) == _sectors_before(p), (source, fundamentals, sectors)
    assert registry.fundamentals_from(DataParams(source="yfinance")) == "sec"
    assert registry.sectors_from(DataParams(source="yfinance", fundamentals="none")) == "yahoo"
    assert registry.sectors_from(DataParams(source="files", fundamentals="sec")) == "files"


def _refusal_before(p: DataParams) -> str | None:
    """The source rules DataParams.validate had before the registry, in their order."""
    if p.fundamentals == "yahoo" and p.source != "yfinance":
        return "params: data.fundamentals = 'yahoo' needs data.source: yfinance (Yahoo's statements come with its prices); choose auto, sec or none"
    if p.fundamentals == "sec" and p.source == "sim":
        return "params: data.fundamentals = 'sec' needs real tickers (data.source: yfinance or files); the simulated market has its own (auto) or none"
    if p.sectors == "yahoo" and p.source != "yfinance":
        return "params: data.sectors = 'yahoo' needs data.source: yfinance; choose auto or sec"
    if p.sectors == "sec" and _fundamentals_before(p) != "sec":
        return (
            f"params: data.sectors = 'sec' needs the SEC's fundamentals (data.fundamentals is {_fundamentals_before(p)}): "
            "set data.fundamentals: sec, or data.sectors: auto"
        )
    if p.source == "files" and p.files_layout == "tables" and (p.files_market or p.files_macro):
        key = "files_market" if p.files_market else "files_macro"
        return (
            f"params: data.{key} is read only with data.files_layout: per_ticker; "
            "set the layout or remove the key (the tables layout reads market and macro tables)"
        )
    return None


def test_check_refuses_what_params_refused_with_the_same_words():
    series = ({}, {"index_close": "spy.csv"})
    for source, fundamentals, sectors, layout, market in itertools.product(
        NAMES, FUNDAMENTALS, SECTORS, ("tables", "per_ticker"), series
    ):
        p = DataParams(source=source, fundamentals=fundamentals, sectors=sectors, files_layout=layout, files_market=market)
        expected = _refusal_before(p)
        if expected is None:
            registry.check(p)
            continue
        with pytest.raises(ConfigError) as info:
            registry.check(p)
        assert str(info.value) == expected, (source, fundamentals, sectors, layout, market)
    macro = DataParams(source="files", files_macro={"inflation": "cpi.csv"})
    with pytest.raises(ConfigError, match=r"^params: data.files_macro is read only with data.files_layout: per_ticker"):
        registry.check(macro)
    registry.check(dataclasses.replace(macro, source="sim"))  # ignored by a source that reads no series files


# ------------------------------------------------------------------ one place spells the names

# The only literals naming a source outside the registry: each source's own modules, and the default
# of DataParams.source (params, a base module, cannot ask the registry).
OWN_MODULES = {
    "sim": [SOURCES / "sim.py"],
    "yfinance": [SOURCES / "yahoo"],
    "files": [SOURCES / "files.py", SOURCES / "files_csv.py", SOURCES / "files_series.py", SOURCES / "files_yahoo.py"],
}


def _name_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    default = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "source"
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in NAMES and not (path.name == "params.py" and id(node) in default)
    ]


def _owns(path: Path, name: str) -> bool:
    return any(path == own or own in path.parents for own in OWN_MODULES[name])


def test_no_module_but_the_registry_and_its_own_spells_a_source_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == SOURCES / "registry.py":
            continue
        found += [f"{path.relative_to(REPO)}:{line}: {name!r}" for line, name in _name_literals(path) if not _owns(path, name)]
    assert not found, "source names outside invest.data.sources.registry:\n" + "\n".join(found)
    assert _name_literals(PACKAGE / "params.py") == []  # its one literal is the default, as allowed above
