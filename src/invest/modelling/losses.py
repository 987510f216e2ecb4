"""The rank-correlation term of the training loss (``train.ic_loss_weight``).

Evaluation scores a prediction by its per-date rank IC; Huber loss alone rewards getting each
return's level right, which 1-year returns mostly do not allow. The term added here is, for each
member, one minus the mean over the batch's dates of the Pearson correlation between the
prediction and the label's rank among that date's training rows: differentiable in the
prediction, and zero when a date's predictions are an increasing line in the label's rank. Only
rows of the same date are compared, so no other date enters a date's term; dates with fewer than
``MIN_ROWS_PER_DATE`` rows in the batch are left out (their correlation is too noisy to steer by).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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
        codes, uniques = _codes(dates)
        ranks = np.zeros(len(dates), dtype=np.float32)
        rows = np.flatnonzero(train)
        ranks[rows] = np.nan_to_num(label_scores(target[rows], dates[rows], "cs_rank"))
        return cls(codes.astype(np.int64), ranks, len(uniques))


def _codes(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(dates, return_inverse=True)
    return codes.reshape(-1), uniques


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
    correlation = torch.where(usable, xy / (xx * yy).clamp(min=1e-12).sqrt(), torch.zeros_like(xy)).view(members, n_dates)
    weight = (count * usable).view(members, n_dates)
    rows = weight.sum(1)
    mean = (correlation * weight).sum(1) / rows.clamp(min=1)
    return torch.where(rows > 0, 1 - mean, torch.zeros_like(mean))
