"""The common memory-network interface (DESIGN §3).

Dimension letters used in shape comments across the package:
    B batch, T time steps, L tokens per step, D input features, E encoded step width,
    K answer tokens per step, C answer classes, O flat output width (D_out or K*C),
    N memory slots, W word size, R read heads, H heads (any kind), S sentences in memory.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from memnets.models.layers import StepEncoder, reshape_logits
from tasks.batch import Batch
from tasks.spec import TaskSpec

State = Any  # a NamedTuple of tensors, defined per model


class ModelOutput(NamedTuple):
    logits: Tensor  # (B, T, D_out) for bit targets | (B, T, K, C) for token targets
    aux: dict[str, Tensor]  # per-step traces (B, T, ...) when trace=True, else {}


class IncompatibleTaskError(ValueError):
    """A model cannot read a task's granularity; the message says which would work."""


class MemoryNetwork(nn.Module):
    """A memory core: reads a :class:`Batch`, returns logits aligned to its steps."""

    SUPPORTED_GRANULARITIES: ClassVar[frozenset[str]] = frozenset({"step", "word", "sentence"})

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__()
        check_compatible(type(self), spec)
        self.spec = spec

    def forward(self, batch: Batch, *, trace: bool = False) -> ModelOutput:
        raise NotImplementedError


def check_compatible(model_cls: type[MemoryNetwork], spec: TaskSpec) -> None:
    supported = model_cls.SUPPORTED_GRANULARITIES
    if spec.granularity not in supported:
        raise IncompatibleTaskError(
            f"{model_cls.__name__} reads {sorted(supported)} granularity, but the task is "
            f"'{spec.granularity}'-granular. Pick a task or task.granularity in "
            f"{sorted(supported)}, or a model that supports '{spec.granularity}'."
        )


def choose_granularity(model_cls: type[MemoryNetwork], offered: tuple[str, ...]) -> str:
    """The first of a task's ``offered`` granularities (its order of preference) the model reads.

    What ``task.granularity=auto`` resolves to: bAbI offers ("word", "sentence"), so the DNC,
    NTM and LSTM get words (the DNC paper's protocol) and MemN2N/EntNet get sentences.
    """
    for granularity in offered:
        if granularity in model_cls.SUPPORTED_GRANULARITIES:
            return granularity
    raise IncompatibleTaskError(
        f"{model_cls.__name__} reads {sorted(model_cls.SUPPORTED_GRANULARITIES)} granularity; "
        f"the task offers only {list(offered)}. Pick a model that reads one of them."
    )


def granularity_for(model_cls: type[MemoryNetwork], task_cls: type) -> str:
    """``task.granularity=auto`` for this model on this task: :func:`choose_granularity` over
    the task class's ``GRANULARITIES``. run.py writes it into the run's record; the sweep runner
    resolves it the same way to find a planned run in the archive."""
    return choose_granularity(model_cls, tuple(getattr(task_cls, "GRANULARITIES", ())))


class RecurrentMemoryNetwork(MemoryNetwork):
    """A model that reads one step at a time: ``step(x_t, role_t, state) -> (y_t, state)``.

    ``forward`` encodes every step at once (``StepEncoder``), runs the recurrence with
    :meth:`scan` and reshapes the flat outputs ``(B, T, O)`` into logits. Subclasses implement
    :meth:`initial_state` and :meth:`step`; they may override :meth:`scan` with a fused path
    (which a test must prove equal to the step loop) and :meth:`trace_fields`.
    """

    def __init__(
        self,
        spec: TaskSpec,
        *,
        input_encoding: str = "auto",
        embed_dim: int | None = None,
        role_input: bool = False,
    ) -> None:
        super().__init__(spec)
        self.encoder = StepEncoder(
            spec, encoding=input_encoding, embed_dim=embed_dim, role_input=role_input
        )

    @property
    def input_size(self) -> int:
        """E, the width of the encoded step the recurrence reads."""
        return self.encoder.out_features

    @property
    def output_size(self) -> int:
        """O, the width of the flat output the recurrence emits per step."""
        return self.spec.output_size

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> State:
        raise NotImplementedError

    def step(self, x_t: Tensor, role_t: Tensor, state: State) -> tuple[Tensor, State]:
        """x_t (B, E) encoded step, role_t (B,) -> y_t (B, O), next state."""
        raise NotImplementedError

    def trace_fields(self, state: State) -> dict[str, Tensor]:
        """What ``trace=True`` records after each step (default: nothing)."""
        return {}

    def scan(self, x: Tensor, role: Tensor, *, trace: bool = False) -> tuple[Tensor, dict]:
        """The reference step loop. x (B, T, E), role (B, T) -> y (B, T, O), traces."""
        B, T, _ = x.shape
        state = self.initial_state(B, x.device, x.dtype)
        ys: list[Tensor] = []
        traces: list[dict[str, Tensor]] = []
        for t in range(T):
            y_t, state = self.step(x[:, t], role[:, t], state)
            ys.append(y_t)
            if trace:
                traces.append(self.trace_fields(state))
        aux = {k: torch.stack([tr[k] for tr in traces], dim=1) for k in (traces[0] if traces else {})}
        return torch.stack(ys, dim=1), aux

    def forward(self, batch: Batch, *, trace: bool = False) -> ModelOutput:
        x = self.encoder(batch.inputs, batch.role)  # (B, T, E)
        y, aux = self.scan(x, batch.role, trace=trace)  # (B, T, O)
        return ModelOutput(reshape_logits(y, self.spec), aux)
