"""Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §3).

A controller (LSTM or feed-forward) reads the step input together with the previous step's read
words and emits, through one linear layer per head kind, the parameters of its read and write
heads. Each head addresses memory by content (eq. 5-6) and then by location (eq. 7-9); write
heads erase and add (eq. 3-4), read heads read (eq. 2). The step output is a linear map of the
controller output and the read words of this step.

Order within a step: write heads address M_{t-1} and write M_t; read heads then address and read
M_t, so what is written at step t can be read at step t (as in the DNC). The reads of step t
feed the controller at t+1.

Memory initialisation (Collier & Beel 2018, "Implementing Neural Turing Machines", ICANN):
``constant`` (every cell a small value; their fastest-converging scheme, ~2x faster than the
next best), ``learned`` (a trained N x W matrix) or ``random`` (a fresh draw per episode). Head
weightings start focused on slot 0 and the first reads are reads of the initial memory, so
location addressing has a well-defined start even when all memory rows are equal.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memnets.base import RecurrentMemoryNetwork
from memnets.layers import CONTROLLERS
from memnets.ops.content import content_weights
from memnets.ops.memory import erase_and_write, read_memory
from memnets.ops.shift import location_address, shift_offsets
from tasks.spec import TaskSpec

MEMORY_INITS = ("constant", "learned", "random")


class NTMState(NamedTuple):
    controller_h: Tensor  # (B, Hc) controller output before clipping
    controller_c: Tensor  # (B, Hc) LSTM cell | (B, 0) for a feed-forward controller
    memory: Tensor  # (B, N, W) M_t
    read_weights: Tensor  # (B, R, N) w^r_t
    write_weights: Tensor  # (B, Hw, N) w^w_t
    reads: Tensor  # (B, R, W) r_t


class HeadParams(NamedTuple):
    """One head kind's parameters for every head of that kind (NTM §3.3)."""

    key: Tensor  # (B, H, W) k_t, linear (the paper puts no squashing on it)
    strength: Tensor  # (B, H) β_t = oneplus(·) ≥ 1
    gate: Tensor  # (B, H) g_t = sigmoid(·) in (0, 1)
    shift: Tensor  # (B, H, S) s_t = softmax(·) over the allowed shifts
    sharpen: Tensor  # (B, H) γ_t = 1 + softplus(·) ≥ 1
    erase: Tensor | None  # (B, H, W) e_t = sigmoid(·), write heads only
    add: Tensor | None  # (B, H, W) a_t, linear, write heads only


class HeadLayer(nn.Module):
    """Controller output (B, Hc) -> :class:`HeadParams` for ``num_heads`` heads of one kind.

    One linear layer emits all heads' raw parameters; the paper's activations make them valid.
    """

    def __init__(
        self, controller_size: int, num_heads: int, word_size: int, num_shifts: int, write: bool
    ) -> None:
        super().__init__()
        self.num_heads, self.word_size, self.num_shifts, self.write = (
            num_heads,
            word_size,
            num_shifts,
            write,
        )
        self.sizes = [word_size, 1, 1, num_shifts, 1] + ([word_size, word_size] if write else [])
        self.linear = nn.Linear(controller_size, num_heads * sum(self.sizes))

    def forward(self, h: Tensor) -> HeadParams:
        raw = self.linear(h).unflatten(-1, (self.num_heads, sum(self.sizes)))  # (B, H, P)
        parts = raw.split(self.sizes, dim=-1)
        key, beta, gate, shift, gamma = parts[:5]
        erase = torch.sigmoid(parts[5]) if self.write else None
        add = parts[6] if self.write else None
        return HeadParams(
            key=key,
            strength=1.0 + F.softplus(beta.squeeze(-1)),
            gate=torch.sigmoid(gate.squeeze(-1)),
            shift=torch.softmax(shift, dim=-1),
            sharpen=1.0 + F.softplus(gamma.squeeze(-1)),
            erase=erase,
            add=add,
        )


def address(
    memory: Tensor,
    params: HeadParams,
    prev_weights: Tensor,
    offsets: Tensor,
    *,
    distance: str = "cosine",
) -> Tensor:
    """One full NTM addressing step for H heads: content (eq. 5-6) then location (eq. 7-9).

    memory (B, N, W); params with key (B, H, W), β/g/γ (B, H), s (B, H, S);
    prev_weights (B, H, N) w_{t-1}; offsets (S,) -> w_t (B, H, N).
    """
    w_c = content_weights(memory, params.key, params.strength, distance=distance)  # (B, H, N)
    return location_address(w_c, prev_weights, params.gate, params.shift, params.sharpen, offsets)


