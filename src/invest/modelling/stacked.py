"""Several networks as one: ``StackedNetwork`` holds M ``LSTMTransformerNetwork``s of one shape with every
parameter stacked on a leading member axis, so one pass of batched kernels trains or runs them all.

Member ``m`` computes exactly what ``LSTMTransformerNetwork`` computes with its own weights (the LSTM
through the same fused kernel, one call per member; everything else as batched matrix products over
the member axis), and its dropout masks come from its own generator (``DropoutStreams``), so a member
trained in a stack draws the same masks, sees the same batches and ends with the same weights as the
member trained alone (``tests/test_engine.py``). Tensors: ``past`` [M, B, T, F] (or [B, T, F], shared
by every member), ``static`` [M, B, S] (or [B, S]), with ``cross_section_layers`` each row's date
``codes`` [M, B] (or [B]); output [M, B].
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from invest.modelling.model import LSTMTransformerNetwork, ModelConfig, PositionalEncoding
from invest.modelling.set_layer import attend

Masks = dict[str, torch.Tensor]  # dropout site -> [M, *shape] (0 or 1 / keep probability)


class StackedNetwork(nn.Module):
    """M networks of one ``ModelConfig``; parameter ``name`` of member m is ``self.weight(name)[m]``."""

    def __init__(self, config: ModelConfig, states: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.config = config
        self.names = list(states[0])
        self.stacked = nn.ParameterList([nn.Parameter(torch.stack([s[n].detach() for s in states]).clone()) for n in self.names])
        self.index = {name: i for i, name in enumerate(self.names)}
        self.position = PositionalEncoding(config.hidden_size, config.max_seq_len)

    @classmethod
    def from_networks(cls, networks: list[nn.Module]) -> StackedNetwork:
        return cls(networks[0].config, [network.state_dict() for network in networks])

    @classmethod
    def initialised(cls, config: ModelConfig, seeds: list[int]) -> StackedNetwork:
        """Members initialised as ``LSTMTransformerNetwork`` is, each after ``torch.manual_seed(seed)``."""
        states = []
        for seed in seeds:
            torch.manual_seed(seed)
            states.append(LSTMTransformerNetwork.from_config(config).state_dict())
        return cls(config, states)

    @property
    def members(self) -> int:
        return int(self.stacked[0].shape[0])

    def weight(self, name: str) -> torch.Tensor:
        return self.stacked[self.index[name]]

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights as an ``LSTMTransformerNetwork`` state dict (copies, on the CPU)."""
        return {name: self.stacked[i][member].detach().cpu().clone() for i, name in enumerate(self.names)}

    def member_network(self, member: int) -> LSTMTransformerNetwork:
        network = LSTMTransformerNetwork.from_config(self.config)
        network.load_state_dict(self.member_state(member))
        return network.eval()

    # ------------------------------------------------------------------ forward

    def forward(
        self, past: torch.Tensor, static: torch.Tensor, masks: Masks | None = None, codes: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.output(self.penultimate(past, static, masks, codes))

    def penultimate(
        self, past: torch.Tensor, static: torch.Tensor, masks: Masks | None = None, codes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The head's last hidden layer, after its dropout: [M, B, H] (what auxiliary heads read). ``codes``:
        each row's date code, [B] or [M, B] (needed with ``cross_section_layers``)."""
        return self.hidden(self.cross(self.summarise(self.encode(past, masks), masks), codes), static, masks)

    def encode(self, past: torch.Tensor, masks: Masks | None = None) -> torch.Tensor:
        """The LSTM over each member's sequences: [M, B, T, H] (fused kernel, one call per member and layer)."""
        members, config = self.members, self.config
        x = past if past.dim() == 4 else past.unsqueeze(0).expand(members, *past.shape)  # [M, B, T, F]
        for layer in range(config.lstm_layers):
            weights = [
                self.weight(f"lstm.{kind}_l{layer}").unbind(0) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            zeros = x.new_zeros(1, x.shape[1], config.hidden_size)
            outs = [
                torch.lstm(x[m], (zeros, zeros), [w[m] for w in weights], True, 1, 0.0, self.training, False, True)[0]
                for m in range(members)
            ]
            x = torch.stack(outs)  # [M, B, T, H]
            if masks is not None and layer < config.lstm_layers - 1:
                x = x * masks[f"lstm{layer}"]
        return x

    def summarise(self, sequence: torch.Tensor, masks: Masks | None = None) -> torch.Tensor:
        """The attended sequence's last step and its mean over the steps: [M, B, 2H]."""
        steps = sequence.shape[2]
        x = sequence + self.position.table[:steps]  # [M, B, T, H]
        for layer in range(self.config.transformer_layers):
            x = self._encoder_layer(x, layer, masks)
        return torch.cat([x[:, :, -1], x.mean(dim=2)], dim=-1)  # [M, B, 2H]

    def cross(self, summary: torch.Tensor, codes: torch.Tensor | None) -> torch.Tensor:
        """The cross-section layers (``set_layer``) on ``summarise``'s [M, B, 2H]; the identity without them."""
        layers = self.config.cross_section_layers
        if layers and codes is None:
            raise ValueError("a network with cross_section_layers needs each row's date code (codes)")
        for layer in range(layers):
            names = [f"cross.{layer}.{part}" for part in ("norm.weight", "norm.bias", "in_proj.weight", "in_proj.bias")]
            names += [f"cross.{layer}.out_proj.weight", f"cross.{layer}.out_proj.bias"]
            summary = attend(summary, codes, *(self.weight(name) for name in names), heads=self.config.attention_heads)
        return summary

    def head(self, summary: torch.Tensor, static: torch.Tensor, masks: Masks | None = None) -> torch.Tensor:
        """The static branch and the regression head on ``summarise``'s output: [M, B]."""
        return self.output(self.hidden(summary, static, masks))

    def hidden(self, summary: torch.Tensor, static: torch.Tensor, masks: Masks | None = None) -> torch.Tensor:
        """The static branch and the head up to its output unit: [M, B, H]."""
        members = summary.shape[0]
        s = static if static.dim() == 3 else static.unsqueeze(0).expand(members, *static.shape)  # [M, B, S]
        s = _drop(F.gelu(self._linear("static.0", s)), masks, "static")
        context = F.gelu(self._linear("static.3", s))  # [M, B, H]
        z = self._norm("head.0", torch.cat([summary, context], dim=-1))  # [M, B, 3H]
        return _drop(F.gelu(self._linear("head.2", _drop(z, masks, "head0"))), masks, "head1")

    def output(self, z: torch.Tensor) -> torch.Tensor:
        """The output unit on ``hidden``'s [M, B, H]: [M, B]."""
        # one output unit: a product and a sum, not a matrix product whose kernel (gemv or gemm) would
        # depend on the number of members and so change the last bits of a member's result
        weight, bias = self.weight("head.5.weight"), self.weight("head.5.bias")  # [M, 1, H], [M, 1]
        return (z * weight).sum(-1) + bias  # [M, B]

    def _encoder_layer(self, x: torch.Tensor, layer: int, masks: Masks | None) -> torch.Tensor:
        """``nn.TransformerEncoderLayer(norm_first=True, activation=relu)`` with the members' own weights."""
        members, batch, steps, hidden = x.shape
        heads = self.config.attention_heads
        name = f"transformer.layers.{layer}"
        h = self._norm(f"{name}.norm1", x).reshape(members, batch * steps, hidden)
        qkv = self._affine(h, f"{name}.self_attn.in_proj_weight", f"{name}.self_attn.in_proj_bias")  # [M, B*T, 3H]
        site = f"attn{layer}"
        if masks is None or site not in masks:  # no dropout on the attention weights: the fused kernel
            q, k, v = qkv.view(members * batch, steps, 3, heads, hidden // heads).unbind(2)  # [M*B, T, h, d]
            mixed = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # [M*B, h, T, d]
            mixed = mixed.transpose(1, 2).reshape(members, batch * steps, hidden)
        else:  # dropout on the attention weights, from the members' own streams
            q, k, v = qkv.view(members, batch, steps, 3, heads, hidden // heads).permute(3, 0, 1, 4, 2, 5)  # [M, B, h, T, d]
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hidden // heads))  # [M, B, h, T, T]
            mixed = torch.matmul(_drop(torch.softmax(scores, dim=-1), masks, site), v)
            mixed = mixed.permute(0, 1, 3, 2, 4).reshape(members, batch * steps, hidden)
        out = self._affine(mixed, f"{name}.self_attn.out_proj.weight", f"{name}.self_attn.out_proj.bias")
        x = x + _drop(out.view(members, batch, steps, hidden), masks, f"drop1_{layer}")
        h = self._norm(f"{name}.norm2", x).reshape(members, batch * steps, hidden)
        inner = _drop(F.relu(self._linear(f"{name}.linear1", h)), masks, f"ff{layer}")
        out = self._linear(f"{name}.linear2", inner).view(members, batch, steps, hidden)
        return x + _drop(out, masks, f"drop2_{layer}")

    def _linear(self, prefix: str, x: torch.Tensor) -> torch.Tensor:
        return self._affine(x, f"{prefix}.weight", f"{prefix}.bias")

    def _affine(self, x: torch.Tensor, weight: str, bias: str) -> torch.Tensor:
        """x [M, N, in] @ W[m]^T + b[m] for every member: [M, N, out]."""
        return torch.baddbmm(self.weight(bias).unsqueeze(1), x, self.weight(weight).transpose(1, 2))

    def _norm(self, prefix: str, x: torch.Tensor) -> torch.Tensor:
        """LayerNorm over the last axis with each member's affine weights."""
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        normed = F.layer_norm(x, (x.shape[-1],))
        return normed * self.weight(f"{prefix}.weight").view(shape) + self.weight(f"{prefix}.bias").view(shape)


def _drop(x: torch.Tensor, masks: Masks | None, site: str) -> torch.Tensor:
    return x if masks is None or site not in masks else x * masks[site].view(x.shape)


# ---------------------------------------------------------------------- dropout masks


def mask_shapes(config: ModelConfig, batch: int, steps: int) -> dict[str, tuple[int, ...]]:
    """Every dropout site of the network and the shape of one member's mask for ``batch`` rows."""
    hidden, heads = config.hidden_size, config.attention_heads
    shapes: dict[str, tuple[int, ...]] = {f"lstm{layer}": (batch, steps, hidden) for layer in range(config.lstm_layers - 1)}
    for layer in range(config.transformer_layers):
        shapes[f"attn{layer}"] = (batch, heads, steps, steps)
        shapes[f"drop1_{layer}"] = (batch, steps, hidden)
        shapes[f"ff{layer}"] = (batch, steps, 2 * hidden)
        shapes[f"drop2_{layer}"] = (batch, steps, hidden)
    shapes |= {site: (batch, width * hidden) for site, width in HEAD_SITES.items()}
    return shapes


HEAD_SITES = {"static": 1, "head0": 3, "head1": 1}  # the dropout of the static branch and the head (width in H)


class DropoutStreams:
    """One random stream per member: member m's masks depend only on its seed and on how many rows it has
    been asked for, never on which other members share its stack.

    A mask keeps a unit with probability 1 - p (p rounded to 1/65536) and scales it by 1 / (1 - p), as
    ``nn.Dropout`` does; 16 random bits per unit, drawn 64 at a time.
    """

    LEVELS = 65536

    def __init__(self, seeds: list[int], dropout: float, device: torch.device) -> None:
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
            self.generators.append(generator)
        dropped = round(dropout * self.LEVELS)
        self.threshold = dropped - self.LEVELS // 2  # int16 values below it are dropped
        self.scale = self.LEVELS / (self.LEVELS - dropped) if dropped < self.LEVELS else 0.0
        self.active = dropped > 0
        self.device = device

    def keep(self, members: list[int]) -> None:
        """Forget the streams of members that left the stack (the order of ``members`` is the stack's)."""
        self.generators = [self.generators[m] for m in members]

    def draw(
        self,
        config: ModelConfig,
        batch: int,
        steps: int,
        sites: tuple[str, ...] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Masks | None:
        """Masks for ``batch`` rows of every member, [M, *shape] per site (every site, or ``sites``; None without dropout)."""
        if not self.active:
            return None
        shapes = {site: shape for site, shape in mask_shapes(config, batch, steps).items() if sites is None or site in sites}
        sizes = [math.prod(shape) for shape in shapes.values()]
        total = sum(sizes)
        words = (total + 3) // 4
        keep = torch.empty(len(self.generators), total, dtype=torch.bool, device=self.device)  # [M, total]
        for row, generator in enumerate(self.generators):
            bits = torch.randint(-(2**63), 2**63 - 1, (words,), dtype=torch.int64, device=self.device, generator=generator)
            torch.ge(bits.view(torch.int16)[:total], self.threshold, out=keep[row])
        values = keep.view(torch.uint8).to(dtype).mul_(self.scale)  # through uint8: a bool-to-float cast is far slower
        out, start = {}, 0
        for (site, shape), size in zip(shapes.items(), sizes, strict=True):
            out[site] = values[:, start : start + size].view(len(self.generators), *shape)
            start += size
        return out
