"""The predictor registry: the network and every baseline behind one interface, scored on the same rows.

A predictor is a function ``Fold -> Prediction`` registered under a name with :func:`register`.
``evaluate`` fits each registered predictor on a fold's training rows (its validation rows for
choices such as ridge's penalty) and predicts the fold's test rows; ``scoring``, the report, the
model card and the portfolio backtest then iterate over the same names. Adding a baseline is one
decorated function in ``baselines.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invest.evaluation import MODEL, ORACLE

if TYPE_CHECKING:  # the names alone: importing the registry must stay cheap (the model card reads MODEL)
    import torch

    from invest.modelling.checkpoint import LoadedModel
    from invest.modelling.dataset import Arrays
    from invest.modelling.ensemble import Trained
    from invest.modelling.training import Prepared
    from invest.params import TrainParams


@dataclass
class Fold:
    """One split's inputs: everything a predictor may fit on, and which rows it must predict."""

    arrays: Arrays  # unscaled inputs of every snapshot, labels as stored
    prepared: Prepared  # scaled inputs, the scaler and the train/val/test masks (labels as the control leaves them)
    test_rows: np.ndarray  # [N] bool: the rows to predict
    params: TrainParams
    temporal_features: list[str]
    static_features: list[str]
    schema_version: int
    device: torch.device | None = None
    loaded: LoadedModel | None = None  # score this checkpoint instead of training one (evaluate.mode: single)
    trained: Trained | None = None  # the ensemble, already trained and scored by the walk-forward jobs

    @property
    def train(self) -> np.ndarray:
        return self.prepared.masks["train"]

    @property
    def val(self) -> np.ndarray:
        return self.prepared.masks["val"]

    @property
    def target(self) -> np.ndarray:
        """The label of every row (the return; shuffled under the shuffled-label control)."""
        return self.prepared.arrays.target

    @cached_property
    def tabular(self) -> np.ndarray:
        """[N, S + 2F] of the scaled inputs: static features, the last step and the sequence mean."""
        past, static = self.prepared.past, self.prepared.static
        return np.concatenate([static, past[:, -1, :], past.mean(axis=1)], axis=1)

    def last_step(self, feature: str) -> np.ndarray:
        """A temporal feature's value at each row's snapshot month (as the network gets it, before scaling)."""
        return self.arrays.past[:, -1, self.temporal_features.index(feature)]

    @property
    def scored_rows(self) -> np.ndarray:
        """The rows the network is scored on: validation (to calibrate its intervals) and test, in order."""
        return np.flatnonzero(self.val | self.test_rows)

    def detached(self) -> Fold:
        """This fold without the shared model inputs; a job gets them once, apart (``attached``)."""
        return dataclasses.replace(self, arrays=self.arrays.without_inputs(), prepared=self.prepared.detached())

    def attached(self, inputs: Arrays) -> Fold:
        return dataclasses.replace(self, arrays=self.arrays.with_inputs(inputs), prepared=self.prepared.attached(inputs))


@dataclass
class Prediction:
    values: np.ndarray  # [n test rows], target units
    extra: pd.DataFrame | None = None  # per test row: uncertainty columns (the network's intervals, confidence)


Predictor = Callable[[Fold], Prediction]
_REGISTRY: dict[str, Predictor] = {}


def register(name: str) -> Callable[[Predictor], Predictor]:
    """Decorator: add a predictor under ``name`` (a column of predictions.csv and a key prefix of eval.json)."""

    def add(function: Predictor) -> Predictor:
        if name in _REGISTRY or name == ORACLE:
            raise ValueError(f"predictor name {name!r} is taken")
        _REGISTRY[name] = function
        return function

    return add


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> dict[str, Predictor]:
    """Every predictor, the network first, then the baselines in the order they were registered."""
    from invest.evaluation import baselines, network  # noqa: F401 - importing them registers their predictors

    return dict(sorted(_REGISTRY.items(), key=lambda item: item[0] != MODEL))


def baseline_names() -> list[str]:
    """The names the network is compared with (every registered predictor but the network)."""
    return [name for name in registered() if name != MODEL]


def fit_predict(fold: Fold) -> tuple[dict[str, np.ndarray], pd.DataFrame | None]:
    """Every registered predictor's test-row predictions, and the network's extra columns."""
    values, extra = {}, None
    for name, predictor in registered().items():
        prediction = predictor(fold)
        values[name] = np.asarray(prediction.values)
        if name == MODEL:
            extra = prediction.extra
    return values, extra


def run_one(predictor: Predictor, fold: Fold, inputs: Arrays) -> tuple[np.ndarray, float]:
    """One predictor on one fold (without its inputs: ``inputs``, shared by every job), as a job: in its own
    process it first caps its threads. Its test-row predictions and its wall time."""
    import time

    from invest.modelling.training import configure_runtime

    started = time.perf_counter()
    configure_runtime(fold.params.num_threads)
    return np.asarray(predictor(fold.attached(inputs)).values), time.perf_counter() - started
