"""An ensemble is the model: ``train.ensemble_size`` networks trained on the same rows with seeds
``seed, seed + 1, ...``; their mean prediction is the model's (``inference.predict``).

One seed's network is noise plus signal; the noise part differs from seed to seed, so the mean of
several cancels much of it, and the spread between them measures it. Members train together in one
stack (``engine.fit_stack``), each exactly as it would alone, so any split of the members into jobs
(the walk-forward hands them to a pool of processes or a Ray cluster, ``modelling.jobs``) gives
identical results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from invest.modelling.checkpoint import LoadedModel, assemble, target_spec
from invest.modelling.cross_section import map_by_median, map_to_returns
from invest.modelling.dataset import Arrays
from invest.modelling.engine import fit_stack
from invest.modelling.inference import member_outputs, predict
from invest.modelling.model import LSTMTransformerNetwork, ModelConfig
from invest.modelling.stacked import StackedNetwork
from invest.modelling.training import Prepared, configure_runtime
from invest.params import TrainParams


def fit_members(
    prepared: Prepared,
    params: TrainParams,
    device: torch.device | None = None,
    log=None,
    members: list[int] | None = None,
    verbose: bool = True,
    start: list | None = None,
) -> tuple[list, list[dict[str, Any]]]:
    """Members ``members`` (default: all ``train.ensemble_size``) trained together in one stack (``engine.fit_stack``);
    ``log`` receives the first one's curves. The unit of work a job runs: threads are set up in its own process."""
    configure_runtime(params.num_threads)
    chosen = list(range(params.ensemble_size)) if members is None else list(members)
    return fit_stack(prepared, params, chosen, device or torch.device("cpu"), log, verbose, start)


