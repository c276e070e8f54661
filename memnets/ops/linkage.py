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


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    """p_t = (1 − Σ_i w_t[i]) p_{t−1} + w_t.

    precedence (B, Hw, N), write_weights (B, Hw, N) -> precedence (B, Hw, N), Σ p ≤ 1.
    """
    return (1.0 - write_weights.sum(dim=-1, keepdim=True)) * precedence + write_weights


def update_link(link: Tensor, prev_precedence: Tensor, write_weights: Tensor) -> Tensor:
    """L_t[i, j] = (1 − w[i] − w[j]) L_{t−1}[i, j] + w[i] p_{t−1}[j], zero diagonal.

    link (B, Hw, N, N), prev_precedence p_{t−1} (B, Hw, N), write_weights w_t (B, Hw, N)
    -> link (B, Hw, N, N) with entries in [0, 1] and row and column sums ≤ 1.
    Row i of L says which slot was written just before slot i.
    """
    w_i = write_weights.unsqueeze(-1)  # (B, Hw, N, 1)
    w_j = write_weights.unsqueeze(-2)  # (B, Hw, 1, N)
    new_link = (1.0 - w_i - w_j) * link + w_i * prev_precedence.unsqueeze(-2)  # (B, Hw, N, N)
    return new_link.diagonal_scatter(
        torch.zeros_like(write_weights), dim1=-2, dim2=-1
    )


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
    """
    reads = prev_read_weights.unsqueeze(1)  # (B, 1, R, N)
    # f[r, i] = Σ_j L[i, j] w[r, j] = (w Lᵀ)[r, i];  b[r, i] = Σ_j L[j, i] w[r, j] = (w L)[r, i]
    matrix = link.transpose(-1, -2) if forward else link  # (B, Hw, N, N)
    out = torch.matmul(reads, matrix).transpose(1, 2)  # (B, R, Hw, N)
    if sharpness is not None:
        out = sharpen(out, sharpness)
    return out
