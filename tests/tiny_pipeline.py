"""A tiny but complete pipeline for the model-management tests (model card, predict, compare, registry).

12 simulated tickers, 2010-2016, 6-month horizon: enough training rows for every baseline,
a labelled test block (2015-07..2016-06) and unlabelled latest snapshots (2016-07..2016-12).
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.conftest import SERIAL, TINY_NETWORK, run_evaluate, run_train, write_raw

from invest import cache
from invest import params as params_module
from invest.data.market import simulate

TINY_PARAMS = {
    "data": {"n_tickers": 12, "start": "2010-01-01", "as_of": "2016-12-31", "seed": 5},
    "train": {
        "horizon": "6m",
        "train_end": "2013-06-30",
        "val_end": "2014-12-31",
        "epochs": 2,
        "patience": 2,
        **TINY_NETWORK,
        "mc_samples": 8,
        **SERIAL,
    },
    "evaluate": {
        "mode": "single",
        "test_years": [2015],
        "val_months": 12,
        "bootstrap_samples": 50,
        "block_months": 3,
        **SERIAL,
    },
}


def tiny_params(**train_overrides) -> dict:
    raw = copy.deepcopy(TINY_PARAMS)
    raw["train"].update(train_overrides)
    return raw


def build_store(base: Path) -> Path:
    """Simulate the market and build the SQLite store under ``base``; returns the db path."""
    write_raw(base / "raw", simulate(12, "2010-01-01", "2016-12-31", seed=5))
    db = base / "stock_data.db"
    cache.main(params_module.from_dict(TINY_PARAMS), raw_dir=base / "raw", db_path=db)
    return db


def train_and_evaluate(base: Path, db: Path, raw_params: dict | None = None, name: str = "models") -> Path:
    """Run train and evaluate through their main() into ``base/name``; returns the checkpoint path."""
    params = params_module.from_dict(raw_params or TINY_PARAMS)
    out = base / name
    model = out / "model.pt"
    run_train(params, db, model, out / "train.json", out / "live")
    run_evaluate(params, db, model, out / "metrics", out / "evaluation")
    return model
