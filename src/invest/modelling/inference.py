"""Run a loaded ensemble on arrays: point predictions, member predictions and their uncertainty.

Every member runs in one ``StackedNetwork`` pass with dropout off; the ensemble's prediction is their
mean. With ``mc_samples`` > 0 every member also draws that many Monte Carlo dropout samples of its
static branch and regression head (the dropout nearest the output: the sequence encoder, which holds
most of the computation, runs once and its output is reused by every sample), and the scale of each
prediction combines both sources of doubt: ``σ² = var(member predictions) + mean(member MC variance)``,
the spread between members (which seed made the network) plus the spread within each one (which
dropout mask). A network trained on a cross-sectional label predicts scores; the checkpoint's
``label_map`` turns them (and σ) into returns.
"""

from __future__ import annotations

import numpy as np
import torch

from invest.modelling.checkpoint import LoadedModel
from invest.modelling.dataset import Arrays
from invest.modelling.set_layer import context_rows, date_chunks, date_codes
from invest.modelling.stacked import HEAD_SITES, DropoutStreams, StackedNetwork

ROWS_PER_PASS = 4096  # rows per deterministic pass; fixed, so Monte Carlo masks never depend on the machine
SAMPLE_ROWS = 32768  # rows x samples per Monte Carlo pass of the head


def member_outputs(
    networks: list[torch.nn.Module],
    past: np.ndarray,
    static: np.ndarray,
    mc_samples: int = 0,
    seed: int = 0,
    members: list[int] | None = None,
    dates: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each member's prediction on the scaled inputs, dropout off, [N, M] (scaled label units), and with
    ``mc_samples`` >= 2 each member's Monte Carlo variance [N, M]; member ``m`` (``members``, default
    0, 1, ...) samples with seed ``seed + m`` whatever else runs beside it. ``dates`` (each row's
    snapshot date) are needed by networks with cross-section layers: rows then pass in whole dates, every
    row of a date the context of the others. ``rows``: the rows wanted (default all), [len(rows), M]."""
    net = StackedNetwork.from_networks(networks).eval()
    seeds = [seed + m for m in (members if members is not None else range(len(networks)))]
    streams = DropoutStreams(seeds, net.config.dropout, torch.device("cpu")) if mc_samples >= 2 else None
    rows = np.arange(len(past)) if rows is None else np.asarray(rows)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    codes, wanted = None, None
    if net.config.cross_section_layers:
        if dates is None:
            raise ValueError("networks with cross_section_layers need each row's date (dates)")
        codes = date_codes(dates)
        rows, wanted = context_rows(codes, rows)
        chunks = [rows[positions] for positions in date_chunks(codes[rows], ROWS_PER_PASS)]
    else:
        chunks = [rows[begin : begin + ROWS_PER_PASS] for begin in range(0, len(rows), ROWS_PER_PASS)]
    slot = np.empty(len(past), dtype=np.int64)
    slot[rows] = np.arange(len(rows))
    point = np.zeros((len(rows), len(networks)), dtype=np.float32)
    variance = np.zeros((len(rows), len(networks))) if streams is not None else None
    with torch.no_grad():
        for chunk in chunks:
            chunk_past = torch.from_numpy(np.ascontiguousarray(past[chunk]))  # [B, T, F]
            chunk_static = torch.from_numpy(np.ascontiguousarray(static[chunk]))  # [B, S]
            chunk_codes = None if codes is None else torch.from_numpy(codes[chunk])
            summary = net.cross(net.summarise(net.encode(chunk_past)), chunk_codes)  # [M, B, 2H]
            point[slot[chunk]] = net.head(summary, chunk_static).T.numpy()  # [B, M]
            if streams is not None:
                variance[slot[chunk]] = _mc_variance(net, streams, summary, chunk_static, mc_samples)
    if wanted is not None:
        point, variance = point[wanted], None if variance is None else variance[wanted]
    return point, variance


def _mc_variance(net: StackedNetwork, streams: DropoutStreams, summary, static, samples: int) -> np.ndarray:
    """[B, M] variance over ``samples`` dropout draws of each member's head (ddof 1)."""
    rows = summary.shape[1]
    per_pass = max(1, SAMPLE_ROWS // max(rows, 1))
    draws = []
    for done in range(0, samples, per_pass):
        count = min(per_pass, samples - done)
        repeated = summary.repeat(1, count, 1)  # [M, count*B, 2H]
        masks = streams.draw(net.config, count * rows, 1, sites=tuple(HEAD_SITES))
        out = net.head(repeated, static.repeat(count, 1), masks)  # [M, count*B]
        draws.append(out.view(out.shape[0], count, rows))
    stacked = torch.cat(draws, dim=1).double()  # [M, samples, B]
    return stacked.var(dim=1, unbiased=True).T.numpy()


def combine(points: np.ndarray, variances: np.ndarray | None, loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Members' outputs (scaled) -> ``prediction`` (their mean), ``members`` [N, M] and, with variances,
    ``mc_std`` (the combined scale), all in returns."""
    scaler = loaded.scaler
    # float64: a map with a small slope (a network with little validated skill) must not round rankings into ties
    members = np.stack([scaler.unscale_target(points[:, m].astype(np.float64)) for m in range(points.shape[1])], axis=1)
    slope, intercept = _label_map(loaded)
    out = {"prediction": intercept + slope * members.mean(axis=1), "members": intercept + slope * members}
    if variances is not None:
        scale = float(scaler.target_scale)
        between = members.var(axis=1) if members.shape[1] > 1 else np.zeros(len(members))  # [N]
        out["mc_std"] = slope * np.sqrt(between + (variances * scale**2).mean(axis=1))
    return out


def predict(
    loaded: LoadedModel, arrays: Arrays, mc_samples: int = 0, seed: int = 0, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``prediction`` (the members' mean, dropout off) and ``members`` [N, M] in target units; with
    ``mc_samples`` > 0 also ``mc_std``, the combined scale above. ``rows`` (indices or a mask): predict
    only those rows of ``arrays``; the other rows of their dates are the cross-section layers' context."""
    wanted = None
    if rows is not None:
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        if loaded.networks[0].config.cross_section_layers:
            rows, wanted = context_rows(date_codes(arrays.dates), rows)
        arrays = arrays.subset(rows)
    past, static = loaded.scaler.transform(arrays)
    samples = mc_samples if mc_samples >= 2 else 0
    points, variances = member_outputs(loaded.networks, past, static, samples, seed, dates=arrays.dates, rows=wanted)
    if mc_samples == 1:  # one sample has no spread: the members' alone
        variances = np.zeros_like(points)
    return combine(points, variances, loaded)


def _label_map(loaded: LoadedModel) -> tuple[float, float]:
    mapping = loaded.label_map
    return (1.0, 0.0) if not mapping else (float(mapping["slope"]), float(mapping["intercept"]))
