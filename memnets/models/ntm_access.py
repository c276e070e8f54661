"""The NTM's memory access (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §3.1-3.3).

:class:`HeadLayer` turns the controller output into every head's parameters; :func:`address`
is one head kind's addressing, content (eq. 5-6) then location (eq. 7-9); :func:`access` is one
step's memory access: the write heads address M_{t-1}, erase and add (eq. 3-4), the read heads
address M_t and read (eq. 2).

Speed: at NTM sizes a step is a few hundred tiny ops, and their per-op overhead (dispatch,
autograd nodes), not their arithmetic, is the cost. With one write head and cosine content,
the fast path runs the whole access as ONE autograd node whose backward chains the ops'
hand-written backwards (:mod:`memnets.ops`); elsewhere each op is its own fused node. The
plain-autograd composition stays as the reference (``fused=False``); tests hold them equal.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from memnets.ops.content import content_weights, cosine_content_backward, cosine_content_forward
from memnets.ops.memory import (
    erase_and_write,
    erase_write_backward,
    erase_write_forward,
    read_memory,
)
from memnets.ops.shift import location_address, location_backward, location_forward


class HeadParams(NamedTuple):
    """One head kind's parameters for every head of that kind (NTM §3.3)."""

    key: Tensor  # (B, H, W) k_t, linear (the paper puts no squashing on it)
    strength: Tensor  # (B, H) β_t = oneplus(·) ≥ 1
    gate: Tensor  # (B, H) g_t = sigmoid(·) in (0, 1)
    shift: Tensor  # (B, H, S) s_t = softmax(·) over the allowed shifts
    sharpen: Tensor  # (B, H) γ_t = 1 + softplus(·) ≥ 1
    erase: Tensor | None  # (B, H, W) e_t = sigmoid(·), write heads only
    add: Tensor | None  # (B, H, W) a_t, linear, write heads only


class PackedHeads(NamedTuple):
    """Every head's activated parameters in four tensors, one per activation, write heads first
    within each field (H = Hw + R heads); :func:`unpack_heads` cuts out the fields as views."""

    linear: Tensor  # (B, H·W + Hw·W)  k of every head, then a of the write heads
    sigmoid: Tensor  # (B, H + Hw·W)   g of every head, then e of the write heads
    oneplus: Tensor  # (B, 2H)         β of every head, then γ
    shift: Tensor  # (B, H, S)         s, a softmax over the allowed shifts


def unpack_heads(heads: PackedHeads, num_write_heads: int, word_size: int) -> tuple[HeadParams, HeadParams]:
    """:class:`PackedHeads` -> (write heads' :class:`HeadParams` with H = Hw, read heads' with
    H = R), every field a view of the packed tensors."""
    Hw, W = num_write_heads, word_size
    B, H, _ = heads.shift.shape
    key, add = heads.linear[:, : H * W].view(B, H, W), heads.linear[:, H * W :].view(B, Hw, W)
    gate, erase = heads.sigmoid[:, :H], heads.sigmoid[:, H:].view(B, Hw, W)
    strength, sharpen = heads.oneplus[:, :H], heads.oneplus[:, H:]
    write = HeadParams(
        key[:, :Hw], strength[:, :Hw], gate[:, :Hw], heads.shift[:, :Hw], sharpen[:, :Hw], erase, add
    )
    read = HeadParams(
        key[:, Hw:], strength[:, Hw:], gate[:, Hw:], heads.shift[:, Hw:], sharpen[:, Hw:], None, None
    )
    return write, read


