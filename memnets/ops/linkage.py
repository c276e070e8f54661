"""Temporal memory linkage (Graves et al. 2016, Methods "Temporal memory linkage").

    p_0 = 0,   p_t = (1 − Σ_i w^w_t[i]) p_{t−1} + w^w_t
    L_0 = 0,   L_t[i, j] = (1 − w^w_t[i] − w^w_t[j]) L_{t−1}[i, j] + w^w_t[i] p_{t−1}[j],
               L_t[i, i] = 0
    f^i_t = L_t w^{r,i}_{t−1},   b^i_t = L_tᵀ w^{r,i}_{t−1}

Each write head keeps its own link matrix and precedence (axis Hw), as in DeepMind's code.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    """p_t = (1 − Σ_i w_t[i]) p_{t−1} + w_t.

    precedence (B, Hw, N), write_weights (B, Hw, N) -> precedence (B, Hw, N), Σ p ≤ 1.
    """
    return (1.0 - write_weights.sum(dim=-1, keepdim=True)) * precedence + write_weights


def link_update_forward(link: Tensor, prev_precedence: Tensor, write_weights: Tensor) -> Tensor:
    """L_t from L_{t−1}, p_{t−1} and w_t without autograd temporaries (see :func:`update_link`).

    link (B, Hw, N, N), prev_precedence (B, Hw, N), write_weights (B, Hw, N) -> (B, Hw, N, N).
    """
    w_i = write_weights.unsqueeze(-1)  # (B, Hw, N, 1)
    w_j = write_weights.unsqueeze(-2)  # (B, Hw, 1, N)
    new_link = link * (1.0 - w_i)  # (B, Hw, N, N); no (N, N) factor is materialised
    new_link.addcmul_(link, w_j, value=-1.0)  # − w[j] L[i, j]
    new_link.addcmul_(w_i, prev_precedence.unsqueeze(-2))  # + w[i] p[j]
    new_link.diagonal(dim1=-2, dim2=-1).zero_()
    return new_link


def link_update_backward(
    saved: tuple[Tensor, Tensor, Tensor], grad: Tensor, needs: tuple[bool, ...] = (True,) * 3,
    fresh: bool = False,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of :func:`link_update_forward` for (L_{t−1}, p_{t−1}, w_t) from the saved
    inputs and G = ∂L/∂L_t (its diagonal ignored: L_t[i, i] is constant 0):

        ∂L_{t−1} = (1 − w_i − w_j) G,   ∂p[j] = Σ_i w[i] G[i, j],
        ∂w[k] = Σ_j G[k, j] p[j] − Σ_j G[k, j] L[k, j] − Σ_i G[i, k] L[i, k]

    ``fresh``: G is the caller's own temporary and may be changed in place (no copy).
    """
    link, prev_precedence, write_weights = saved
    g = grad if fresh else grad.clone()
    g.diagonal(dim1=-2, dim2=-1).zero_()  # the diagonal is constant 0
    w_i, w_j = write_weights.unsqueeze(-1), write_weights.unsqueeze(-2)
    grad_link = grad_p = grad_w = None
    if needs[0]:
        grad_link = g * (1.0 - w_i)  # (1 − w_i − w_j) G without an (N, N) factor
        grad_link.addcmul_(g, w_j, value=-1.0)
    if needs[1]:
        grad_p = torch.matmul(w_j, g).squeeze(-2)  # Σ_i w[i] g[i, j]
    if needs[2]:
        g_link = g * link
        grad_w = (
            torch.matmul(g, prev_precedence.unsqueeze(-1)).squeeze(-1)  # Σ_j g[i,j] p[j]
            - g_link.sum(-1)  # Σ_j g[i,j] L[i,j]   (w[i] term)
            - g_link.sum(-2)  # Σ_i g[i,j] L[i,j]   (w[j] term)
        )
    return grad_link, grad_p, grad_w


