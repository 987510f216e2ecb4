"""The training loss's terms beside Huber: the rank-correlation term (``train.ic_loss_weight``) and the
auxiliary heads of multi-horizon learning (``train.aux_horizons``, at the end).

Evaluation scores a prediction by its per-date rank IC; Huber loss alone rewards getting each
return's level right, which 1-year returns mostly do not allow. The term added here is, for each
member, one minus the mean over the batch's dates of the Pearson correlation between the
prediction and the label's rank among that date's training rows: differentiable in the
prediction, and zero when a date's predictions are an increasing line in the label's rank. Only
rows of the same date are compared, so no other date enters a date's term; dates with fewer than
``MIN_ROWS_PER_DATE`` rows in the batch are left out (their correlation is too noisy to steer by).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from invest.modelling.cross_section import label_scores
from invest.modelling.ranking import MIN_ROWS_PER_DATE


@dataclass(frozen=True)
class DateRanks:
    """Every row's date code and its label's per-date rank among the training rows (0 elsewhere)."""

    codes: np.ndarray  # [N] int64: the row's date, 0..n_dates-1
    ranks: np.ndarray  # [N] float32: the label's rank in [-0.5, 0.5] among the date's training rows
    n_dates: int

    @classmethod
    def of(cls, dates: np.ndarray, target: np.ndarray, train: np.ndarray) -> DateRanks:
        uniques, codes = np.unique(dates, return_inverse=True)
        ranks = np.zeros(len(dates), dtype=np.float32)
        rows = np.flatnonzero(train)
        ranks[rows] = np.nan_to_num(label_scores(target[rows], dates[rows], "cs_rank"))
        return cls(codes.reshape(-1).astype(np.int64), ranks, len(uniques))


def rank_loss(prediction: torch.Tensor, ranks: torch.Tensor, codes: torch.Tensor, n_dates: int) -> torch.Tensor:
    """Each member's 1 - (mean over its batch's dates, weighted by rows, of corr(prediction, rank)): [M].

    ``prediction``, ``ranks`` and ``codes`` are [M, B] (each member's own batch); a member with no date
    of ``MIN_ROWS_PER_DATE`` rows in its batch gets 0 (no term, no gradient)."""
    members = prediction.shape[0]
    index = (codes + torch.arange(members, device=codes.device).unsqueeze(1) * n_dates).reshape(-1)
    cells = members * n_dates

    def per_date(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(cells, dtype=values.dtype, device=values.device).index_add(0, index, values.reshape(-1))

    def centred(values: torch.Tensor) -> torch.Tensor:
        return values - (per_date(values) / count.clamp(min=1))[index].view_as(values)

    count = per_date(torch.ones_like(prediction))
    x, y = centred(prediction), centred(ranks)
    xy, xx, yy = per_date(x * y), per_date(x * x), per_date(y * y)
    usable = (count >= MIN_ROWS_PER_DATE) & (yy > 1e-12)
    # the floor on the prediction's variance (1e-8 a row) bounds the gradient when a date's predictions barely differ
    spread = (xx + 1e-8 * count).sqrt() * yy.clamp(min=1e-12).sqrt()
    correlation = torch.where(usable, xy / spread, torch.zeros_like(xy)).view(members, n_dates)
    weight = (count * usable).view(members, n_dates)
    rows = weight.sum(1)
    mean = (correlation * weight).sum(1) / rows.clamp(min=1)
    return torch.where(rows > 0, 1 - mean, torch.zeros_like(mean))


class AuxiliaryHeads:
    """One linear head per auxiliary horizon and member, on the head's last hidden layer: they train with
    the network (their loss shapes what it learns) and are dropped with the optimizer, so a checkpoint and
    every prediction are the label's head alone. Each member's heads are drawn from its own seed, as
    ``nn.Linear`` draws its weights (uniform within 1/sqrt(H))."""

    def __init__(self, seeds: list[int], hidden: int, outputs: int, device: torch.device, zero: bool = False) -> None:
        bound = 0.0 if zero else 1.0 / math.sqrt(hidden)
        weights, biases = [], []
        for seed in seeds:
            generator = torch.Generator()
            generator.manual_seed(auxiliary_seed(seed))
            weights.append((torch.rand(outputs, hidden, generator=generator) * 2 - 1) * bound)
            biases.append((torch.rand(outputs, generator=generator) * 2 - 1) * bound)
        self.weight = torch.nn.Parameter(torch.stack(weights).to(device))  # [M, K, H]
        self.bias = torch.nn.Parameter(torch.stack(biases).to(device))  # [M, K]

    @property
    def weights(self) -> list[torch.Tensor]:
        return [self.weight, self.bias]

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """[M, B, H] -> [M, B, K] (products and sums, as the label's head: no kernel that depends on M)."""
        return (hidden.unsqueeze(2) * self.weight.unsqueeze(1)).sum(-1) + self.bias.unsqueeze(1)

    def loss(self, hidden: torch.Tensor, tensors: dict, index: torch.Tensor, delta: float) -> torch.Tensor:
        """Each member's Huber loss over the known auxiliary labels of its batch: [M]."""
        known = tensors["aux_known"][index]  # [M, B, K]
        error = F.huber_loss(self(hidden), tensors["aux"][index], delta=delta, reduction="none") * known
        return error.sum((1, 2)) / known.sum((1, 2)).clamp(min=1)

    def keep(self, keep: list[int]) -> None:
        self.weight = torch.nn.Parameter(self.weight.detach()[keep].clone())
        self.bias = torch.nn.Parameter(self.bias.detach()[keep].clone())


def auxiliary_seed(seed: int) -> int:
    """The auxiliary heads' seed: derived from the member's seed, apart from its weights' and dropout's streams."""
    return int(np.random.SeedSequence([seed, 0xA0C]).generate_state(1, dtype=np.uint64)[0] >> 1)
