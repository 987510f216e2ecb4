"""The network: ``nn.Module``s and their config only (no I/O, scaling or logging)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from invest.modelling.set_layer import CrossSectionLayer

if TYPE_CHECKING:
    from invest.params import TrainParams


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape; its defaults are ``train.*`` in params.yaml (``from_params``)."""

    temporal_features: int
    static_features: int
    hidden_size: int
    lstm_layers: int
    transformer_layers: int
    attention_heads: int
    dropout: float
    max_seq_len: int = 120
    cross_section_layers: int = 0

    @classmethod
    def from_params(cls, params: TrainParams, temporal_features: int, static_features: int) -> ModelConfig:
        return cls(
            temporal_features=temporal_features,
            static_features=static_features,
            hidden_size=params.hidden_size,
            lstm_layers=params.lstm_layers,
            transformer_layers=params.transformer_layers,
            attention_heads=params.attention_heads,
            dropout=params.dropout,
            max_seq_len=max(params.seq_len, 12),
            cross_section_layers=params.cross_section_layers,
        )

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


class PositionalEncoding(nn.Module):
    """Fixed sinusoidal encoding added to each time step, so attention knows the order."""

    def __init__(self, size: int, max_len: int) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)  # [L, 1]
        frequency = torch.exp(torch.arange(0, size, 2) * (-math.log(10000.0) / size))
        table = torch.zeros(max_len, size)  # [L, H]
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: size // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]]  # [B, T, H]


class LSTMTransformerNetwork(nn.Module):
    """LSTM over the monthly sequence, a Transformer across its steps, a static branch, a regression head.

    ``forward(past, static, codes)``: ``past`` holds what was observed up to the snapshot,
    ``[B, T, temporal_features]``; ``static`` the point-in-time fundamentals, macro and
    sector, ``[B, static_features]``; ``codes`` each row's date (needed only with
    ``cross_section_layers``: the summaries of a date's stocks then attend to each other,
    ``set_layer``). Returns ``[B]`` predictions (scaled target units).
    """

    def __init__(
        self,
        temporal_features: int,
        static_features: int,
        hidden_size: int,
        lstm_layers: int,
        transformer_layers: int,
        attention_heads: int,
        dropout: float,
        max_seq_len: int = 120,
        cross_section_layers: int = 0,
    ) -> None:
        super().__init__()
        self.config = ModelConfig(
            temporal_features,
            static_features,
            hidden_size,
            lstm_layers,
            transformer_layers,
            attention_heads,
            dropout,
            max_seq_len,
            cross_section_layers,
        )
        self.lstm = nn.LSTM(
            temporal_features,
            hidden_size,
            num_layers=lstm_layers,
            batch_first=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.position = PositionalEncoding(hidden_size, max_seq_len)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            attention_heads,
            dim_feedforward=2 * hidden_size,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.transformer = (
            nn.TransformerEncoder(layer, transformer_layers, enable_nested_tensor=False)
            if transformer_layers > 0
            else nn.Identity()
        )
        self.static = nn.Sequential(
            nn.Linear(static_features, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
        )
        self.head = nn.Sequential(
            nn.LayerNorm(3 * hidden_size),
            nn.Dropout(dropout),
            nn.Linear(3 * hidden_size, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, 1),
        )
        # built last: without it the other layers draw the same initial weights as before it existed
        self.cross = nn.ModuleList(CrossSectionLayer(2 * hidden_size, attention_heads) for _ in range(cross_section_layers))

    @classmethod
    def from_config(cls, config: ModelConfig | dict) -> LSTMTransformerNetwork:
        values = config.to_dict() if isinstance(config, ModelConfig) else dict(config)
        return cls(**values)

    def forward(self, past: torch.Tensor, static: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        sequence, _ = self.lstm(past)  # [B, T, H]
        attended = self.transformer(self.position(sequence))  # [B, T, H]
        summary = torch.cat([attended[:, -1], attended.mean(dim=1)], dim=1)  # [B, 2H]: last step, mean of steps
        if len(self.cross):
            if codes is None:
                raise ValueError("a network with cross_section_layers needs each row's date code (codes)")
            for layer in self.cross:
                summary = layer(summary, codes)
        context = self.static(static)  # [B, H]
        return self.head(torch.cat([summary, context], dim=1)).squeeze(-1)  # [B]
