"""LSTM baseline (Hochreiter & Schmidhuber 1997), the DNC paper's "LSTM" column (Graves et al.
2016, ED Table 1): a stack of LSTM layers and a linear read-out, with no external memory."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.layers import outside_autocast
from tasks.spec import TaskSpec


class LSTMState(NamedTuple):
    h: Tensor  # (layers, B, hidden)
    c: Tensor  # (layers, B, hidden)


class LSTMBaseline(RecurrentMemoryNetwork):
    """Multi-layer LSTM. ``scan`` runs the fused ``nn.LSTM`` kernel over the whole sequence; the
    reference :meth:`step` runs the same weights one step at a time (a test proves them equal)."""

    def __init__(
        self,
        spec: TaskSpec,
        *,
        hidden_size: int = 128,
        num_layers: int = 1,
        fused: bool = True,
        input_encoding: str = "auto",
        embed_dim: int | None = None,
        role_input: bool = False,
    ) -> None:
        super().__init__(
            spec, input_encoding=input_encoding, embed_dim=embed_dim, role_input=role_input
        )
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.fused = fused
        self.lstm = nn.LSTM(self.input_size, hidden_size, num_layers, batch_first=True)
        self.readout = nn.Linear(hidden_size, self.output_size)

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> LSTMState:
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype)
        return LSTMState(zeros, zeros.clone())

    def step(self, x_t: Tensor, role_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """x_t (B, E) -> y_t (B, O); the nn.LSTM equations layer by layer."""
        inp = x_t
        hs, cs = [], []
        for layer in range(self.num_layers):
            w_ih = getattr(self.lstm, f"weight_ih_l{layer}")
            w_hh = getattr(self.lstm, f"weight_hh_l{layer}")
            bias = getattr(self.lstm, f"bias_ih_l{layer}") + getattr(self.lstm, f"bias_hh_l{layer}")
            gates = inp @ w_ih.T + state.h[layer] @ w_hh.T + bias  # (B, 4*hidden)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * state.c[layer] + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
            inp = h
        return self.readout(inp), LSTMState(torch.stack(hs), torch.stack(cs))

    def trace_fields(self, state: LSTMState) -> dict[str, Tensor]:
        return {"cell": state.c[-1]}

    def scan(self, x: Tensor, role: Tensor, *, trace: bool = False) -> tuple[Tensor, dict]:
        if trace or not self.fused:
            return super().scan(x, role, trace=trace)
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with outside_autocast(x):  # oneDNN's fused CPU LSTM has no 16-bit form here
                h, _ = self.lstm(x.float())  # (B, T, hidden)
        else:
            h, _ = self.lstm(x)  # (B, T, hidden)
        return self.readout(h), {}
