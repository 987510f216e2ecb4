"""Training library: runtime settings and seeds, and the model inputs of one split.

``prepare`` turns the store's arrays into scaled arrays for one ``Split`` (scaler fitted on the
training rows only); ``fit`` trains one network on them with the engine (``invest.modelling.engine``,
which trains a whole ensemble in one loop). The ``train`` stage and the walk-forward evaluation both
call these.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from invest.data.panel import Panel
from invest.errors import DataError
from invest.modelling.cross_section import label_scores
from invest.modelling.dataset import Arrays, load_arrays
from invest.modelling.engine import fit_stack
from invest.modelling.scaling import Scaler, robust
from invest.modelling.splits import Split, labelled_span
from invest.params import TrainParams


def configure_runtime(num_threads: int) -> None:
    """Fixed thread counts and deterministic kernels: the same weights on every run.

    Caps torch and every OpenMP/BLAS pool (scikit-learn's boosted trees, numpy): on a busy CPU,
    spinning OpenMP workers beyond the free cores slow these small workloads down 30-150x
    (docs/benchmarks.md).
    """
    if num_threads:
        torch.set_num_threads(num_threads)
        threadpool_limits(num_threads)
    _use_deterministic_algorithms()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _use_deterministic_algorithms() -> None:
    # torch's public switch also sets torch._inductor's config, and importing torch._inductor costs every
    # process (each stage and each job worker) about 3 s; nothing here compiles, so the kernel flag is enough.
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # a torch without the private switch
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        set_flag(True, warn_only=True)


def seed(value: int) -> None:
    """Seed torch's and numpy's global generators (weight init, dropout, batch order)."""
    torch.manual_seed(value)
    np.random.seed(value % 2**32)


@dataclass
class Prepared:
    """One split's inputs: the (shared, unscaled) arrays, the split's masks, its scaler and label. The scaled
    ``past`` and ``static`` are made on first use and never pickled, so a job receives the arrays once
    (memory-mapped or from Ray's object store) and scales them itself."""

    split: Split
    scaler: Scaler
    arrays: Arrays
    masks: dict[str, np.ndarray]
    target: np.ndarray  # [N] the label the network learns (``train.label_transform``), scaled; NaN where unknown
    auxiliary: np.ndarray | None = None  # [N, K] the labels at train.aux_horizons, transformed and scaled alike
    _scaled: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def past(self) -> np.ndarray:  # [N, T, F+1]
        return self._inputs()[0]

    @property
    def static(self) -> np.ndarray:  # [N, S]
        return self._inputs()[1]

    def _inputs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._scaled is None:
            self._scaled = self.scaler.transform(self.arrays)
        return self._scaled

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_scaled": None}

    def detached(self) -> Prepared:
        """This split without the shared inputs (a job gets them once, apart: ``attached``)."""
        return dataclasses.replace(self, arrays=self.arrays.without_inputs(), _scaled=None)

    def attached(self, inputs: Arrays) -> Prepared:
        return dataclasses.replace(self, arrays=self.arrays.with_inputs(inputs), _scaled=None)


def prepare(panel: Panel, params: TrainParams, split: Split | None = None, arrays: Arrays | None = None) -> Prepared:
    """Arrays for every snapshot, the split, and a scaler fitted on training rows only."""
    arrays = load_arrays(panel, params) if arrays is None else arrays
    auxiliary = None if arrays.auxiliary is None else arrays.auxiliary.copy()
    arrays = arrays.with_target(arrays.target.copy(), auxiliary)  # the label control edits labels; the inputs stay shared
    split = split or Split.from_dates(params.train_end, params.val_end, params.embargo)
    masks = split.masks(arrays.dates)
    labelled = ~np.isnan(arrays.target)
    masks = {name: mask & labelled for name, mask in masks.items()}
    for name in ("train", "val"):
        if masks[name].sum() < 10:
            span = labelled_span(pd.DatetimeIndex(arrays.dates[labelled]))
            raise DataError(
                f"only {int(masks[name].sum())} labelled {name} rows for horizon {params.horizon} ({span}); "
                "adjust train.train_end / train.val_end to the data's dates"
            )
    if params.control == "shuffled_labels":
        rng = np.random.default_rng(params.seed)
        fit_rows = np.flatnonzero(masks["train"] | masks["val"])
        permuted = rng.permutation(fit_rows)
        arrays.target[fit_rows] = arrays.target[permuted]
        if auxiliary is not None:  # a row's labels move together
            auxiliary[fit_rows] = auxiliary[permuted]
    learned = _learned(arrays.target, arrays.dates, params.label_transform)
    scaler = Scaler.fit(arrays.subset(masks["train"]), learned[masks["train"]])
    return Prepared(
        split, scaler, arrays, masks, scaler.scale_target(learned), _auxiliary(auxiliary, arrays.dates, masks, params)
    )


def _learned(label: np.ndarray, dates: np.ndarray, transform: str) -> np.ndarray:
    return label if transform == "none" else label_scores(label, dates, transform)


def _auxiliary(auxiliary: np.ndarray | None, dates: np.ndarray, masks: dict, params: TrainParams) -> np.ndarray | None:
    """The auxiliary labels as the network learns them: transformed as the label is, each scaled on the training rows."""
    if auxiliary is None:
        return None
    columns = []
    for column in auxiliary.T:
        learned = _learned(column, dates, params.label_transform)
        center, scale = robust(learned[masks["train"]][:, None])
        columns.append(((learned - center[0]) / scale[0]).astype(np.float32))
    return np.column_stack(columns)


def fit(
    prepared: Prepared, params: TrainParams, device: torch.device, log=None, verbose: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """One network (seed ``params.seed``): the engine with a stack of one."""
    networks, summaries = fit_stack(prepared, params, [0], device, log, verbose)
    return networks[0], summaries[0]