class NTM(RecurrentMemoryNetwork):
    """Neural Turing Machine with separate read and write heads.

    Args:
        spec: the task's :class:`TaskSpec`.
        memory_size: N slots (paper copy: 128).
        word_size: W per slot (paper copy: 20).
        num_read_heads / num_write_heads: R and Hw (paper copy: 1 each).
        controller: ``lstm`` (one LSTM layer) or ``feedforward`` (one ReLU layer).
        controller_size: Hc (paper copy: 100).
        max_shift: allowed shifts -max_shift..+max_shift (paper: 1).
        memory_init: ``constant`` | ``learned`` | ``random`` (Collier & Beel 2018).
        memory_init_value: cell value for ``constant`` (Collier & Beel: 1e-6).
        memory_init_std: std of the ``random`` draw and of the ``learned`` matrix's init.
        clip_value: controller output clipped to [-clip, clip] before it drives the heads and
            the output (Collier & Beel: 20); null disables it.
        distance: content-addressing similarity (paper: cosine).
        input_encoding, embed_dim, role_input: see :class:`memnets.layers.StepEncoder`.
    """

    SUPPORTED_GRANULARITIES = frozenset({"step", "word", "sentence"})

    def __init__(
        self,
        spec: TaskSpec,
        *,
        memory_size: int = 128,
        word_size: int = 20,
        num_read_heads: int = 1,
        num_write_heads: int = 1,
        controller: str = "lstm",
        controller_size: int = 100,
        max_shift: int = 1,
        memory_init: str = "constant",
        memory_init_value: float = 1e-6,
        memory_init_std: float = 0.5,
        clip_value: float | None = 20.0,
        distance: str = "cosine",
        input_encoding: str = "auto",
        embed_dim: int | None = None,
        role_input: bool = False,
    ) -> None:
        super().__init__(spec, input_encoding=input_encoding, embed_dim=embed_dim, role_input=role_input)
        if controller not in CONTROLLERS:
            raise ValueError(f"model.controller={controller!r}; expected one of {CONTROLLERS}")
        if memory_init not in MEMORY_INITS:
            raise ValueError(f"model.memory_init={memory_init!r}; expected one of {MEMORY_INITS}")
        if num_read_heads < 1 or num_write_heads < 1:
            raise ValueError("model.num_read_heads and model.num_write_heads must be >= 1")
        self.memory_size, self.word_size = memory_size, word_size
        self.num_read_heads, self.num_write_heads = num_read_heads, num_write_heads
        self.controller_kind, self.controller_size = controller, controller_size
        self.memory_init, self.memory_init_value = memory_init, memory_init_value
        self.memory_init_std, self.clip_value, self.distance = memory_init_std, clip_value, distance
        self.register_buffer("offsets", shift_offsets(max_shift), persistent=False)  # (S,)

        controller_in = self.input_size + num_read_heads * word_size
        if controller == "lstm":
            self.controller = nn.LSTMCell(controller_in, controller_size)
        else:
            self.controller = nn.Linear(controller_in, controller_size)
        S = len(self.offsets)
        self.read_heads = HeadLayer(controller_size, num_read_heads, word_size, S, write=False)
        self.write_heads = HeadLayer(controller_size, num_write_heads, word_size, S, write=True)
        self.readout = nn.Linear(controller_size + num_read_heads * word_size, self.output_size)
        if memory_init == "learned":
            self.initial_memory = nn.Parameter(torch.randn(memory_size, word_size) * memory_init_std)

    def _memory0(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        shape = (batch_size, self.memory_size, self.word_size)
        if self.memory_init == "constant":
            return torch.full(shape, self.memory_init_value, device=device, dtype=dtype)
        if self.memory_init == "learned":
            return self.initial_memory.to(dtype).expand(*shape)
        return torch.randn(shape, device=device, dtype=dtype) * self.memory_init_std

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> NTMState:
        memory = self._memory0(batch_size, device, dtype)  # (B, N, W)
        focus = torch.zeros(batch_size, 1, self.memory_size, device=device, dtype=dtype)
        focus[..., 0] = 1.0  # (B, 1, N): every head starts on slot 0
        read_weights = focus.expand(-1, self.num_read_heads, -1)  # (B, R, N)
        write_weights = focus.expand(-1, self.num_write_heads, -1)  # (B, Hw, N)
        c_size = self.controller_size if self.controller_kind == "lstm" else 0
        return NTMState(
            controller_h=torch.zeros(batch_size, self.controller_size, device=device, dtype=dtype),
            controller_c=torch.zeros(batch_size, c_size, device=device, dtype=dtype),
            memory=memory,
            read_weights=read_weights,
            write_weights=write_weights,
            reads=read_memory(memory, read_weights),  # (B, R, W)
        )

    def _control(self, x_t: Tensor, state: NTMState) -> tuple[Tensor, Tensor]:
        """[x_t, r_{t-1}] (B, E + R*W) -> controller output h (B, Hc) and cell c."""
        inp = torch.cat([x_t, state.reads.flatten(1)], dim=-1)
        if self.controller_kind == "lstm":
            return self.controller(inp, (state.controller_h, state.controller_c))
        return torch.relu(self.controller(inp)), state.controller_c

    def step(self, x_t: Tensor, role_t: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """x_t (B, E) -> y_t (B, O) and the next :class:`NTMState`."""
        h, c = self._control(x_t, state)  # (B, Hc)
        out = h if self.clip_value is None else h.clamp(-self.clip_value, self.clip_value)
        write = self.write_heads(out)
        write_weights = address(
            state.memory, write, state.write_weights, self.offsets, distance=self.distance
        )  # (B, Hw, N)
        memory = erase_and_write(state.memory, write_weights, write.erase, write.add)  # (B, N, W)
        read = self.read_heads(out)
        read_weights = address(
            memory, read, state.read_weights, self.offsets, distance=self.distance
        )  # (B, R, N)
        reads = read_memory(memory, read_weights)  # (B, R, W)
        y = self.readout(torch.cat([out, reads.flatten(1)], dim=-1))  # (B, O)
        return y, NTMState(h, c, memory, read_weights, write_weights, reads)

    def trace_fields(self, state: NTMState) -> dict[str, Tensor]:
        return {"read_weights": state.read_weights, "write_weights": state.write_weights}
