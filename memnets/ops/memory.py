"""Reading and writing a memory matrix with weightings (Graves et al. 2016, Methods
"Reading and writing to memory"; the same equations as the NTM, Graves et al. 2014 eq. 2-4)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def erase_write_forward(memory: Tensor, w: Tensor, erase: Tensor, v: Tensor) -> Tensor:
    """M ∘ (E − w eᵀ) + w vᵀ for one write head, as M + w ∘ (v − M ∘ e) (rows scaled by w; e
    and v broadcast over rows): two elementwise ops, no outer-product matmuls.

    memory (B, N, W), w (B, 1, N), erase (B, 1, W), v (B, 1, W) -> (B, N, W).
    """
    return torch.addcmul(memory, w.transpose(1, 2), torch.addcmul(v, memory, erase, value=-1.0))


def erase_write_backward(
    saved: tuple[Tensor, ...], g: Tensor, needs: tuple[bool, ...] = (True,) * 4
) -> tuple[Tensor | None, ...]:
    """Gradients of :func:`erase_write_forward` for (memory, w, erase, v) from saved
    (M_{t−1}, w, e, v) and G = ∂L/∂M_t; with D = v − M ∘ e:

        ∂M = G − (w ∘ G) ∘ e,  ∂w[n] = Σ_c G[n,c] D[n,c],  ∂e = −Σ_n (w ∘ G) ∘ M,  ∂v = Σ_n w ∘ G.
    """
    memory, w, erase, v = saved  # (B, N, W), (B, 1, N), (B, 1, W), (B, 1, W)
    g_w = g * w.transpose(1, 2)  # (B, N, W) rows of G scaled by w
    grad_memory = torch.addcmul(g, g_w, erase, value=-1.0) if needs[0] else None
    grad_w = grad_e = grad_v = None
    if needs[1]:
        written = torch.addcmul(v, memory, erase, value=-1.0)  # (B, N, W) D
        grad_w = torch.linalg.vecdot(g, written).unsqueeze(1)  # (B, 1, N)
    if needs[2]:
        grad_e = -torch.linalg.vecdot(g_w, memory, dim=1).unsqueeze(1)  # (B, 1, W)
    if needs[3]:
        grad_v = g_w.sum(1, keepdim=True)  # (B, 1, W)
    return grad_memory, grad_w, grad_e, grad_v


class _EraseWriteOneHead(torch.autograd.Function):
    """:func:`erase_write_forward` with a hand-written backward that keeps only M_{t−1}, w, e
    and v (plain autograd also keeps the (B, N, W) factor E − w eᵀ each step)."""

    @staticmethod
    def forward(ctx, memory: Tensor, w: Tensor, erase: Tensor, v: Tensor) -> Tensor:
        ctx.save_for_backward(memory, w, erase, v)
        return erase_write_forward(memory, w, erase, v)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        return erase_write_backward(ctx.saved_tensors, g, ctx.needs_input_grad)


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
