"""Reading and writing a memory matrix with weightings (Graves et al. 2016, Methods
"Reading and writing to memory"; the same equations as the NTM, Graves et al. 2014 eq. 2-4)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class _EraseWriteOneHead(torch.autograd.Function):
    """M ∘ (E − w eᵀ) + w vᵀ for one write head, with a hand-written backward that keeps only
    M_{t−1}, w, e and v (plain autograd also keeps the (B, N, W) factor E − w eᵀ each step)."""

    @staticmethod
    def forward(ctx, memory: Tensor, w: Tensor, erase: Tensor, v: Tensor) -> Tensor:
        w_t = w.transpose(1, 2)  # (B, N, 1)
        new_memory = memory - memory * torch.bmm(w_t, erase)
        new_memory.baddbmm_(w_t, v)
        ctx.save_for_backward(memory, w, erase, v)
        return new_memory

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        memory, w, erase, v = ctx.saved_tensors  # (B, N, W), (B, 1, N), (B, 1, W), (B, 1, W)
        grad_memory = grad_w = grad_e = grad_v = None
        if ctx.needs_input_grad[0]:
            grad_memory = g - g * torch.bmm(w.transpose(1, 2), erase)  # g ∘ (E − w eᵀ)
        g_m = g * memory  # (B, N, W)
        if ctx.needs_input_grad[1]:  # Σ_c g[n,c] (v[c] − M[n,c] e[c])
            grad_w = (torch.bmm(g, v.transpose(1, 2)) - torch.bmm(g_m, erase.transpose(1, 2)))
            grad_w = grad_w.transpose(1, 2)
        if ctx.needs_input_grad[2]:
            grad_e = -torch.bmm(w, g_m)  # −Σ_n w[n] g[n,c] M[n,c]
        if ctx.needs_input_grad[3]:
            grad_v = torch.bmm(w, g)  # Σ_n w[n] g[n,c]
        return grad_memory, grad_w, grad_e, grad_v


def erase_and_write(
    memory: Tensor,
    write_weights: Tensor,
    erase: Tensor,
    write_vectors: Tensor,
    *,
    fused: bool = True,
) -> Tensor:
    """M_t = M_{t−1} ∘ Π_h (E − w_h e_hᵀ) + Σ_h w_h v_hᵀ.

    memory (B, N, W), write_weights w (B, Hw, N), erase e (B, Hw, W) in [0, 1],
    write_vectors v (B, Hw, W) -> memory (B, N, W).

    With one write head this is exactly the DNC paper's M_t = M_{t−1} ∘ (E − w eᵀ) + w vᵀ
    (E the N×W matrix of ones), computed with a memory-lean hand-written backward (first-order
    gradients only). With several heads all erases are applied to the old memory at once (their
    retention factors multiply, so the order of heads does not matter) and then all writes are
    added: the heads act in parallel, as in the NTM paper's multi-head writing.
    ``fused=False`` takes the plain-autograd reference path for one head too.
    """
    if fused and write_weights.shape[1] == 1:
        return _EraseWriteOneHead.apply(memory, write_weights, erase, write_vectors)
    w_t = write_weights.transpose(1, 2)  # (B, N, Hw)
    keep = torch.prod(1.0 - w_t.unsqueeze(-1) * erase.unsqueeze(1), dim=2)  # (B, N, W)
    return memory * keep + torch.bmm(w_t, write_vectors)


def read_memory(memory: Tensor, read_weights: Tensor) -> Tensor:
    """r^i = M_tᵀ w^{r,i} for every read head.

    memory (B, N, W), read_weights (B, R, N) -> read words (B, R, W).
    """
    return torch.bmm(read_weights, memory)
