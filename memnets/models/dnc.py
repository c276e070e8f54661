"""Differentiable Neural Computer (Graves et al., Nature 2016, Methods).

Each step the controller reads χ_t = [x_t; r^1_{t−1}; …; r^R_{t−1}], emits the output part
ν_t = W_y [h^1_t; …; h^L_t] and the interface ξ_t = W_ξ [h^1_t; …; h^L_t]; the memory access
(:mod:`memnets.models.dnc_access`) writes and reads with ξ_t, and the output is
y_t = ν_t + W_r [r^1_t; …; r^R_t].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.dnc_access import AccessDiagnostics, AccessState, InterfaceLayer, MemoryAccess
from memnets.models.dnc_fused_access import fused_access, interface_sizes
from memnets.models.layers import CONTROLLERS, compiled_on_first_use, outside_autocast
from tasks.spec import TaskSpec


class ControllerState(NamedTuple):
    h: tuple[Tensor, ...]  # L × (B, H); empty for the feed-forward controller
    c: tuple[Tensor, ...]  # L × (B, H)


class DNCState(NamedTuple):
    controller: ControllerState
    access: AccessState
    read_words: Tensor  # (B, R, W)  r_t, fed back in χ_{t+1}
    diagnostics: AccessDiagnostics  # this step's allocation, gates and read modes


class DeepLSTMController(nn.Module):
    """The paper's deep LSTM (Methods, "Controller network"): layer l reads
    [χ_t; h^{l−1}_t; h^l_{t−1}] (the last term through the cell's recurrent weights); the output
    is the concatenation [h^1_t; …; h^L_t] of all layers."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cells = nn.ModuleList(
            nn.LSTMCell(input_size + (hidden_size if layer else 0), hidden_size)
            for layer in range(num_layers)
        )

    @property
    def out_features(self) -> int:
        return self.hidden_size * len(self.cells)

    def initial_state(self, batch_size: int, device, dtype) -> ControllerState:
        zeros = [torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
                 for _ in self.cells]
        return ControllerState(tuple(zeros), tuple(zeros))

    def forward(self, chi: Tensor, state: ControllerState) -> tuple[Tensor, ControllerState]:
        """chi (B, χ) -> output (B, L·H), new state."""
        hs, cs = [], []
        below = None
        for layer, cell in enumerate(self.cells):
            inp = chi if below is None else torch.cat([chi, below], dim=-1)
            h, c = cell(inp, (state.h[layer], state.c[layer]))
            hs.append(h)
            cs.append(c)
            below = h
        out = hs[0] if len(hs) == 1 else torch.cat(hs, dim=-1)
        return out, ControllerState(tuple(hs), tuple(cs))


