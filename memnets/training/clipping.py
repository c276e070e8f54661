"""Gradient clipping one weight matrix at a time, as the MemN2N authors' code does it.

The MemN2N paper (Sukhbaatar et al. 2015, §4.2) says "gradients with an ℓ2 norm larger than 40
are divided by a scalar to have norm 40". Its released Matlab code (facebook/MemNN,
``MemN2N-babi-matlab/nn/Weight.m``, ``update``) applies that rule to each weight matrix on its
own, and with Matlab's ``norm(G)``, which for a matrix is the spectral norm σ_max(G):

    G ← G · min(1, c / σ_max(G))            for every weight matrix G separately

Lightning's ``gradient_clip_val`` (torch's ``clip_grad_norm_``) instead rescales all gradients
together by their joint Frobenius norm, ‖(G_1, ..., G_n)‖_F ≥ max_i σ_max(G_i): with several
matrices it clips earlier and harder. This callback is the per-matrix rule; use it with
``trainer.gradient_clip_val=null``.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.nn.utils import clip_grads_with_norm_

NORMS = ("spectral", "frobenius")


def matrix_norm(grad: Tensor, norm: str) -> Tensor:
    """σ_max(G) (``spectral``; Matlab's ``norm`` of a matrix) or ‖G‖_F of one gradient; a
    vector or scalar gradient (a bias) has one norm, its ℓ2 length, under both names."""
    if grad.ndim == 2 and norm == "spectral":
        return torch.linalg.matrix_norm(grad, ord=2)
    return torch.linalg.vector_norm(grad)


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r}; expected one of {NORMS}")


def clip_per_matrix_(parameters: list[nn.Parameter], max_norm: float, norm: str = "spectral") -> None:
    """Scale each parameter's gradient in place so that its own norm is at most ``max_norm``
    (torch's ``clip_grads_with_norm_`` applied to one parameter at a time, with its own norm)."""
    check_norm(norm)
    for p in parameters:
        if p.grad is None:
            continue
        size = matrix_norm(p.grad, norm)
        if torch.isfinite(size):  # a non-finite gradient is SkipNonFiniteGradients' to drop
            clip_grads_with_norm_([p], max_norm, size)


class ClipGradPerMatrix(pl.Callback):
    """Per-matrix gradient clipping before every optimiser step (see the module docstring).

    ``max_norm`` is on the scale of the loss the run optimises: the authors' 40 on a loss summed
    over 32 questions is 40 / 32 = 1.25 on our mean loss. ``norm="frobenius"`` clips each
    matrix by ‖G‖_F instead, which is no larger a step than the spectral rule allows.
    """

    def __init__(self, max_norm: float, norm: str = "spectral") -> None:
        if max_norm <= 0:
            raise ValueError(f"max_norm={max_norm} must be > 0")
        check_norm(norm)
        self.max_norm = max_norm
        self.norm = norm

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.gradient_clip_val:
            raise ValueError("callbacks.clip_per_matrix clips the gradients itself: set "
                             "trainer.gradient_clip_val=null (two clippings would compound)")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        clip_per_matrix_(list(pl_module.parameters()), self.max_norm, self.norm)
