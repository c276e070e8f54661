"""Parameter-owning building blocks shared by models: step encoders and output reshaping."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.batch import PAD_ID, Role
from tasks.spec import TaskSpec

ENCODINGS = ("auto", "onehot", "embedding", "dense")
CONTROLLERS = ("lstm", "feedforward")  # controller kinds of the DNC and the NTM


def outside_autocast(x: Tensor):
    """A context with autocast off on ``x``'s device: under mixed precision (e.g.
    ``trainer.precision=bf16-mixed``) a recurrent memory's access runs in the state's own
    precision, as its hand-written autograd nodes expect (their backward runs without
    autocast), and the memory does not round to 16 bits step after step."""
    return torch.autocast(x.device.type, enabled=False)


def compiled_on_first_use(module: nn.Module, fn, enabled: bool):
    """``fn`` itself, or with ``enabled`` its ``torch.compile``d form (the models'
    ``compile_step``), built on the first call and kept in ``module._compiled_step``: a cache of
    code, not model state (no parameters, nothing in the state dict)."""
    if not enabled:
        return fn
    if module._compiled_step is None:
        module._compiled_step = torch.compile(fn, dynamic=False)
    return module._compiled_step


class StepEncoder(nn.Module):
    """Turns each step's raw input into one vector: ``(B, T, L|D) -> (B, T, E)``.

    - ``onehot`` (token inputs): bag of one-hot vectors over the vocabulary, PAD ignored. With
      L=1 this is the DNC paper's one-hot word input (Graves et al. 2016, Methods: bAbI).
    - ``embedding`` (token inputs): sum of learned embeddings of the step's tokens.
    - ``dense`` (feature inputs): the features as they are.
    - ``auto``: ``onehot`` for tokens, ``dense`` for features.
    ``role_input`` appends a one-hot of the step's :class:`Role` (4 channels).
    """

    def __init__(
        self,
        spec: TaskSpec,
        *,
        encoding: str = "auto",
        embed_dim: int | None = None,
        role_input: bool = False,
    ) -> None:
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"input_encoding={encoding!r}; expected one of {ENCODINGS}")
        if encoding == "auto":
            encoding = "onehot" if spec.input_kind == "tokens" else "dense"
        if (encoding == "dense") != (spec.input_kind == "features"):
            raise ValueError(
                f"input_encoding={encoding!r} does not fit {spec.input_kind} inputs; use "
                f"{'dense' if spec.input_kind == 'features' else 'onehot or embedding'}"
            )
        self.encoding = encoding
        self.role_input = role_input
        self.vocab_size = spec.vocab_size
        if encoding == "embedding":
            if not embed_dim:
                raise ValueError("input_encoding='embedding' needs embed_dim > 0")
            self.embedding = nn.Embedding(spec.vocab_size, embed_dim, padding_idx=PAD_ID)
            width = embed_dim
        elif encoding == "onehot":
            width = spec.vocab_size
        else:
            width = spec.input_width
        self.out_features = width + (len(Role) if role_input else 0)

    def forward(self, inputs: Tensor, role: Tensor) -> Tensor:
        if self.encoding == "dense":
            x = inputs  # (B, T, D)
        elif self.encoding == "onehot":
            x = F.one_hot(inputs, self.vocab_size).sum(dim=2)  # (B, T, V)
            x[..., PAD_ID] = 0
            x = x.to(torch.get_default_dtype())
        else:
            x = self.embedding(inputs).sum(dim=2)  # (B, T, E)
        if self.role_input:
            x = torch.cat([x, F.one_hot(role, len(Role)).to(x.dtype)], dim=-1)
        return x


def reshape_logits(y: Tensor, spec: TaskSpec) -> Tensor:
    """Flat outputs (B, T, O) -> logits (B, T, D_out) for bits, (B, T, K, C) for tokens."""
    if spec.target_kind == "bits":
        return y
    return y.unflatten(-1, (spec.target_width, spec.num_classes))
