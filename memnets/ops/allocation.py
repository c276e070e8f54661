"""Dynamic memory allocation (Graves et al. 2016, Methods "Dynamic memory allocation").

    ψ_t = Π_i (1 − f_t^i w_{t−1}^{r,i})                          (retention)
    u_t = (u_{t−1} + w_{t−1}^w − u_{t−1} ∘ w_{t−1}^w) ∘ ψ_t       (usage)
    a_t[φ_t[j]] = (1 − u_t[φ_t[j]]) Π_{i<j} u_t[φ_t[i]]            (allocation, φ = free list)
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

ALLOCATION_MODES = ("sorted", "normalized", "softmax")


def retention(free_gates: Tensor, prev_read_weights: Tensor) -> Tensor:
    """Memory retention vector ψ_t = Π_i (1 − f^i w^{r,i}_{t−1}).

    free_gates f (B, R) in [0, 1], prev_read_weights (B, R, N) -> ψ (B, N) in [0, 1].
    """
    return torch.prod(1.0 - free_gates.unsqueeze(-1) * prev_read_weights, dim=1)


def update_usage(usage: Tensor, prev_write_weights: Tensor, retention: Tensor) -> Tensor:
    """u_t = (u_{t−1} + w^w_{t−1} − u_{t−1} ∘ w^w_{t−1}) ∘ ψ_t.

    usage (B, N), prev_write_weights (B, Hw, N), retention ψ (B, N) -> usage (B, N) in [0, 1].
    With several write heads their combined write is w = 1 − Π_h (1 − w_h) (the probability
    that some head wrote the slot); for one head w = w_1 and this is the paper's equation.
    """
    if prev_write_weights.shape[1] == 1:
        written = prev_write_weights[:, 0]  # (B, N)
    else:
        written = 1.0 - torch.prod(1.0 - prev_write_weights, dim=1)  # (B, N)
    return (usage + written - usage * written) * retention


def exclusive_cumprod(x: Tensor, dim: int = -1) -> Tensor:
    """[1, x_1, x_1 x_2, ..., x_1…x_{N−1}] along ``dim`` (the product of the entries before
    each one, without division). Same shape as x."""
    first = x.narrow(dim, 0, 1)
    shifted = torch.cat([torch.ones_like(first), x.narrow(dim, 0, x.shape[dim] - 1)], dim=dim)
    return torch.cumprod(shifted, dim=dim)


def _sorted_allocation_terms(usage: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The sorted allocation in free-list order: usage (B, N) -> x̂ = sorted squashed usage,
    φ (the free list, ascending), P_j = Π_{i<j} x̂_i and â_j = (1 − x̂_j) P_j, each (B, N)."""
    squashed = eps + (1.0 - eps) * usage  # (B, N)
    sorted_usage, free_list = torch.sort(squashed, dim=-1)  # ascending: φ
    prefix = exclusive_cumprod(sorted_usage)  # (B, N) P
    return sorted_usage, free_list, prefix, (1.0 - sorted_usage) * prefix


