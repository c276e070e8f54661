"""One DNC memory-access step as ONE autograd node (Graves et al. 2016, Methods).

At copy sizes (N = W = 16, batch 16) a DNC step is about a hundred tiny autograd nodes
(the interface's splits and activations, the read modes' broadcasts, each equation's op), and
their per-node overhead, not their arithmetic, is the step's cost. :class:`_FusedAccess` runs
the whole access of :class:`memnets.models.dnc_access.MemoryAccess`, from the raw interface vector
ξ̂_t to the read words r_t, in the paper's order, with the hand-written backward halves of
:mod:`memnets.ops` chained in reverse, plus the few equations in between written out here:

    ξ_t activations: β = oneplus(β̂), e, f, g^a, g^w = σ(·), π = softmax(π̂)  (Methods, "Interface")
    ψ_t = Π_i (1 − f^i w^{r,i}_{t−1}),  u_t = (u_{t−1} + w^w_{t−1} − u_{t−1} ∘ w^w_{t−1}) ∘ ψ_t
    w^w_t = g^w [g^a a_t + (1 − g^a) c^w_t]
    p_t = (1 − Σ_i w^w_t[i]) p_{t−1} + w^w_t
    w^{r,i}_t = π^i[1] b^i_t + π^i[2] c^{r,i}_t + π^i[3] f^i_t,  b = Lᵀ w^r_{t−1}, f = L w^r_{t−1}
    r^i_t = M_tᵀ w^{r,i}_t

It covers the paper's configuration: one write head, cosine content lookup, sorted
allocation, dense link matrix, no Csordás-Schmidhuber switches. Every other configuration
takes the per-op path of ``MemoryAccess``; ``fast_path=False`` is the plain-autograd
reference, and tests hold the three equal in values and gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from memnets.ops.allocation import (
    exclusive_cumprod,
    sorted_allocation_backward,
    sorted_allocation_forward,
)
from memnets.ops.content import cosine_content_backward, cosine_content_forward
from memnets.ops.linkage import link_update_backward, link_update_forward
from memnets.ops.memory import erase_write_backward, erase_write_forward

EPS = 1e-6  # the content lookup's and the allocation's ε (their functions' defaults)


def interface_sizes(num_reads: int, word_size: int) -> tuple[int, int, int, int]:
    """Widths of ξ̂_t's activation groups for one write head, in
    :class:`memnets.models.dnc_access.InterfaceLayer`'s layout: linear [k^r, k^w, v], oneplus
    [β^r, β^w], sigmoid [e, f, g^a, g^w], softmax [π] (R × 3: backward, content, forward)."""
    R, W = num_reads, word_size
    return R * W + 2 * W, R + 1, W + R + 2, 3 * R


def _exclusive_products(x: Tensor) -> Tensor:
    """Π_{s≠r} x_s along dim 1 for every r, without division (a factor may be 0).
    x (B, R, N) -> (B, R, N)."""
    if x.shape[1] == 1:
        return torch.ones_like(x)
    before = exclusive_cumprod(x, dim=1)  # Π_{s<r}
    after = exclusive_cumprod(x.flip(1), dim=1).flip(1)  # Π_{s>r}
    return before * after


class _FusedAccess(torch.autograd.Function):
    """ξ̂_t (clipped inside) and the access state -> r_t, the new state and diagnostics."""

    @staticmethod
    def forward(ctx, xi, memory, usage, link, precedence, read_weights, write_weights,
                num_reads: int, clip: float | None):
        B, R, W = xi.shape[0], num_reads, memory.shape[-1]
        raw = xi.clamp(-clip, clip) if clip else xi  # (B, |ξ|)
        linear, one_raw, sig_raw, mode_raw = raw.split(interface_sizes(R, W), dim=-1)
        strengths = 1.0 + F.softplus(one_raw)  # (B, R + 1) β^r, β^w
        gates = torch.sigmoid(sig_raw)  # (B, W + R + 2) e, f, g^a, g^w
        modes = torch.softmax(mode_raw.view(B, R, 3), dim=-1)  # (B, R, 3) π
        read_keys = linear[:, : R * W].view(B, R, W)
        write_key = linear[:, R * W : (R + 1) * W].view(B, 1, W)
        write_vector = linear[:, (R + 1) * W :].view(B, 1, W)
        erase = gates[:, :W].view(B, 1, W)
        free, alloc_gate, write_gate = gates[:, W : W + R], gates[:, -2:-1], gates[:, -1:]

        # 1. Retention and usage from the previous weightings.
        keep = 1.0 - free.unsqueeze(-1) * read_weights  # (B, R, N)
        psi = keep.prod(1)  # (B, N) ψ
        prev_write = write_weights[:, 0]  # (B, N)
        held = usage + prev_write - usage * prev_write  # (B, N)
        new_usage = held * psi  # (B, N)

        # 2. Write weighting, erase and write.
        content_w, saved_cw = cosine_content_forward(memory, write_key, strengths[:, R:], EPS)
        alloc, saved_alloc = sorted_allocation_forward(new_usage, EPS)  # (B, N)
        mix = torch.lerp(content_w[:, 0], alloc, alloc_gate)  # (B, N) g^a a + (1 − g^a) c^w
        new_write = (write_gate * mix).unsqueeze(1)  # (B, 1, N) w^w_t
        new_memory = erase_write_forward(memory, new_write, erase, write_vector)  # (B, N, W)

        # 3. Temporal links (L_t uses p_{t−1}) and precedence.
        new_link = link_update_forward(link, precedence, new_write)  # (B, 1, N, N)
        new_precedence = torch.addcmul(new_write, 1.0 - new_write.sum(-1, keepdim=True),
                                       precedence)  # (B, 1, N)

        # 4. Read weightings from the three modes, then read.
        content_r, saved_cr = cosine_content_forward(new_memory, read_keys, strengths[:, :R], EPS)
        L = new_link[:, 0]  # (B, N, N)
        read_t = read_weights.transpose(1, 2)  # (B, N, R)
        directions = torch.stack(  # f as (L w^rᵀ)ᵀ: a matmul never reads L transposed (slow)
            [torch.bmm(read_weights, L), content_r, torch.bmm(L, read_t).transpose(1, 2)], dim=2,
        )  # (B, R, 3, N): b, c^r, f
        new_read = (directions * modes.unsqueeze(-1)).sum(2)  # (B, R, N)
        reads = torch.bmm(new_read, new_memory)  # (B, R, W)

        ctx.clip, ctx.sizes = clip, (len(saved_cw), len(saved_alloc), len(saved_cr))
        ctx.save_for_backward(
            xi, raw, strengths, gates, modes, read_weights, keep, psi, held, usage, prev_write,
            content_w, alloc, mix, memory, new_write, erase, write_vector, link, precedence,
            new_link, directions, new_read, new_memory, *saved_cw, *saved_alloc, *saved_cr,
        )
        ctx.set_materialize_grads(False)  # no zero tensors for unused outputs (diagnostics)
        outputs = (reads, new_memory, new_usage, new_link, new_precedence, new_read, new_write)
        ctx.shapes = [t.shape for t in outputs]
        return *outputs, alloc.unsqueeze(1), modes, gates

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        g_alloc_out, g_modes_out, g_gates_out = grads[7:]  # the diagnostics' (usually None)
        (xi, raw, strengths, gates, modes, read_weights, keep, psi, held, usage, prev_write,
         content_w, alloc, mix, memory, new_write, erase, write_vector, link, precedence,
         new_link, directions, new_read, new_memory, *rest) = ctx.saved_tensors
        g_reads, g_memory, g_usage, g_link, g_precedence, g_read, g_write = (
            xi.new_zeros(shape) if g is None else g  # None: that output was not used
            for g, shape in zip(grads[:7], ctx.shapes, strict=True))
        n_cw, n_alloc, _ = ctx.sizes
        saved_cw, saved_alloc = rest[:n_cw], rest[n_cw : n_cw + n_alloc]
        saved_cr = rest[n_cw + n_alloc :]
        R, W = modes.shape[1], memory.shape[-1]

        # 4. r = w^r M_t; w^r = Σ_m π_m d_m; b = w^r_{t−1} L, f = w^r_{t−1} Lᵀ; c^r on M_t.
        g_read = torch.baddbmm(g_read, g_reads, new_memory.transpose(1, 2))  # (B, R, N)
        g_memory = torch.baddbmm(g_memory, new_read.transpose(1, 2), g_reads)  # (B, N, W)
        g_modes = torch.matmul(directions, g_read.unsqueeze(-1)).squeeze(-1)  # (B, R, 3)
        if g_modes_out is not None:
            g_modes = g_modes + g_modes_out
        g_back, g_content_r, g_fwd = (modes.unsqueeze(-1) * g_read.unsqueeze(2)).unbind(2)
        L = new_link[:, 0]
        g_L = torch.baddbmm(
            g_link[:, 0], torch.cat([read_weights, g_fwd], 1).transpose(1, 2),
            torch.cat([g_back, read_weights], 1),
        )  # (B, N, N): + w^r_{t−1}ᵀ ∂b + ∂fᵀ w^r_{t−1} in one pass over N × N
        g_prev_read = torch.baddbmm(  # ∂b Lᵀ + ∂f L, the first as (L ∂bᵀ)ᵀ
            torch.bmm(L, g_back.transpose(1, 2)).transpose(1, 2), g_fwd, L)  # (B, R, N)
        g_mem_r, g_read_keys, g_read_beta = cosine_content_backward(saved_cr, g_content_r)
        g_memory = g_memory + g_mem_r

        # 3. Precedence and links.
        g_prec = g_precedence * (1.0 - new_write.sum(-1, keepdim=True))  # (B, 1, N)
        g_ww = g_write + g_precedence - (g_precedence * precedence).sum(-1, keepdim=True)
        g_prev_link, g_prec_l, g_ww_l = link_update_backward(
            (link, precedence, new_write), g_L.unsqueeze(1), fresh=True)
        g_prec = g_prec + g_prec_l
        g_ww = g_ww + g_ww_l

        # 2. Erase and write, the write weighting's mix, allocation, write content.
        g_old, g_ww_e, g_erase, g_vector = erase_write_backward(
            (memory, new_write, erase, write_vector), g_memory)
        g_ww = (g_ww + g_ww_e)[:, 0]  # (B, N)
        alloc_gate, write_gate = gates[:, -2:-1], gates[:, -1:]
        g_mix = g_ww * write_gate  # (B, N)
        g_write_gate = (g_ww * mix).sum(-1, keepdim=True)  # (B, 1)
        g_alloc = g_mix * alloc_gate
        if g_alloc_out is not None:
            g_alloc = g_alloc + g_alloc_out[:, 0]
        g_alloc_gate = (g_mix * (alloc - content_w[:, 0])).sum(-1, keepdim=True)  # (B, 1)
        g_usage = g_usage + sorted_allocation_backward(saved_alloc, g_alloc, EPS)
        g_old_c, g_write_key, g_write_beta = cosine_content_backward(
            saved_cw, (g_mix * (1.0 - alloc_gate)).unsqueeze(1))  # ∂c^w = (1 − g^a) ∂mix
        g_old = g_old + g_old_c

        # 1. Usage and retention.
        g_held = g_usage * psi
        g_prev_usage = g_held * (1.0 - prev_write)
        g_prev_write = (g_held * (1.0 - usage)).unsqueeze(1)  # (B, 1, N)
        g_keep = (g_usage * held).unsqueeze(1) * _exclusive_products(keep)  # (B, R, N)
        free = gates[:, W : W + R]
        g_free = -torch.linalg.vecdot(g_keep, read_weights)  # (B, R)
        g_prev_read = torch.addcmul(g_prev_read, g_keep, free.unsqueeze(-1), value=-1.0)

        # ξ̂_t: the activations' derivatives, then the clip.
        B = xi.shape[0]
        g_xi = torch.cat([
            g_read_keys.reshape(B, -1), g_write_key.reshape(B, -1), g_vector.reshape(B, -1),
            torch.cat([g_read_beta, g_write_beta], 1)
            * -torch.expm1(1.0 - strengths),  # oneplus' = σ(x) = 1 − e^{−softplus(x)}
            (torch.cat([g_erase.reshape(B, -1), g_free, g_alloc_gate, g_write_gate], 1)
             + (0.0 if g_gates_out is None else g_gates_out)) * gates * (1.0 - gates),
            torch._softmax_backward_data(g_modes, modes, -1, modes.dtype).reshape(B, -1),
        ], dim=1)  # (B, |ξ|)
        if ctx.clip:  # clamp passes the gradient where it left ξ̂ unchanged (|ξ̂| ≤ clip)
            g_xi = g_xi.masked_fill_(raw != xi, 0.0)
        return (g_xi, g_old, g_prev_usage, g_prev_link, g_prec, g_prev_read, g_prev_write,
                None, None)


def fused_access(xi: Tensor, memory: Tensor, usage: Tensor, link: Tensor, precedence: Tensor,
                 read_weights: Tensor, write_weights: Tensor, num_reads: int,
                 clip: float | None) -> tuple[Tensor, ...]:
    """One access step as one node. xi (B, |ξ|) raw (before clip and activations); state
    M (B, N, W), u (B, N), L (B, 1, N, N), p (B, 1, N), w^r (B, R, N), w^w (B, 1, N)
    -> r (B, R, W), M_t, u_t, L_t, p_t, w^r_t, w^w_t, and the diagnostics a_t (B, 1, N),
    π (B, R, 3), gates (B, W + R + 2) = [e, f, g^a, g^w] (differentiable too, like the per-op
    path's; torch.compile of a node with non-differentiable outputs failed on torch 2.11)."""
    return _FusedAccess.apply(xi, memory, usage, link, precedence, read_weights, write_weights,
                              num_reads, clip)