class FeedforwardController(nn.Module):
    """A stack of tanh layers, layer l reading [χ_t; h^{l−1}_t] (the DNC paper's copy
    experiments, ED Figs 1 and 4, use a feed-forward controller); output [h^1_t; …; h^L_t]."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.layers = nn.ModuleList(
            nn.Linear(input_size + (hidden_size if layer else 0), hidden_size)
            for layer in range(num_layers)
        )

    @property
    def out_features(self) -> int:
        return self.hidden_size * len(self.layers)

    def initial_state(self, batch_size: int, device, dtype) -> ControllerState:
        return ControllerState((), ())

    def forward(self, chi: Tensor, state: ControllerState) -> tuple[Tensor, ControllerState]:
        hs = []
        below = None
        for layer in self.layers:
            inp = chi if below is None else torch.cat([chi, below], dim=-1)
            below = torch.tanh(layer(inp))
            hs.append(below)
        return (hs[0] if len(hs) == 1 else torch.cat(hs, dim=-1)), state


class DNC(RecurrentMemoryNetwork):
    """The DNC core behind the common interface.

    Hyper-parameters: ``memory_size`` N, ``word_size`` W, ``num_reads`` R, ``num_writes`` Hw
    (paper: 1), ``controller`` ("lstm" = deep LSTM, or "feedforward"), ``hidden_size`` and
    ``num_layers`` of the controller, ``distance`` for content lookup, ``allocation`` mode and
    ``allocation_beta`` (softmax mode), ``clip`` (bound on ν_t and the raw ξ_t; DeepMind's code
    clips at 20; None or 0 = off) and the Csordás & Schmidhuber 2019 switches
    ``content_masking`` (with ``mask_min``), ``dealloc_wipe``, ``link_sharpness``.

    ``sparse_link_k`` K (None = the dense link, the reference) is the paper's sparse link
    matrix (Methods, "Sparse link matrix"): an approximation, top-K of w^w_t and p_{t−1} and
    entries below 1/K pruned, stored as K (value, column) pairs per row (O(N K) per step instead
    of O(N²)); with ``fast_path=False`` the same approximation runs on a dense matrix.

    Speed and memory switches, none of which changes the maths (tests hold outputs and
    gradients equal): ``fast_path`` (in the paper's configuration, one write head, cosine,
    sorted allocation, dense link and no extension switches, each step's whole access is one
    autograd node, :mod:`memnets.models.dnc_fused_access`, unless ``one_node_access=False`` (the
    same speed under ``compile_step`` on a CPU, faster on a GPU in one comparison: see
    ``reports/generated/bench.md``); otherwise hand-written backwards for the link update, the
    one-head erase/write, which keep no (B, N, N) / (B, N, W) temporaries, the cosine content
    lookup and the sorted allocation; either way the output y_t is applied once per sequence
    after the step loop; False = the plain-autograd step loop, the reference) and
    ``checkpoint_every`` k (training only: the step loop runs in chunks of k steps under
    activation checkpointing, keeping only the state between chunks and recomputing each chunk
    in backward; about one extra forward pass for memory that grows as T/k link matrices plus
    one chunk's activations instead of T steps' activations) and ``compile_step``
    (``torch.compile`` of the recurrent part of :meth:`step`, fused kernels for forward and
    backward; the first call compiles for about a minute on a CPU, so it pays off on long runs).
    """

    SUPPORTED_GRANULARITIES = frozenset({"step", "word", "sentence"})

    def __init__(
        self,
        spec: TaskSpec,
        *,
        memory_size: int = 16,
        word_size: int = 16,
        num_reads: int = 1,
        num_writes: int = 1,
        controller: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        distance: str = "cosine",
        allocation: str = "sorted",
        allocation_beta: float = 10.0,
        clip: float | None = 20.0,
        content_masking: bool = False,
        mask_min: float = 0.0,
        dealloc_wipe: bool = False,
        link_sharpness: bool = False,
        fast_path: bool = True,
        one_node_access: bool = True,
        sparse_link_k: int | None = None,
        checkpoint_every: int | None = None,
        compile_step: bool = False,
        input_encoding: str = "auto",
        embed_dim: int | None = None,
        role_input: bool = False,
    ) -> None:
        super().__init__(
            spec, input_encoding=input_encoding, embed_dim=embed_dim, role_input=role_input
        )
        if controller not in CONTROLLERS:
            raise ValueError(f"controller={controller!r}; expected one of {CONTROLLERS}")
        if min(memory_size, word_size, num_reads, num_writes, hidden_size, num_layers) < 1:
            raise ValueError("memory_size, word_size, num_reads, num_writes, hidden_size and "
                             "num_layers must all be >= 1")
        if checkpoint_every is not None and checkpoint_every < 0:
            raise ValueError(f"checkpoint_every={checkpoint_every}; expected null/0 or k >= 1")
        self.num_reads, self.word_size, self.clip = num_reads, word_size, clip
        self.checkpoint_every = checkpoint_every or 0
        self.compile_step = compile_step
        self._compiled_step = None  # built on first use (a cache of code, not model state)
        chi_size = self.input_size + num_reads * word_size
        controller_cls = DeepLSTMController if controller == "lstm" else FeedforwardController
        self.controller = controller_cls(chi_size, hidden_size, num_layers)
        hidden = self.controller.out_features
        self.interface = InterfaceLayer(
            hidden, word_size=word_size, num_reads=num_reads, num_writes=num_writes,
            content_masking=content_masking, mask_min=mask_min, link_sharpness=link_sharpness,
            clip=clip,
        )
        self.access = MemoryAccess(
            memory_size=memory_size, word_size=word_size, num_reads=num_reads,
            num_writes=num_writes, distance=distance, allocation=allocation,
            allocation_beta=allocation_beta, dealloc_wipe=dealloc_wipe, fast_path=fast_path,
            sparse_link_k=sparse_link_k,
        )
        # The paper's configuration runs each access step as one autograd node.
        self.one_node_access = (
            fast_path and one_node_access and num_writes == 1 and distance == "cosine"
            and allocation == "sorted" and sparse_link_k is None
            and not (dealloc_wipe or content_masking or link_sharpness)
        )
        if self.one_node_access:  # the fused node unpacks ξ̂ itself: the layouts must agree
            assert tuple(self.interface.group_sizes) == interface_sizes(num_reads, word_size)
        self.output_layer = nn.Linear(hidden, self.output_size)  # W_y
        self.read_output = nn.Linear(num_reads * word_size, self.output_size, bias=False)  # W_r

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> DNCState:
        access = self.access.initial_state(batch_size, device, dtype)
        Hw, R, N = self.access.num_writes, self.num_reads, self.access.memory_size
        diagnostics = AccessDiagnostics(
            allocation=torch.zeros(batch_size, Hw, N, device=device, dtype=dtype),
            read_modes=torch.zeros(batch_size, R, 1 + 2 * Hw, device=device, dtype=dtype),
            write_gate=torch.zeros(batch_size, Hw, device=device, dtype=dtype),
            allocation_gate=torch.zeros(batch_size, Hw, device=device, dtype=dtype),
            free_gates=torch.zeros(batch_size, R, device=device, dtype=dtype),
        )
        return DNCState(
            controller=self.controller.initial_state(batch_size, device, dtype),
            access=access,
            read_words=torch.zeros(batch_size, R, self.word_size, device=device, dtype=dtype),
            diagnostics=diagnostics,
        )

    def _core(self, x_t: Tensor, state: DNCState) -> tuple[Tensor, DNCState]:
        """The recurrent part of a step: x_t (B, E) -> controller output h (B, L·H) and the next
        state (whose read words r_t feed the output and the next step)."""
        chi = torch.cat([x_t, state.read_words.flatten(1)], dim=-1)  # (B, E + R·W)
        h, controller_state = self.controller(chi, state.controller)  # (B, L·H)
        with outside_autocast(h):
            h = h.to(state.read_words.dtype)
            if not self.one_node_access:
                read_words, access_state, diagnostics = self.access(self.interface(h),
                                                                    state.access)
                return h, DNCState(controller_state, access_state, read_words, diagnostics)
            read_words, *new_access, alloc, modes, gates = fused_access(
                self.interface.linear(h), *state.access, self.num_reads, self.clip
            )  # gates (B, W + R + 2): [e, f, g^a, g^w]
        W, R = self.word_size, self.num_reads
        diagnostics = AccessDiagnostics(alloc, modes, gates[:, -1:], gates[:, -2:-1],
                                        gates[:, W : W + R])
        return h, DNCState(controller_state, AccessState(*new_access), read_words, diagnostics)

    def _output(self, h: Tensor, read_words: Tensor) -> Tensor:
        """y = ν + W_r [r^1; …; r^R] with ν = W_y h clipped: h (..., L·H), read words
        (..., R, W) -> (..., O). Nothing recurrent, so a scan applies it to all steps at once."""
        nu = self.output_layer(h)  # (..., O)
        if self.clip:
            nu = nu.clamp(-self.clip, self.clip)
        return nu + self.read_output(read_words.flatten(-2))

    def step(self, x_t: Tensor, role_t: Tensor, state: DNCState) -> tuple[Tensor, DNCState]:
        """x_t (B, E) -> y_t (B, O). ``role_t`` is not read (use ``role_input`` to feed it)."""
        h, state = self._core(x_t, state)
        return self._output(h, state.read_words), state

    def _scan_chunk(self, x: Tensor, role: Tensor, state: DNCState) -> tuple[Tensor, DNCState]:
        """The step loop over one chunk: x (B, k, E), role (B, k) -> y (B, k, O), state.
        ``fast_path``: the loop runs :meth:`_core` only and the output is applied once to the
        chunk's stacked (B, k, ·) controller outputs and read words; otherwise :meth:`step`."""
        steps = x.unbind(1)  # one backward node for all steps when x needs a gradient
        if not self.access.fast_path:
            ys = []
            for x_t, role_t in zip(steps, role.unbind(1), strict=True):
                y_t, state = self.step(x_t, role_t, state)
                ys.append(y_t)
            return torch.stack(ys, dim=1), state
        core = compiled_on_first_use(self, self._core, self.compile_step)
        hs, reads = [], []
        for x_t in steps:
            h, state = core(x_t, state)
            hs.append(h)
            reads.append(state.read_words)
        return self._output(torch.stack(hs, dim=1), torch.stack(reads, dim=1)), state

    def scan(self, x: Tensor, role: Tensor, *, trace: bool = False) -> tuple[Tensor, dict]:
        """The step loop (compiled with ``compile_step``; the plain reference loop when
        tracing), in checkpointed chunks of k steps when ``checkpoint_every`` = k and gradients
        are on. x (B, T, E), role (B, T) -> y (B, T, O), traces."""
        k = self.checkpoint_every
        state = self.initial_state(x.shape[0], x.device, x.dtype)
        if trace:
            return super().scan(x, role, trace=trace)
        if not k or not torch.is_grad_enabled():
            return self._scan_chunk(x, role, state)[0], {}
        ys = []
        for start in range(0, x.shape[1], k):
            y, state = checkpoint(
                self._scan_chunk, x[:, start : start + k], role[:, start : start + k], state,
                use_reentrant=False,
            )  # (B, k, O)
            ys.append(y)
        return torch.cat(ys, dim=1), {}

    def trace_fields(self, state: DNCState) -> dict[str, Tensor]:
        """Per-step traces: weightings, usage, allocation, gates and read modes."""
        access, diag = state.access, state.diagnostics
        return {
            "write_weights": access.write_weights,  # (B, Hw, N)
            "read_weights": access.read_weights,  # (B, R, N)
            "usage": access.usage,  # (B, N)
            "allocation": diag.allocation,  # (B, Hw, N)
            "read_modes": diag.read_modes,  # (B, R, 1 + 2 Hw)
            "write_gate": diag.write_gate,  # (B, Hw)
            "allocation_gate": diag.allocation_gate,  # (B, Hw)
            "free_gates": diag.free_gates,  # (B, R)
        }
