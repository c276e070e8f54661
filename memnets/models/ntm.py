"""Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §3).

A controller (LSTM or feed-forward) reads the step input together with the previous step's read
words and emits, through one linear layer, the parameters of its read and write heads. Each
head addresses memory by content (eq. 5-6) and then by location (eq. 7-9); write heads erase
and add (eq. 3-4), read heads read (eq. 2) (:mod:`memnets.models.ntm_access`). The step output is a
linear map of the controller output and the read words of this step.

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

from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.layers import CONTROLLERS, compiled_on_first_use, outside_autocast
from memnets.models.ntm_access import HeadLayer, access
from memnets.ops.memory import read_memory
from memnets.ops.shift import shift_index, shift_offsets
from tasks.spec import TaskSpec

MEMORY_INITS = ("constant", "learned", "random")


class NTMState(NamedTuple):
    controller_h: Tensor  # (B, Hc) controller output before clipping
    controller_c: Tensor  # (B, Hc) LSTM cell | (B, 0) for a feed-forward controller
    memory: Tensor  # (B, N, W) M_t
    read_weights: Tensor  # (B, R, N) w^r_t
    write_weights: Tensor  # (B, Hw, N) w^w_t
    reads: Tensor  # (B, R, W) r_t


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
        fast_path: same maths, less per-step overhead (tests hold values and gradients equal):
            hand-written backwards for content and location addressing, and a sequence loop
            that projects every step's input through the controller's input weights in one
            matmul before the loop and applies the read-out once after it (neither depends on
            the recurrence). False: the plain-autograd step loop, the reference.
        compile_step: ``torch.compile`` the recurrent part of the step (fast path only; the
            first call compiles for minutes on a CPU).
        input_encoding, embed_dim, role_input: see :class:`memnets.models.layers.StepEncoder`.
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
        fast_path: bool = True,
        compile_step: bool = False,
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
        self.fast_path, self.compile_step = fast_path, compile_step
        self._compiled_step = None  # built on first use (a cache of code, not model state)
        offsets = shift_offsets(max_shift)  # (S,)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("shift_index", shift_index(offsets, memory_size), persistent=False)

        controller_in = self.input_size + num_read_heads * word_size
        if controller == "lstm":
            self.controller = nn.LSTMCell(controller_in, controller_size)
        else:
            self.controller = nn.Linear(controller_in, controller_size)
        self.heads = HeadLayer(controller_size, num_write_heads, num_read_heads, word_size, len(offsets))
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

    def _access(self, h: Tensor, c: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """Controller output h (B, Hc) -> clipped output (B, Hc) and the state after this step's
        write (address M_{t-1}, erase and add) and read (address M_t, read)."""
        with outside_autocast(h):  # the memory in the state's precision under mixed precision
            h = h.to(state.memory.dtype)
            out = h if self.clip_value is None else F.hardtanh(h, -self.clip_value, self.clip_value)
            write_weights, memory, read_weights, reads = access(
                state.memory,
                self.heads(out),
                state.write_weights,
                state.read_weights,
                self.offsets,
                index=self.shift_index,
                distance=self.distance,
                fused=self.fast_path,
            )
        return out, NTMState(h, c, memory, read_weights, write_weights, reads)

    def step(self, x_t: Tensor, role_t: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """x_t (B, E) -> y_t (B, O) and the next :class:`NTMState`."""
        out, state = self._access(*self._control(x_t, state), state)
        y = self.readout(torch.cat([out, state.reads.flatten(1)], dim=-1))  # (B, O)
        return y, state

    # --- fast path: the same step with the input projection and read-out out of the loop ------

    def _split_controller(self) -> tuple[Tensor, Tensor | None, Tensor]:
        """The controller's affine map A [x; r; h] + b split by what it reads: (A_x, b) acts on
        the inputs of all steps at once, A_rec = [A_r | A_h] (transposed) on each step's reads
        (and, for the LSTM, previous output). Returns (A_x (G, E), b (G,), A_recᵀ)."""
        E = self.input_size
        if self.controller_kind == "lstm":
            cell = self.controller
            rec = torch.cat([cell.weight_ih[:, E:], cell.weight_hh], dim=1)  # (4Hc, R·W + Hc)
            return cell.weight_ih[:, :E], cell.bias_ih + cell.bias_hh, rec.t()
        return self.controller.weight[:, :E], self.controller.bias, self.controller.weight[:, E:].t()

    def _recur(self, pre_t: Tensor, rec_t: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """One step from the precomputed input part pre_t = A_x x_t + b (B, G) -> clipped
        controller output (B, Hc), next state. Same maths as :meth:`step` less the read-out."""
        reads = state.reads.flatten(1)  # (B, R·W)
        if self.controller_kind == "lstm":
            gates = torch.addmm(pre_t, torch.cat([reads, state.controller_h], dim=-1), rec_t)
            i, f, _, o = torch.sigmoid(gates).chunk(4, dim=-1)  # (B, Hc) each, nn.LSTMCell's order
            g = torch.tanh(gates[:, 2 * self.controller_size : 3 * self.controller_size])  # (B, Hc)
            c = torch.addcmul(f * state.controller_c, i, g)  # f ∘ c + i ∘ g
            h = o * torch.tanh(c)
        else:
            h, c = torch.relu(torch.addmm(pre_t, reads, rec_t)), state.controller_c
        return self._access(h, c, state)

    def scan(self, x: Tensor, role: Tensor, *, trace: bool = False) -> tuple[Tensor, dict]:
        """x (B, T, E) -> y (B, T, O), traces. ``fast_path=False`` or tracing: the step loop."""
        if trace or not self.fast_path:
            return super().scan(x, role, trace=trace)
        state = self.initial_state(x.shape[0], x.device, x.dtype)
        weight_x, bias, rec = self._split_controller()
        pre = F.linear(x, weight_x, bias)  # (B, T, G): every step's input part at once
        recur = compiled_on_first_use(self, self._recur, self.compile_step)
        outs, reads = [], []
        for pre_t in pre.unbind(1):  # one backward node for all steps (pre[:, t] makes T)
            out, state = recur(pre_t, rec, state)
            outs.append(out)
            reads.append(state.reads.flatten(1))
        features = torch.cat([torch.stack(outs, 1), torch.stack(reads, 1)], dim=-1)  # (B, T, Hc+R·W)
        return self.readout(features), {}

    def trace_fields(self, state: NTMState) -> dict[str, Tensor]:
        return {"read_weights": state.read_weights, "write_weights": state.write_weights}