class _LinkUpdate(torch.autograd.Function):
    """update_link with a hand-written backward that keeps only L_{t−1}, p_{t−1} and w_t.

    Plain autograd would also keep the (B, Hw, N, N) factor (1 − w[i] − w[j]) of every step,
    doubling the memory a long sequence needs; L_{t−1} is kept alive by the reads anyway.
    """

    @staticmethod
    def forward(ctx, link: Tensor, prev_precedence: Tensor, write_weights: Tensor) -> Tensor:
        ctx.save_for_backward(link, prev_precedence, write_weights)
        return link_update_forward(link, prev_precedence, write_weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        return link_update_backward(ctx.saved_tensors, grad, ctx.needs_input_grad)


def update_link(
    link: Tensor, prev_precedence: Tensor, write_weights: Tensor, *, fused: bool = True
) -> Tensor:
    """L_t[i, j] = (1 − w[i] − w[j]) L_{t−1}[i, j] + w[i] p_{t−1}[j], zero diagonal.

    link (B, Hw, N, N), prev_precedence p_{t−1} (B, Hw, N), write_weights w_t (B, Hw, N)
    -> link (B, Hw, N, N) with entries in [0, 1] and row and column sums ≤ 1.
    Row i of L says which slot was written just before slot i. First-order gradients only
    (a hand-written backward that saves no (B, Hw, N, N) temporaries). ``fused=False`` is the
    reference: the equation in plain autograd ops (a test holds both equal, values and grads).
    """
    if fused:
        return _LinkUpdate.apply(link, prev_precedence, write_weights)
    w_i, w_j = write_weights.unsqueeze(-1), write_weights.unsqueeze(-2)  # (B,Hw,N,1), (B,Hw,1,N)
    new_link = (1.0 - w_i - w_j) * link + w_i * prev_precedence.unsqueeze(-2)  # (B, Hw, N, N)
    return new_link.diagonal_scatter(torch.zeros_like(write_weights), dim1=-2, dim2=-1)


def sharpen(weights: Tensor, sharpness: Tensor, eps: float = 1e-6) -> Tensor:
    """S(d, s)_i = d_i^s / Σ_j d_j^s (Csordás & Schmidhuber 2019, sharpened link distributions).

    weights d (..., N) ≥ 0, sharpness s (...) ≥ 1 -> (..., N) on the simplex. Computed as
    ((d + eps) / max(d + eps))^s before normalising, so an all-zero d gives a uniform
    distribution instead of 0/0, and the power cannot underflow to all zeros.
    """
    shifted = weights + eps
    scaled = shifted / shifted.amax(dim=-1, keepdim=True)  # (..., N) in (0, 1]
    powered = scaled.pow(sharpness.unsqueeze(-1))
    return powered / powered.sum(dim=-1, keepdim=True)


def directional_read_weights(
    link: Tensor, prev_read_weights: Tensor, forward: bool, sharpness: Tensor | None = None
) -> Tensor:
    """Forward f = L w^r_{t−1} or backward b = Lᵀ w^r_{t−1} weightings, as batched matmuls.

    link (B, Hw, N, N), prev_read_weights (B, R, N), sharpness s (B, R, Hw) or None
    -> (B, R, Hw, N). With ``sharpness`` each result is passed through :func:`sharpen`.
    Autograd keeps L itself for backward (the transpose is a view, not a copy), and that L is
    the one the next link update keeps anyway.
    """
    reads = prev_read_weights.unsqueeze(1)  # (B, 1, R, N)
    # f[r, i] = Σ_j L[i, j] w[r, j] = (w Lᵀ)[r, i];  b[r, i] = Σ_j L[j, i] w[r, j] = (w L)[r, i]
    matrix = link.transpose(-1, -2) if forward else link  # (B, Hw, N, N)
    out = torch.matmul(reads, matrix).transpose(1, 2)  # (B, R, Hw, N)
    if sharpness is not None:
        out = sharpen(out, sharpness)
    return out