class HeadLayer(nn.Module):
    """Controller output (B, Hc) -> :class:`PackedHeads` for the write and the read heads.

    One linear layer emits every head's raw parameters (the same maps as one layer per head:
    the rows are just stacked), laid out by activation so that each activation runs once per
    step over all heads: [k, a | g, e | β, γ | s] (see :class:`PackedHeads`). The paper's
    activations: k and a linear, g and e sigmoid, β and γ oneplus (1 + softplus), s softmax.
    """

    def __init__(
        self,
        controller_size: int,
        num_write_heads: int,
        num_read_heads: int,
        word_size: int,
        num_shifts: int,
    ) -> None:
        super().__init__()
        Hw, H, W, S = num_write_heads, num_write_heads + num_read_heads, word_size, num_shifts
        self.num_write_heads, self.num_heads, self.word_size, self.num_shifts = Hw, H, W, S
        self.groups = [H * W + Hw * W, H + Hw * W, 2 * H, H * S]  # linear | sigmoid | oneplus | softmax
        self.linear = nn.Linear(controller_size, sum(self.groups))

    def forward(self, h: Tensor) -> PackedHeads:
        """h (B, Hc) -> :class:`PackedHeads`."""
        linear, sigmoid, oneplus, shift = self.linear(h).split(self.groups, dim=-1)
        shift = torch.softmax(shift.unflatten(-1, (self.num_heads, self.num_shifts)), dim=-1)
        return PackedHeads(linear, torch.sigmoid(sigmoid), 1.0 + F.softplus(oneplus), shift)


def address(
    memory: Tensor,
    params: HeadParams,
    prev_weights: Tensor,
    offsets: Tensor,
    *,
    distance: str = "cosine",
    index: Tensor | None = None,
    fused: bool = True,
) -> Tensor:
    """One full NTM addressing step for H heads: content (eq. 5-6) then location (eq. 7-9).

    memory (B, N, W); params with key (B, H, W), β/g/γ (B, H), s (B, H, S);
    prev_weights (B, H, N) w_{t-1}; offsets (S,) (``index``: their precomputed
    :func:`~memnets.ops.shift.shift_index`) -> w_t (B, H, N). ``fused`` picks the hand-written
    backwards of the content and location ops (False: their plain-autograd references).
    """
    w_c = content_weights(memory, params.key, params.strength, distance=distance, fused=fused)  # (B, H, N)
    return location_address(
        w_c,
        prev_weights,
        params.gate,
        params.shift,
        params.sharpen,
        offsets,
        index=index,
        fused=fused,
    )