def sorted_allocation_forward(usage: Tensor, eps: float) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The sorted allocation a (B, N) of usage (B, N), and what
    :func:`sorted_allocation_backward` needs."""
    sorted_usage, free_list, prefix, sorted_alloc = _sorted_allocation_terms(usage, eps)
    alloc = torch.zeros_like(sorted_alloc).scatter_(-1, free_list, sorted_alloc)  # (B, N)
    return alloc, (sorted_usage, free_list, prefix, sorted_alloc)


def sorted_allocation_backward(saved: tuple[Tensor, ...], grad: Tensor, eps: float) -> Tensor:
    """∂u (B, N) from G = ∂L/∂a (B, N); the formula is in :class:`_SortedAllocation`."""
    sorted_usage, free_list, prefix, sorted_alloc = saved
    grad_sorted = grad.gather(-1, free_list)  # (B, N) G[φ]
    suffix = (grad_sorted * sorted_alloc).flip(-1).cumsum(-1).flip(-1)  # Σ_{k≥j}
    suffix = torch.cat([suffix[..., 1:], torch.zeros_like(suffix[..., :1])], dim=-1)  # Σ_{k>j}
    grad_x = (suffix / sorted_usage - grad_sorted * prefix) * (1.0 - eps)  # (B, N)
    return torch.zeros_like(grad_x).scatter_(-1, free_list, grad_x)


class _SortedAllocation(torch.autograd.Function):
    """The paper's sorted allocation on squashed usage x = ε + (1 − ε) u > 0, as one autograd
    node (plain autograd makes about eight, the cumprod's own backward a dozen ops). With the
    free list φ (ascending x), x̂ = x[φ], P_j = Π_{i<j} x̂_i and â_j = (1 − x̂_j) P_j:

        ∂x̂_j = (Σ_{k>j} G[φ_k] â_k) / x̂_j − G[φ_j] P_j,    ∂u = (1 − ε) ∂x scattered back by φ

    (every P_k with k > j holds the factor x̂_j ≥ ε, hence the division; the suffix sum is
    taken directly, never as a difference of prefix sums). As in the paper, no gradient
    flows through the sort itself.
    """

    @staticmethod
    def forward(ctx, usage: Tensor, eps: float) -> Tensor:
        alloc, saved = sorted_allocation_forward(usage, eps)
        ctx.save_for_backward(*saved)
        ctx.eps = eps
        return alloc

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        return sorted_allocation_backward(ctx.saved_tensors, grad, ctx.eps), None


def allocation_weights(
    usage: Tensor, *, mode: str = "sorted", beta: float = 10.0, eps: float = 1e-6, fused: bool = True
) -> Tensor:
    """Allocation weighting a_t over slots: usage (B, N) in [0, 1] -> a (B, N), a ≥ 0, Σa ≤ 1.

    - ``sorted`` (the paper): free list φ = slots by ascending usage;
      a[φ_j] = (1 − u[φ_j]) Π_{i<j} u[φ_i] (an exclusive cumulative product), scattered back
      to slot order. As in the paper, the gradient ignores the discontinuity of the sort (it
      flows through the sorted values only). As in DeepMind's released code, usage is first
      squashed to u ← eps + (1 − eps) u, so no factor of the product is exactly 0 and every
      slot keeps a non-zero gradient path through the product; this changes a by O(eps).
      Σa = 1 − Π u ≤ 1: a full memory allocates (almost) nothing. ``fused`` (default): one
      node with a hand-written backward (first-order only); False: plain autograd, the
      reference (a test holds both equal).
    - ``normalized`` (lecture notes, differentiable form 1): a_i = (1 − u_i) / (N − Σ_j u_j);
      sums to 1 whenever some slot is not fully used (the denominator is clamped to eps).
    - ``softmax`` (lecture notes, differentiable form 2): the notes write softmax((u − 1)·β_a),
      which with β_a > 0 puts the most weight on the MOST used slot, the opposite of the
      intent. We keep the intent, "prefer free slots": a = softmax((1 − u)·β_a), β_a = ``beta``
      > 0 (equal to softmax(−β_a u)). Always sums to 1, even when the memory is full.
    """
    if mode == "sorted":
        if fused:
            return _SortedAllocation.apply(usage, eps)
        _, free_list, _, sorted_alloc = _sorted_allocation_terms(usage, eps)  # autograd
        return torch.zeros_like(sorted_alloc).scatter(-1, free_list, sorted_alloc)
    if mode == "normalized":
        free = 1.0 - usage  # (B, N)
        return free / free.sum(dim=-1, keepdim=True).clamp_min(eps)
    if mode == "softmax":
        return torch.softmax((1.0 - usage) * beta, dim=-1)
    raise ValueError(f"allocation mode={mode!r}; expected one of {ALLOCATION_MODES}")


def allocate_heads(
    usage: Tensor, write_gates: Tensor, *, mode: str = "sorted", beta: float = 10.0, fused: bool = True
) -> Tensor:
    """Allocation weightings for several write heads, allocated in turn.

    usage (B, N), write_gates g^w (B, Hw) -> allocations (B, Hw, N). Head h sees the usage left
    after heads < h have (tentatively) written: u ← u + (1 − u) ∘ g^w_h a_h, so two heads do
    not both pick the same free slot. With one head this is ``allocation_weights(usage)``.
    The loop over heads is inherent (each depends on the previous one). ``fused``: see
    :func:`allocation_weights`.
    """
    allocations = []
    for h in range(write_gates.shape[1]):
        a = allocation_weights(usage, mode=mode, beta=beta, fused=fused)  # (B, N)
        allocations.append(a)
        if h + 1 < write_gates.shape[1]:
            usage = usage + (1.0 - usage) * write_gates[:, h : h + 1] * a
    return torch.stack(allocations, dim=1)