def member_chunks(size: int, parts: int, threads: int = 1) -> list[list[int]]:
    """The members split into ``parts`` chunks of consecutive members (at most ``size``). A member ends the same
    in any chunk with one thread a job (``train.num_threads: 1``); with more, a kernel's split of the work
    depends on the stack's size, so the ensemble then stays whole."""
    if threads != 1:
        return [list(range(size))]
    parts = max(1, min(size, parts))
    per = -(-size // parts)
    return [list(range(start, min(start + per, size))) for start in range(0, size, per)]


def fit_chunk(inputs: Arrays, prepared: Prepared, params: TrainParams, members: list[int]) -> tuple[list, list]:
    """A job: ``members`` trained in one stack on ``prepared`` (without its inputs: ``inputs``, shared by every job)."""
    return fit_members(prepared.attached(inputs), params, None, None, members, False)


@dataclass
class Trained:
    """What a job sends back: its members' weights and training summaries, and their predictions on the fold's
    validation and test rows (``rows``, dropout off, scaled units) with their Monte Carlo variances."""

    members: list[int]
    states: list[dict[str, torch.Tensor]]
    summaries: list[dict[str, Any]]
    rows: np.ndarray
    points: np.ndarray  # [n, m]
    variances: np.ndarray | None  # [n, m]
    seconds: float = 0.0  # the job's wall time (training and scoring)

    def networks(self, config: dict) -> list[LSTMTransformerNetwork]:
        out = []
        for state in self.states:
            network = LSTMTransformerNetwork.from_config(config)
            network.load_state_dict(state)
            out.append(network.eval())
        return out

    @staticmethod
    def join(parts: list[Trained]) -> Trained:
        """One fold's members from several jobs, in member order."""
        parts = sorted(parts, key=lambda part: part.members[0])
        variances = None if parts[0].variances is None else np.concatenate([p.variances for p in parts], axis=1)
        return Trained(
            [m for p in parts for m in p.members],
            [s for p in parts for s in p.states],
            [s for p in parts for s in p.summaries],
            parts[0].rows,
            np.concatenate([p.points for p in parts], axis=1),
            variances,
            sum(p.seconds for p in parts),
        )


def train_and_score(
    prepared: Prepared, params: TrainParams, members: list[int], rows: np.ndarray, start: list | None = None
) -> Trained:
    """The unit of work of a walk-forward job: train ``members`` on the fold, then score them on ``rows``."""
    started = time.perf_counter()
    networks, summaries = fit_members(prepared, params, None, None, members, False, start)
    points, variances = member_outputs(
        networks, prepared.past, prepared.static, max(params.mc_samples, 2), params.seed, members, prepared.arrays.dates, rows
    )
    states = [{key: value.detach().cpu() for key, value in network.state_dict().items()} for network in networks]
    return Trained(list(members), states, summaries, rows, points, variances, time.perf_counter() - started)


def train_through_years(
    folds: list[Prepared], params: TrainParams, members: list[int], rows: list[np.ndarray], shrink: float = 1.0
) -> list[Trained]:
    """Warm start (``evaluate.warm_start``): each test year's members start from the previous year's weights,
    shrunk toward a fresh initialisation (``shrink_and_perturb``)."""
    out: list[Trained] = []
    for prepared, scored in zip(folds, rows, strict=True):
        start = None
        if out:  # from the second year on: the last year's weights, shrunk
            config = ModelConfig.from_params(params, prepared.past.shape[-1], prepared.static.shape[-1])
            start = shrink_and_perturb(out[-1].states, config, [params.seed + m for m in members], shrink)
        out.append(train_and_score(prepared, params, members, scored, start))
    return out


def shrink_and_perturb(states: list[dict], config: ModelConfig, seeds: list[int], keep: float) -> list[dict]:
    """``keep`` x each member's weights + (1 - keep) x a fresh initialisation of its own. Ash & Adams (2020) report
    that a network warm-started as it is generalises worse than one trained from scratch and that shrinking it
    and adding noise closes the gap; what it did here is in docs/benchmarks.md. ``keep`` 1: the weights as they are."""
    if keep >= 1:
        return states
    fresh = StackedNetwork.initialised(config, [perturbation_seed(seed) for seed in seeds])
    return [
        {name: keep * value + (1 - keep) * draw[name] if value.is_floating_point() else value for name, value in state.items()}
        for state, draw in zip(states, (fresh.member_state(m) for m in range(len(seeds))), strict=True)
    ]


def perturbation_seed(seed: int) -> int:
    """The seed of a member's fresh draw for ``shrink_and_perturb``: derived from its seed, apart from its first initialisation."""
    return int(np.random.SeedSequence([seed, 0x5A1]).generate_state(1, dtype=np.uint32)[0])


def checkpoint_core(
    networks: list,
    prepared: Prepared,
    temporal: list[str],
    static: list[str],
    schema_version: int,
    params: TrainParams,
    val_scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """The checkpoint's core for trained members, with the label map fitted on the validation block
    when they learned a cross-sectional label (``train``, and each walk-forward fold); ``val_scores``:
    the members' mean score on the validation rows when already known."""
    networks = [network.cpu() for network in networks]
    core = assemble(networks, prepared.scaler, prepared.split, temporal, static, schema_version, target_spec(params))
    if params.label_transform != "none" or params.point_map == "median":
        validation = prepared.arrays.subset(prepared.masks["val"])
        if val_scores is None:
            loaded = LoadedModel.from_checkpoint(core, networks)
            val_scores = predict(loaded, prepared.arrays, rows=prepared.masks["val"])["prediction"]
        fit = map_by_median if params.point_map == "median" else map_to_returns
        core["label_map"] = fit(np.asarray(val_scores, dtype=float), validation.target)
    return core


def summarise(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The training summary: the first member's, plus each member's chosen epoch and validation rank IC."""
    first = {key: value for key, value in summaries[0].items() if key != "history"}
    return {
        **first,
        "ensemble_size": len(summaries),
        "members_best_epoch": [s["best_epoch"] for s in summaries],
        "members_best_val_rank_ic": [s["best_val_rank_ic"] for s in summaries],
    }
