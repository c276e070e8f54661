"""Sparse temporal link matrix (Graves et al. 2016, Methods "Sparse link matrix").

With a sparsity K, only the K largest entries of the write weighting and of the previous
precedence take part (the others set to 0), ŵ_t = top_K(w^w_t), p̂_{t−1} = top_K(p_{t−1}), and

    L̂_t[i, j] = (1 − ŵ_t[i] − ŵ_t[j]) L̂_{t−1}[i, j] + ŵ_t[i] p̂_{t−1}[j],   L̂_t[i, i] = 0,

after which every entry of L̂_t below 1/K is set to 0 (the paper: O(N log N) time and O(N)
memory per step; K = 5 matched the dense link on copy, ED Fig 4). The precedence p_t stays dense.

Storage. Row and column sums of L̂_t stay ≤ 1 (as for the dense L_t: a row sums to at most
(1 − ŵ_i) Σ_j L̂_{t−1}[i, j] + ŵ_i Σ_j p̂_j), so after the prune at most K entries of a row are
left (K + 1 entries ≥ 1/K would sum past 1). A :class:`SparseLink` keeps exactly those: K
(value, column) pairs per row, columns distinct within a row, unused pairs holding value 0.

Two forms of the same approximation, held equal by tests (values and gradients):
``sparse_link_reference`` on a dense (B, Hw, N, N) matrix, and ``update_sparse_link`` /
``sparse_directional_read_weights`` on the row-sparse storage, O(N K) per step and head
(after the O(N log K) top-K).
Gradients flow through the kept values; the top-K choices and the prune act as masks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from memnets.ops.linkage import sharpen, update_link


class SparseLink(NamedTuple):
    """L̂_t as K (value, column) pairs per row: L̂[b, h, i, columns[b, h, i, k]] = values[…, k]."""

    values: Tensor  # (B, Hw, N, K) ≥ 0
    columns: Tensor  # (B, Hw, N, K) long, distinct within a row


def storage_width(memory_size: int, k: int) -> int:
    """Pairs kept per row: K, or N where K ≥ N (a row then holds every column)."""
    return min(k, memory_size)


def keep_top_k(x: Tensor, k: int) -> Tensor:
    """x̂: the k largest entries of the last axis kept, the others set to 0. x (..., N) -> (..., N)."""
    if k >= x.shape[-1]:
        return x
    keep = torch.zeros_like(x).scatter_(-1, x.topk(k, dim=-1).indices, 1.0)
    return x * keep


def prune_link(link: Tensor, k: int) -> Tensor:
    """Entries below 1/K set to 0 (gradient flows through the kept ones). Any shape."""
    return link * (link >= 1.0 / k).to(link.dtype)


def sparse_link_reference(link: Tensor, prev_precedence: Tensor, write_weights: Tensor, k: int) -> Tensor:
    """The sparse link update in dense storage, the reference for :func:`update_sparse_link`.

    link L̂_{t−1} (B, Hw, N, N), prev_precedence p_{t−1} (B, Hw, N), write_weights w_t
    (B, Hw, N) -> L̂_t (B, Hw, N, N): the dense equation on ŵ_t and p̂_{t−1}, then the prune.
    """
    new_link = update_link(
        link, keep_top_k(prev_precedence, k), keep_top_k(write_weights, k), fused=False
    )  # (B, Hw, N, N)
    return prune_link(new_link, k)


def empty_sparse_link(
    batch_size: int, num_writes: int, memory_size: int, k: int, device, dtype
) -> SparseLink:
    """L̂_0 = 0: all values 0, row i holding the distinct placeholder columns 0..K−1."""
    width = storage_width(memory_size, k)
    shape = (batch_size, num_writes, memory_size, width)
    columns = torch.arange(width, device=device).expand(shape).contiguous()
    return SparseLink(torch.zeros(shape, device=device, dtype=dtype), columns)


def sparse_link_from_dense(link: Tensor, k: int) -> SparseLink:
    """A dense (B, Hw, N, N) L̂ with at most min(K, N) nonzeros per row -> its row-sparse pairs
    (the row's largest entries; topk's indices are distinct, so zero placeholders are too)."""
    top = link.topk(storage_width(link.shape[-1], k), dim=-1)
    return SparseLink(top.values, top.indices)


def sparse_link_to_dense(link: SparseLink, memory_size: int) -> Tensor:
    """(B, Hw, N, K) pairs -> the dense (B, Hw, N, N) matrix they stand for."""
    values, columns = link
    dense = values.new_zeros(*values.shape[:-1], memory_size)
    return dense.scatter_add(-1, columns, values)


def update_sparse_link(
    link: SparseLink, prev_precedence: Tensor, write_weights: Tensor, k: int, *, lean: bool = True
) -> SparseLink:
    """L̂_t from L̂_{t−1} in row-sparse storage (the equation in the module docstring).

    link (B, Hw, N, K') pairs with K' = min(K, N), prev_precedence p_{t−1} (B, Hw, N),
    write_weights w_t (B, Hw, N) -> SparseLink (B, Hw, N, K'). Per row, the candidates are the
    K' old columns and the K' columns of p̂_{t−1} (shared by all rows; one the row already holds
    is counted once, at the old pair), then the diagonal is zeroed, entries below 1/K are
    pruned and the K' largest remaining candidates with distinct columns are kept.

    ``lean`` (default) keeps only the inputs for backward and recomputes this O(N K) step
    there (the old pairs are the previous step's state, kept anyway); ``lean=False`` is plain
    autograd, which keeps several (B, Hw, N, 2K') temporaries per step.
    """
    if lean:
        return SparseLink(*_LeanSparseLinkUpdate.apply(*link, prev_precedence, write_weights, k))
    return SparseLink(*_sparse_link_step(*link, prev_precedence, write_weights, k))


def _sparse_link_step(
    values: Tensor, columns: Tensor, prev_precedence: Tensor, write_weights: Tensor, k: int
) -> tuple[Tensor, Tensor]:
    """The maths of :func:`update_sparse_link`: (values, columns) (B, Hw, N, K') -> same.

    O(N K') per step and head: ŵ and p̂ are gathered at the old columns, and a lookup table
    from column to its slot among p̂'s K' columns finds which new columns a row already holds.
    """
    width = values.shape[-1]
    N = write_weights.shape[-1]
    w_hat = keep_top_k(write_weights, k)  # (B, Hw, N)
    p_hat = keep_top_k(prev_precedence, k)  # (B, Hw, N)
    new_columns = prev_precedence.topk(width, dim=-1).indices  # p̂'s support (B, Hw, K')
    flat_columns = columns.flatten(-2)  # (B, Hw, N·K')
    w_i = w_hat.unsqueeze(-1)  # (B, Hw, N, 1)
    w_j = w_hat.gather(-1, flat_columns).view_as(values)  # ŵ at the old columns
    p_j = p_hat.gather(-1, flat_columns).view_as(values)  # p̂ at the old columns
    old = (1.0 - w_i - w_j) * values + w_i * p_j  # the equation at the old columns (B,Hw,N,K')
    new = w_i * p_hat.gather(-1, new_columns).unsqueeze(-2)  # ŵ_i p̂_j at p̂'s columns
    # slot_of[j]: the slot of column j among p̂'s columns, K' where absent; a new slot already
    # held by row i (so counted in ``old``) is ranked below every real candidate (values ≥ 0).
    slots = torch.arange(width, device=columns.device).expand_as(new_columns)
    slot_of = torch.full_like(write_weights, width, dtype=torch.long).scatter_(-1, new_columns, slots)
    held_slot = slot_of.gather(-1, flat_columns).view_as(columns)  # (B, Hw, N, K') in [0, K']
    held = torch.zeros(*columns.shape[:-1], width + 1, dtype=torch.bool, device=columns.device)
    held = held.scatter_(-1, held_slot, True)[..., :width]  # (B, Hw, N, K'new)
    candidates = torch.cat([old, new], dim=-1)  # (B, Hw, N, 2K')
    candidate_columns = torch.cat([columns, new_columns.unsqueeze(-2).expand_as(columns)], -1)
    rows = torch.arange(N, device=columns.device).unsqueeze(-1)  # (N, 1)
    candidates = candidates.masked_fill(candidate_columns == rows, 0.0)  # L̂_t[i, i] = 0
    candidates = prune_link(candidates, k)
    repeated = torch.cat([torch.zeros_like(held), held], dim=-1)  # (B, Hw, N, 2K')
    # The K' old columns alone are distinct, so the K' chosen columns always are.
    chosen = candidates.masked_fill(repeated, -1.0).topk(width, dim=-1).indices  # (B, Hw, N, K')
    return candidates.gather(-1, chosen), candidate_columns.gather(-1, chosen)


def _forward_read(values: Tensor, columns: Tensor, prev_read_weights: Tensor) -> Tensor:
    """f[r, i] = Σ_k L̂[i, c_ik] w[r, c_ik]: (B, Hw, N, K) pairs, (B, R, N) -> (B, R, Hw, N)."""
    B, Hw, N, K = values.shape
    R = prev_read_weights.shape[1]
    reads = prev_read_weights.unsqueeze(2).expand(B, R, Hw, N)  # (B, R, Hw, N)
    index = columns.flatten(-2).unsqueeze(1).expand(B, R, Hw, N * K)  # (B, R, Hw, N·K)
    gathered = reads.gather(-1, index).view(B, R, Hw, N, K)  # w[r, c_ik]
    return (values.unsqueeze(1) * gathered).sum(-1)


def _backward_read(values: Tensor, columns: Tensor, prev_read_weights: Tensor) -> Tensor:
    """b[r, c_ik] += L̂[i, c_ik] w[r, i]: (B, Hw, N, K) pairs, (B, R, N) -> (B, R, Hw, N)."""
    B, Hw, N, K = values.shape
    R = prev_read_weights.shape[1]
    index = columns.flatten(-2).unsqueeze(1).expand(B, R, Hw, N * K)  # (B, R, Hw, N·K)
    contributions = values.unsqueeze(1) * prev_read_weights[:, :, None, :, None]  # (B,R,Hw,N,K)
    return values.new_zeros(B, R, Hw, N).scatter_add(-1, index, contributions.flatten(-2))


def sparse_directional_read_weights(
    link: SparseLink,
    prev_read_weights: Tensor,
    forward: bool,
    sharpness: Tensor | None = None,
    *,
    lean: bool = True,
) -> Tensor:
    """f = L̂ w^r_{t−1} (a gather) or b = L̂ᵀ w^r_{t−1} (a scatter-add) on row-sparse storage.

    link (B, Hw, N, K), prev_read_weights (B, R, N), sharpness (B, R, Hw) or None
    -> (B, R, Hw, N), as :func:`memnets.ops.linkage.directional_read_weights` on the dense L̂.
    ``lean`` recomputes the forward read's (B, R, Hw, N, K) gather in backward instead of
    keeping it (the backward read keeps nothing that large); ``lean=False`` is plain autograd.
    """
    if not forward:
        out = _backward_read(*link, prev_read_weights)
    elif lean:
        out = _LeanForwardRead.apply(*link, prev_read_weights)
    else:
        out = _forward_read(*link, prev_read_weights)
    if sharpness is not None:
        out = sharpen(out, sharpness)
    return out


def _recomputed_grads(fn, ctx, *grad_outputs: Tensor | None) -> tuple[Tensor | None, ...]:
    """Backward by recomputation: rerun ``fn`` on the saved inputs (and ``ctx.constants``)
    with autograd on, and differentiate it; one gradient (or None) per input of ``forward``."""
    saved = ctx.saved_tensors  # unpack once (checkpointing allows no second unpack)
    needs = ctx.needs_input_grad[: len(saved)]
    inputs = [t.detach().requires_grad_(need) for t, need in zip(saved, needs, strict=True)]
    wanted = [t for t in inputs if t.requires_grad]
    with torch.enable_grad():
        outputs = fn(*inputs, *ctx.constants)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs, strict=True) if g is not None and o.requires_grad]
    grads = iter(torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True))
    found = [next(grads) if t.requires_grad else None for t in inputs]
    return (*found, *(None for _ in ctx.constants))


class _LeanSparseLinkUpdate(torch.autograd.Function):
    """:func:`_sparse_link_step` keeping only its inputs; backward recomputes it."""

    @staticmethod
    def forward(ctx, values, columns, prev_precedence, write_weights, k):
        ctx.save_for_backward(values, columns, prev_precedence, write_weights)
        ctx.constants = (k,)
        new_values, new_columns = _sparse_link_step(values, columns, prev_precedence, write_weights, k)
        ctx.mark_non_differentiable(new_columns)
        return new_values, new_columns

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_values, grad_columns):
        return _recomputed_grads(_sparse_link_step, ctx, grad_values, None)


class _LeanForwardRead(torch.autograd.Function):
    """:func:`_forward_read` keeping only its inputs; backward recomputes the gather."""

    @staticmethod
    def forward(ctx, values, columns, prev_read_weights):
        ctx.save_for_backward(values, columns, prev_read_weights)
        ctx.constants = ()
        return _forward_read(values, columns, prev_read_weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _recomputed_grads(_forward_read, ctx, grad)
