"""NTM location addressing: interpolation, circular shift, sharpening.

Graves, Wayne & Danihelka 2014, "Neural Turing Machines", arXiv:1410.5401, §3.3.2. After the
content weighting w^c_t (eq. 5-6, :func:`memnets.ops.content.content_weights`) each head

1. interpolates with its previous weighting, gated by g_t (eq. 7),
2. rotates the result by a soft circular convolution with the shift weighting s_t (eq. 8),
3. sharpens it with γ_t ≥ 1 (eq. 9).

Shapes: B batch, H heads, N memory slots, S allowed shifts. Every head of every batch row is
processed at once; there is no Python loop over samples or heads.

Shift index convention: ``offsets[k]`` is the rotation that ``shift[..., k]`` weights. A shift
weighting concentrated on offset ``+1`` moves the focus from slot ``i`` to slot ``i + 1``
(mod N), i.e. it equals ``torch.roll(w, +1, dims=-1)``; offset ``-1`` moves it to ``i - 1``.
With the default symmetric range, ``offsets = (-m, ..., 0, ..., +m)`` for ``S = 2m + 1``, so
for S=3 the shift weighting reads ``(left, stay, right)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def shift_offsets(max_shift: int, device: torch.device | None = None) -> Tensor:
    """The symmetric shift range ``(-max_shift, ..., +max_shift)``: a long tensor (S,), S=2m+1.

    The NTM paper's experiments allow shifts of -1, 0 and +1 (max_shift=1).
    """
    if max_shift < 0:
        raise ValueError(f"max_shift={max_shift} must be >= 0")
    return torch.arange(-max_shift, max_shift + 1, device=device)


def interpolate(content_weights: Tensor, prev_weights: Tensor, gate: Tensor) -> Tensor:
    """Interpolation gate, NTM eq. 7: ``w^g_t = g_t w^c_t + (1 - g_t) w_{t-1}``.

    content_weights (B, H, N) w^c_t; prev_weights (B, H, N) w_{t-1}; gate (B, H) g_t in [0, 1]
    -> (B, H, N) w^g_t.
    """
    g = gate.unsqueeze(-1)  # (B, H, 1)
    return g * content_weights + (1.0 - g) * prev_weights


def circular_shift(weights: Tensor, shift: Tensor, offsets: Tensor | Sequence[int] | None = None) -> Tensor:
    """Soft rotation by circular convolution, NTM eq. 8:
    ``w~_t(i) = Σ_j w^g_t(j) s_t(i - j)``, indices modulo N.

    weights (B, H, N) w^g_t; shift (B, H, S) s_t, a distribution over ``offsets``;
    offsets (S,) integer rotations (default: the symmetric range of width S, which must then be
    odd) -> (B, H, N) w~_t. Offsets may exceed N; they wrap around. See the module docstring for
    the sign convention (offset +1 == ``torch.roll(w, 1, -1)``).
    Vectorised as a gather of rolled indices: ``w~(i) = Σ_k s(k) w^g(i - offsets[k])``.
    """
    N = weights.shape[-1]
    S = shift.shape[-1]
    if offsets is None:
        if S % 2 == 0:
            raise ValueError(f"shift has even width S={S}; pass offsets explicitly")
        offsets = shift_offsets(S // 2, device=weights.device)
    offsets = torch.as_tensor(offsets, dtype=torch.long, device=weights.device)
    if offsets.shape != (S,):
        raise ValueError(f"offsets {tuple(offsets.shape)} must be ({S},), one per shift entry")
    slots = torch.arange(N, device=weights.device)
    source = (slots[None, :] - offsets[:, None]) % N  # (S, N): slot that lands on i
    rolled = weights[..., source]  # (B, H, S, N): rolled[..., k, i] = w(i - offsets[k])
    return torch.einsum("bhs,bhsn->bhn", shift, rolled)


def sharpen(weights: Tensor, gamma: Tensor, eps: float = 1e-12) -> Tensor:
    """Sharpening, NTM eq. 9: ``w_t(i) = w~_t(i)^γ_t / Σ_j w~_t(j)^γ_t``, γ_t ≥ 1.

    weights (B, H, N) w~_t (non-negative); gamma (B, H) γ_t -> (B, H, N) w_t.
    Computed as ``softmax(γ log(w~ + eps))``, which equals eq. 9 up to ``eps`` but neither
    underflows for large γ nor produces NaN gradients where w~ = 0.
    """
    log_w = torch.log(weights + eps)  # (B, H, N)
    return torch.softmax(gamma.unsqueeze(-1) * log_w, dim=-1)


def shift_index(offsets: Tensor | Sequence[int], num_slots: int) -> Tensor:
    """Gather indices of the circular shift and of its adjoint: a long tensor (2, S, N).

    ``[0, k, i] = (i - offsets[k]) mod N`` (the slot that eq. 8 moves onto i with weight s(k));
    ``[1, k, j] = (j + offsets[k]) mod N`` (where slot j's mass goes: the backward pass).
    Built once per model (N and the offsets are fixed), not once per step.
    """
    offsets = torch.as_tensor(offsets, dtype=torch.long)
    slots = torch.arange(num_slots, device=offsets.device)
    return torch.stack([(slots[None] - offsets[:, None]), (slots[None] + offsets[:, None])]) % num_slots


def _gather_shifts(weights: Tensor, index: Tensor) -> Tensor:
    """weights (B, H, N), index (S, N) -> (B, H, S, N) with [..., k, i] = weights[..., index[k, i]]."""
    B, H, N = weights.shape
    S = index.shape[0]
    flat = weights.reshape(B * H, 1, N).expand(B * H, S, N)
    return torch.gather(flat, -1, index.expand(B * H, S, N)).view(B, H, S, N)


def location_forward(
    content: Tensor,
    prev: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    index: Tensor,
    eps: float = 1e-12,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Eqs. 7-9 and what :func:`location_backward` needs. With R[k, i] = w^g(i − o_k):

        w^g = lerp(w_{t-1}, w^c, g),   w~ = Σ_k s(k) R[k],   l = log(w~ + ε),   w = softmax(γ l)

    content, prev (B, H, N); gate, gamma (B, H); shift (B, H, S); index (2, S, N) from
    :func:`shift_index` -> w (B, H, N), saved tensors.
    """
    gated = torch.lerp(prev, content, gate.unsqueeze(-1))  # (B, H, N) eq. 7
    rolled = _gather_shifts(gated, index[0])  # (B, H, S, N)
    shifted = torch.matmul(shift.unsqueeze(-2), rolled).squeeze(-2) + eps  # (B, H, N) eq. 8, + ε
    log_w = torch.log(shifted)  # (B, H, N)
    weights = torch.softmax(gamma.unsqueeze(-1) * log_w, dim=-1)  # eq. 9
    return weights, (content, prev, gate, shift, gamma, index, rolled, shifted, log_w, weights)


def location_backward(
    saved: tuple[Tensor, ...], grad: Tensor, needs: Sequence[bool] = (True,) * 5
) -> tuple[Tensor | None, ...]:
    """Gradients of :func:`location_forward` for (content, prev, gate, shift, gamma) from
    G = ∂L/∂w (B, H, N), each None where ``needs`` is False:

        ∂z = w ∘ (G − Σ G w),  ∂γ = Σ_i ∂z l,  ∂w~ = γ ∂z / (w~ + ε),
        ∂s(k) = Σ_i ∂w~(i) R[k, i],  ∂w^g(j) = Σ_k s(k) ∂w~(j + o_k),
        ∂w^c = g ∂w^g,  ∂w_{t-1} = (1 − g) ∂w^g,  ∂g = Σ_j (w^c − w_{t-1}) ∂w^g.
    """
    content, prev, gate, shift, gamma, index, rolled, shifted, log_w, weights = saved
    grad_z = torch._softmax_backward_data(grad, weights, -1, weights.dtype)  # (B, H, N)
    grad_gamma = torch.linalg.vecdot(grad_z, log_w) if needs[4] else None  # (B, H)
    grad_shifted = grad_z * gamma.unsqueeze(-1) / shifted  # (B, H, N)
    grad_shift = torch.linalg.vecdot(rolled, grad_shifted.unsqueeze(-2)) if needs[3] else None
    back = _gather_shifts(grad_shifted, index[1])  # (B, H, S, N): ∂w~(j + o_k)
    grad_gated = torch.matmul(shift.unsqueeze(-2), back).squeeze(-2)  # (B, H, N)
    g = gate.unsqueeze(-1)  # (B, H, 1)
    grad_content = grad_gated * g if needs[0] or needs[1] else None
    grad_prev = grad_gated - grad_content if needs[1] else None
    grad_gate = torch.linalg.vecdot(content - prev, grad_gated) if needs[2] else None
    return grad_content, grad_prev, grad_gate, grad_shift, grad_gamma


class _LocationAddress(torch.autograd.Function):
    """:func:`location_forward` as one autograd node with its hand-written backward (the plain
    composition makes about twenty small nodes per head kind and step, and at NTM sizes their
    overhead, not their arithmetic, is the cost)."""

    @staticmethod
    def forward(ctx, content, prev, gate, shift, gamma, index, eps: float):
        weights, saved = location_forward(content, prev, gate, shift, gamma, index, eps)
        ctx.save_for_backward(*saved)
        return weights

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        return *location_backward(ctx.saved_tensors, grad, ctx.needs_input_grad[:5]), None, None


def location_address(
    content_weights: Tensor,
    prev_weights: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    offsets: Tensor | Sequence[int] | None = None,
    *,
    index: Tensor | None = None,
    fused: bool = True,
    eps: float = 1e-12,
) -> Tensor:
    """NTM eqs. 7-9 in order: interpolate, shift, sharpen.

    content_weights (B, H, N) w^c_t; prev_weights (B, H, N) w_{t-1}; gate (B, H) g_t;
    shift (B, H, S) s_t; gamma (B, H) γ_t; offsets (S,) (default: the symmetric range of
    width S) or their precomputed ``index = shift_index(offsets, N)`` -> (B, H, N) w_t.
    ``fused`` (default) runs the three equations as one node with a hand-written backward
    (first-order gradients only); ``fused=False`` is the plain-autograd composition of
    :func:`interpolate`, :func:`circular_shift` and :func:`sharpen` (a test holds both equal).
    """
    if not fused:
        gated = interpolate(content_weights, prev_weights, gate)  # (B, H, N)
        shifted = circular_shift(gated, shift, offsets)  # (B, H, N)
        return sharpen(shifted, gamma, eps)  # (B, H, N)
    if index is None:
        S = shift.shape[-1]
        if offsets is None:
            if S % 2 == 0:
                raise ValueError(f"shift has even width S={S}; pass offsets explicitly")
            offsets = shift_offsets(S // 2)
        index = shift_index(offsets, content_weights.shape[-1]).to(content_weights.device)
    if index.shape[1] != shift.shape[-1]:
        raise ValueError(f"{index.shape[1]} offsets for a shift weighting of width {shift.shape[-1]}")
    return _LocationAddress.apply(content_weights, prev_weights, gate, shift, gamma, index, eps)
