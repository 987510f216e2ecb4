"""The cross-section layer (``train.cross_section_layers``): each stock's summary attends to the other
stocks of the same date, and to nothing of another date.

A pre-norm residual attention block over a set: ``x + out(attention(norm(x)))``, where a row's
attention runs only over the rows that share its date code (a padded [dates, stocks] layout with a
key mask, one member at a time so a member's result never depends on the stack it is in). The
output projection starts at zero, so a new layer is the identity and the network starts as the one
without it. Rows are [M, B, D] with codes [M, B] (each member's own batch) or [B].

A date's context is every stock with a snapshot on it, labelled or not (``context_rows``): whether a
stock still trades when its label ends is not known on the date. Training batches hold whole dates
(``date_batches``), so a stock attends in training to the same set as in prediction.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class CrossSectionLayer(nn.Module):
    """One set-attention block over a date's stocks (one network; ``attend`` is the stacked form)."""

    def __init__(self, size: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(size)
        self.in_proj = nn.Linear(size, 3 * size)
        self.out_proj = nn.Linear(size, size)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        parts = (
            self.norm.weight,
            self.norm.bias,
            self.in_proj.weight,
            self.in_proj.bias,
            self.out_proj.weight,
            self.out_proj.bias,
        )
        return attend(x.unsqueeze(0), codes, *(p.unsqueeze(0) for p in parts), heads=self.heads).squeeze(0)


def attend(
    x: torch.Tensor,
    codes: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    in_weight: torch.Tensor,
    in_bias: torch.Tensor,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor,
    heads: int,
) -> torch.Tensor:
    """``x`` [M, B, D] after one block with each member's weights ([M, ...] each); attention within dates."""
    members = x.shape[0]
    codes = codes if codes.dim() == 2 else codes.unsqueeze(0).expand(members, -1)
    h = F.layer_norm(x, (x.shape[-1],)) * norm_weight.unsqueeze(1) + norm_bias.unsqueeze(1)
    qkv = torch.baddbmm(in_bias.unsqueeze(1), h, in_weight.transpose(1, 2))  # [M, B, 3D]
    mixed = torch.stack([_within_dates(qkv[m], codes[m], heads) for m in range(members)])  # [M, B, D]
    return x + torch.baddbmm(out_bias.unsqueeze(1), mixed, out_weight.transpose(1, 2))


def _within_dates(qkv: torch.Tensor, codes: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head attention of each row over the rows of its own date: [B, 3D] -> [B, D]."""
    rows, size = qkv.shape[0], qkv.shape[1] // 3
    _, group = torch.unique(codes, return_inverse=True)
    counts = torch.bincount(group)
    order = torch.argsort(group, stable=True)
    sorted_group = group[order]
    slot = torch.arange(rows, device=qkv.device) - (torch.cumsum(counts, 0) - counts)[sorted_group]
    longest = int(counts.max())
    padded = qkv.new_zeros(len(counts), longest, 3 * size)  # [G, L, 3D]
    padded = padded.index_put((sorted_group, slot), qkv[order])
    present = torch.zeros(len(counts), longest, dtype=torch.bool, device=qkv.device)
    present[sorted_group, slot] = True
    q, k, v = padded.view(len(counts), longest, 3, heads, size // heads).permute(2, 0, 3, 1, 4)  # [G, h, L, d]
    attended = F.scaled_dot_product_attention(q, k, v, attn_mask=present[:, None, None, :])  # [G, h, L, d]
    attended = attended.transpose(1, 2).reshape(len(counts), longest, size)[sorted_group, slot]  # [B, D] sorted
    return torch.empty_like(attended).index_copy(0, order, attended)


def date_codes(dates: np.ndarray) -> np.ndarray:
    """Each row's date as an int64 code (equal dates, equal codes)."""
    return np.unique(dates, return_inverse=True)[1].reshape(-1).astype(np.int64)


def context_rows(codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row that shares a date with one of ``rows`` (sorted; labelled or not: which stocks survive
    to have a label is the future), and where each of ``rows`` sits among them."""
    pool = np.flatnonzero(np.isin(codes, np.unique(codes[rows])))
    return pool, np.searchsorted(pool, rows)


def date_batches(codes: np.ndarray, seed: int, epoch: int, batch_size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """An epoch's order of the positions of ``codes`` in batches of whole dates: the dates in a random
    order (from ``seed`` and ``epoch``; every member shares it, so the members' batches have one size),
    the rows of a date together, consecutive dates in one batch while they fit in ``batch_size`` rows
    (a larger date alone). Returns the order and each batch's (begin, end) in it."""
    generator = np.random.default_rng([seed, epoch, 0x5E7])
    uniques, group = np.unique(codes, return_inverse=True)
    position = generator.permutation(len(uniques))
    order = np.argsort(position[group], kind="stable")
    sizes = np.bincount(position[group], minlength=len(uniques))  # rows of each date, in the epoch's date order
    bounds, begin, filled = [], 0, 0
    for size in sizes:
        if filled and filled + size > batch_size:
            bounds.append((begin, begin + filled))
            begin, filled = begin + filled, 0
        filled += size
    if filled:
        bounds.append((begin, begin + filled))
    return order, bounds


def learn_labelled_only(tensors: dict, known: np.ndarray, codes: np.ndarray, n_dates: int) -> None:
    """Training tensors in which rows without a label are context alone: weight 0 in the Huber loss
    (``known``), a rank-term cell of their own (``rank_date`` = n_dates, never usable), no auxiliary labels."""
    device = tensors["target"].device
    tensors["known"] = torch.as_tensor(known.astype(np.float32), device=device)
    tensors["rank_date"] = torch.as_tensor(np.where(known, codes, n_dates), device=device)
    if "aux_known" in tensors:
        tensors["aux_known"] = tensors["aux_known"] * tensors["known"].unsqueeze(1)


def date_chunks(codes: np.ndarray, rows_per_chunk: int) -> list[np.ndarray]:
    """Positions of ``codes`` in chunks of whole dates, about ``rows_per_chunk`` rows each (a larger date alone)."""
    order = np.argsort(codes, kind="stable")
    if len(order) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    chunks, begin = [], 0
    for start, end in zip(starts, ends, strict=True):
        if end - begin > rows_per_chunk and start > begin:
            chunks.append(order[begin:start])
            begin = start
    chunks.append(order[begin:])
    return chunks