class _FusedAccess(torch.autograd.Function):
    """:func:`access` for one write head with cosine content as a single autograd node.

    Forward: the ops' forward halves in the paper's order; backward: their backward halves in
    reverse, the gradients of M_t and w^r_t collecting every use (the reads, the read heads'
    content lookup, the next step), then packed like the inputs (:class:`PackedHeads`).
    """

    @staticmethod
    def forward(ctx, memory, prev_write, prev_read, linear, sigmoid, oneplus, shift, index):
        write, read = unpack_heads(PackedHeads(linear, sigmoid, oneplus, shift), 1, memory.shape[-1])
        content_w, saved_cw = cosine_content_forward(memory, write.key, write.strength)  # (B, 1, N)
        write_weights, saved_lw = location_forward(
            content_w, prev_write, write.gate, write.shift, write.sharpen, index
        )  # (B, 1, N)
        new_memory = erase_write_forward(memory, write_weights, write.erase, write.add)  # (B, N, W)
        content_r, saved_cr = cosine_content_forward(new_memory, read.key, read.strength)  # (B, R, N)
        read_weights, saved_lr = location_forward(
            content_r, prev_read, read.gate, read.shift, read.sharpen, index
        )  # (B, R, N)
        reads = torch.bmm(read_weights, new_memory)  # (B, R, W)
        groups = (
            saved_cw,
            saved_lw,
            (memory, write_weights, write.erase, write.add),
            saved_cr,
            saved_lr,
            (new_memory, read_weights),
        )
        ctx.sizes = [len(g) for g in groups]
        ctx.save_for_backward(*(t for g in groups for t in g))
        return write_weights, new_memory, read_weights, reads

    @staticmethod
    @once_differentiable
    def backward(ctx, g_write, g_memory, g_read, g_reads):
        saved, groups = ctx.saved_tensors, []
        for size in ctx.sizes:
            groups.append(saved[:size])
            saved = saved[size:]
        saved_cw, saved_lw, saved_ew, saved_cr, saved_lr, (new_memory, read_weights) = groups
        n = ctx.needs_input_grad
        heads = any(n[3:7])
        # r = w^r M_t
        g_read = torch.baddbmm(g_read, g_reads, new_memory.transpose(1, 2))  # (B, R, N)
        g_memory = torch.baddbmm(g_memory, read_weights.transpose(1, 2), g_reads)  # (B, N, W)
        # read heads: location, then content on M_t
        g_content_r, g_prev_read, g_r_gate, g_r_shift, g_r_sharpen = location_backward(
            saved_lr, g_read, (True, n[2], heads, heads, heads)
        )
        g_mem_r, g_r_key, g_r_beta = cosine_content_backward(saved_cr, g_content_r, (True, heads, heads))
        g_memory = g_memory + g_mem_r
        # erase and add
        g_old, g_ww, g_erase, g_add = erase_write_backward(saved_ew, g_memory, (n[0], True, heads, heads))
        # write heads: location, then content on M_{t-1}
        g_content_w, g_prev_write, g_w_gate, g_w_shift, g_w_sharpen = location_backward(
            saved_lw, g_write + g_ww, (True, n[1], heads, heads, heads)
        )
        g_mem_w, g_w_key, g_w_beta = cosine_content_backward(saved_cw, g_content_w, (n[0], heads, heads))
        g_old = g_old + g_mem_w if n[0] else None
        if not heads:
            return g_old, g_prev_write, g_prev_read, None, None, None, None, None
        packed = (
            torch.cat([g_w_key.flatten(1), g_r_key.flatten(1), g_add.flatten(1)], dim=1),
            torch.cat([g_w_gate, g_r_gate, g_erase.flatten(1)], dim=1),
            torch.cat([g_w_beta, g_r_beta, g_w_sharpen, g_r_sharpen], dim=1),
            torch.cat([g_w_shift, g_r_shift], dim=1),
        )
        return g_old, g_prev_write, g_prev_read, *packed, None


def access(
    memory: Tensor,
    heads: PackedHeads,
    prev_write: Tensor,
    prev_read: Tensor,
    offsets: Tensor,
    *,
    index: Tensor | None = None,
    distance: str = "cosine",
    fused: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One step's memory access: write heads address M_{t-1} (eq. 5-9) and write (eq. 3-4),
    read heads address M_t and read (eq. 2).

    memory (B, N, W) M_{t-1}; heads of Hw write and R read heads; prev_write (B, Hw, N),
    prev_read (B, R, N); offsets (S,) and their :func:`~memnets.ops.shift.shift_index`
    -> w^w_t (B, Hw, N), M_t (B, N, W), w^r_t (B, R, N), r_t (B, R, W).
    ``fused`` with one write head, cosine content and a precomputed ``index``: one node
    (:class:`_FusedAccess`); otherwise per-op fused nodes; ``fused=False``: plain autograd.
    """
    Hw = prev_write.shape[1]
    if fused and distance == "cosine" and index is not None and Hw == 1:
        return _FusedAccess.apply(memory, prev_write, prev_read, *heads, index)
    write, read = unpack_heads(heads, Hw, memory.shape[-1])
    kw = dict(distance=distance, index=index, fused=fused)
    write_weights = address(memory, write, prev_write, offsets, **kw)  # (B, Hw, N)
    memory = erase_and_write(memory, write_weights, write.erase, write.add, fused=fused)
    read_weights = address(memory, read, prev_read, offsets, **kw)  # (B, R, N)
    return write_weights, memory, read_weights, read_memory(memory, read_weights)
