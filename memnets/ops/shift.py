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


def location_address(
    content_weights: Tensor,
    prev_weights: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
    offsets: Tensor | Sequence[int] | None = None,
) -> Tensor:
    """NTM eqs. 7-9 in order: interpolate, shift, sharpen.

    content_weights (B, H, N) w^c_t; prev_weights (B, H, N) w_{t-1}; gate (B, H) g_t;
    shift (B, H, S) s_t; gamma (B, H) γ_t; offsets (S,) -> (B, H, N) w_t.
    """
    gated = interpolate(content_weights, prev_weights, gate)  # (B, H, N)
    shifted = circular_shift(gated, shift, offsets)  # (B, H, N)
    return sharpen(shifted, gamma)  # (B, H, N)
