"""The DNC's memory access: interface vector -> write, link, read (Graves et al. 2016, Methods).

``InterfaceLayer`` turns the controller output into a :class:`DNCInterface` (ξ_t with the paper's
activations); ``MemoryAccess`` applies it to an :class:`AccessState` in the paper's order:

1. retention ψ_t and usage u_t from the previous read/write weightings;
2. write weighting w^w_t = g^w [g^a a_t + (1 − g^a) c^w_t], then erase and write;
3. link L_t and precedence p_t from w^w_t (L_t uses p_{t−1});
4. read weighting w^{r,i}_t = π^i[1] b^i_t + π^i[2] c^{r,i}_t + π^i[3] f^i_t, then read.

Optional switches from Csordás & Schmidhuber 2019 ("Improving differentiable neural computers
through memory masking, de-allocation, and link distribution sharpness control"), all off by
default: ``content_masking`` (masked content lookup), ``dealloc_wipe`` (de-allocation erases:
M ← M ∘ ψ) and ``link_sharpness`` (sharpened f and b).

``sparse_link_k`` = K switches step 3 to the paper's sparse link matrix (Methods, "Sparse link
matrix", :mod:`memnets.ops.sparse_link`): ``AccessState.link`` then holds K (value, column)
pairs per row; with ``fast_path=False`` it is the dense-storage reference of the same
approximation instead.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memnets.ops.allocation import ALLOCATION_MODES, allocate_heads, retention, update_usage
from memnets.ops.content import DISTANCES, content_weights
from memnets.ops.linkage import directional_read_weights, update_link, update_precedence
from memnets.ops.memory import erase_and_write, read_memory
from memnets.ops.sparse_link import (
    SparseLink,
    empty_sparse_link,
    sparse_directional_read_weights,
    sparse_link_reference,
    update_sparse_link,
)


class DNCInterface(NamedTuple):
    """ξ_t after the paper's activations. Hw write heads (the paper has Hw = 1)."""

    read_keys: Tensor  # (B, R, W)      k^{r,i}
    read_strengths: Tensor  # (B, R)    β^{r,i} = oneplus(β̂) ≥ 1
    write_key: Tensor  # (B, Hw, W)     k^w
    write_strength: Tensor  # (B, Hw)   β^w ≥ 1
    erase_vector: Tensor  # (B, Hw, W)  e = σ(ê)
    write_vector: Tensor  # (B, Hw, W)  v
    free_gates: Tensor  # (B, R)        f^i = σ(f̂^i)
    allocation_gate: Tensor  # (B, Hw)  g^a = σ(ĝ^a)
    write_gate: Tensor  # (B, Hw)       g^w = σ(ĝ^w)
    read_modes: Tensor  # (B, R, 1 + 2 Hw) softmax over [backward_1..Hw, content, forward_1..Hw]
    read_masks: Tensor | None = None  # (B, R, W) in [mask_min, 1] (content_masking)
    write_mask: Tensor | None = None  # (B, Hw, W)
    forward_sharpness: Tensor | None = None  # (B, R, Hw) ≥ 1 (link_sharpness)
    backward_sharpness: Tensor | None = None  # (B, R, Hw) ≥ 1


class AccessState(NamedTuple):
    memory: Tensor  # (B, N, W)        M_t
    usage: Tensor  # (B, N)            u_t
    link: Tensor | SparseLink  # (B, Hw, N, N) L_t; sparse_link_k: 2 × (B, Hw, N, K) pairs
    precedence: Tensor  # (B, Hw, N)   p_t
    read_weights: Tensor  # (B, R, N)  w^r_t
    write_weights: Tensor  # (B, Hw, N) w^w_t


class AccessDiagnostics(NamedTuple):
    """What the access did this step, kept explicit for traces and memory pictures."""

    allocation: Tensor  # (B, Hw, N)   a_t
    read_modes: Tensor  # (B, R, 1 + 2 Hw)
    write_gate: Tensor  # (B, Hw)
    allocation_gate: Tensor  # (B, Hw)
    free_gates: Tensor  # (B, R)


def oneplus(x: Tensor) -> Tensor:
    """oneplus(x) = 1 + log(1 + eˣ) ∈ [1, ∞) (Graves et al. 2016, Methods)."""
    return 1.0 + F.softplus(x)


class InterfaceLayer(nn.Module):
    """One linear map from the controller output to ξ_t, split and activated into a
    :class:`DNCInterface`. ``clip`` bounds the raw ξ̂_t to [−clip, clip] before activations.

    The fields of ξ_t are laid out grouped by activation (linear; oneplus; sigmoid; masks;
    read modes), a permutation of the paper's order that lets each activation run once per step.
    """

    def __init__(
        self,
        in_features: int,
        *,
        word_size: int,
        num_reads: int,
        num_writes: int,
        content_masking: bool = False,
        mask_min: float = 0.0,
        link_sharpness: bool = False,
        clip: float | None = None,
    ) -> None:
        super().__init__()
        W, R, Hw = word_size, num_reads, num_writes
        groups: dict[str, dict[str, tuple[int, ...]]] = {
            "linear": {"read_keys": (R, W), "write_key": (Hw, W), "write_vector": (Hw, W)},
            "oneplus": {"read_strengths": (R,), "write_strength": (Hw,)},
            "sigmoid": {"erase_vector": (Hw, W), "free_gates": (R,), "allocation_gate": (Hw,),
                        "write_gate": (Hw,)},
            "mask": {},
            "softmax": {"read_modes": (R, 1 + 2 * Hw)},
        }
        if link_sharpness:
            groups["oneplus"].update(forward_sharpness=(R, Hw), backward_sharpness=(R, Hw))
        if content_masking:
            groups["mask"].update(read_masks=(R, W), write_mask=(Hw, W))
        self.groups = {g: fields for g, fields in groups.items() if fields}
        self.field_sizes = {
            g: [math.prod(shape) for shape in fields.values()] for g, fields in self.groups.items()
        }
        self.group_sizes = [sum(sizes) for sizes in self.field_sizes.values()]
        self.mask_min = mask_min
        self.clip = clip
        self.linear = nn.Linear(in_features, sum(self.group_sizes))

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, h: Tensor) -> DNCInterface:
        """h (B, hidden) -> DNCInterface."""
        xi = self.linear(h)  # (B, |ξ|)
        if self.clip:
            xi = xi.clamp(-self.clip, self.clip)
        parts: dict[str, Tensor] = {}
        for (group, fields), raw in zip(
            self.groups.items(), xi.split(self.group_sizes, dim=-1), strict=True
        ):
            if group == "oneplus":
                raw = oneplus(raw)
            elif group == "sigmoid":
                raw = torch.sigmoid(raw)
            elif group == "mask":
                raw = self.mask_min + (1.0 - self.mask_min) * torch.sigmoid(raw)
            chunks = raw.split(self.field_sizes[group], dim=-1)
            for (name, shape), chunk in zip(fields.items(), chunks, strict=True):
                parts[name] = chunk.unflatten(-1, shape)
        parts["read_modes"] = torch.softmax(parts["read_modes"], dim=-1)  # over the 1 + 2 Hw modes
        return DNCInterface(**parts)


class MemoryAccess(nn.Module):
    """Parameter-free DNC memory access: ``(interface, state) -> (read words, state, diag)``.

    A module only to hold its settings; every equation lives in :mod:`memnets.ops`.
    """

    def __init__(
        self,
        *,
        memory_size: int,
        word_size: int,
        num_reads: int,
        num_writes: int = 1,
        distance: str = "cosine",
        allocation: str = "sorted",
        allocation_beta: float = 10.0,
        dealloc_wipe: bool = False,
        fast_path: bool = True,
        sparse_link_k: int | None = None,
    ) -> None:
        super().__init__()
        if sparse_link_k is not None and sparse_link_k < 1:
            raise ValueError(f"sparse_link_k={sparse_link_k}; expected null (dense) or K >= 1")
        if distance not in DISTANCES:
            raise ValueError(f"distance={distance!r}; expected one of {DISTANCES}")
        if allocation not in ALLOCATION_MODES:
            raise ValueError(f"allocation={allocation!r}; expected one of {ALLOCATION_MODES}")
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        self.distance = distance
        self.allocation = allocation
        self.allocation_beta = allocation_beta
        self.dealloc_wipe = dealloc_wipe
        self.fast_path = fast_path  # hand-written backwards (same maths) | plain autograd
        self.sparse_link_k = sparse_link_k  # K of the sparse link matrix | None = dense

    @property
    def row_sparse_link(self) -> bool:
        """Whether ``AccessState.link`` is a :class:`SparseLink` (else a dense matrix)."""
        return self.sparse_link_k is not None and self.fast_path

    def initial_state(
        self, batch_size: int, device: torch.device, dtype: torch.dtype
    ) -> AccessState:
        B, N, W, R, Hw = (batch_size, self.memory_size, self.word_size, self.num_reads,
                          self.num_writes)
        zeros = dict(device=device, dtype=dtype)
        if self.row_sparse_link:
            link = empty_sparse_link(B, Hw, N, self.sparse_link_k, **zeros)
        else:
            link = torch.zeros(B, Hw, N, N, **zeros)
        return AccessState(
            memory=torch.zeros(B, N, W, **zeros),
            usage=torch.zeros(B, N, **zeros),
            link=link,
            precedence=torch.zeros(B, Hw, N, **zeros),
            read_weights=torch.zeros(B, R, N, **zeros),
            write_weights=torch.zeros(B, Hw, N, **zeros),
        )

    def forward(
        self, xi: DNCInterface, state: AccessState
    ) -> tuple[Tensor, AccessState, AccessDiagnostics]:
        """One access step. Returns read words (B, R, W), the new state and diagnostics."""
        Hw = self.num_writes
        # 1. Usage from the previous step's weightings.
        psi = retention(xi.free_gates, state.read_weights)  # (B, N)
        usage = update_usage(state.usage, state.write_weights, psi)  # (B, N)
        memory = state.memory
        if self.dealloc_wipe:
            memory = memory * psi.unsqueeze(-1)  # freed slots are erased too (Csordás 2019)

        # 2. Write weighting, then erase and write.
        write_content = content_weights(
            memory, xi.write_key, xi.write_strength, distance=self.distance, mask=xi.write_mask,
            fused=self.fast_path,
        )  # (B, Hw, N)
        alloc = allocate_heads(
            usage, xi.write_gate, mode=self.allocation, beta=self.allocation_beta,
            fused=self.fast_path,
        )  # (B, Hw, N)
        g_a = xi.allocation_gate.unsqueeze(-1)  # (B, Hw, 1)
        write_weights = xi.write_gate.unsqueeze(-1) * (
            g_a * alloc + (1.0 - g_a) * write_content
        )  # (B, Hw, N)
        memory = erase_and_write(
            memory, write_weights, xi.erase_vector, xi.write_vector, fused=self.fast_path
        )  # (B, N, W)

        # 3. Temporal links (L_t uses p_{t−1}).
        link = self._update_link(state.link, state.precedence, write_weights)
        precedence = update_precedence(state.precedence, write_weights)  # (B, Hw, N)

        # 4. Read weighting: backward, content and forward modes, then read.
        read_content = content_weights(
            memory, xi.read_keys, xi.read_strengths, distance=self.distance, mask=xi.read_masks,
            fused=self.fast_path,
        )  # (B, R, N)
        read_link = (sparse_directional_read_weights if self.row_sparse_link
                     else directional_read_weights)
        forward_w = read_link(link, state.read_weights, True, xi.forward_sharpness)  # (B,R,Hw,N)
        backward_w = read_link(link, state.read_weights, False, xi.backward_sharpness)
        modes = xi.read_modes  # (B, R, 1 + 2 Hw)
        read_weights = (
            torch.matmul(modes[:, :, None, :Hw], backward_w).squeeze(2)
            + modes[:, :, Hw : Hw + 1] * read_content
            + torch.matmul(modes[:, :, None, Hw + 1 :], forward_w).squeeze(2)
        )  # (B, R, N)
        read_words = read_memory(memory, read_weights)  # (B, R, W)

        new_state = AccessState(memory, usage, link, precedence, read_weights, write_weights)
        diagnostics = AccessDiagnostics(
            allocation=alloc, read_modes=modes, write_gate=xi.write_gate,
            allocation_gate=xi.allocation_gate, free_gates=xi.free_gates,
        )
        return read_words, new_state, diagnostics

    def _update_link(
        self, link: Tensor | SparseLink, prev_precedence: Tensor, write_weights: Tensor
    ) -> Tensor | SparseLink:
        """L_t (dense), or the sparse L̂_t in row-sparse or (reference) dense storage."""
        k = self.sparse_link_k
        if k is None:
            return update_link(link, prev_precedence, write_weights, fused=self.fast_path)
        if self.fast_path:
            return update_sparse_link(link, prev_precedence, write_weights, k)
        return sparse_link_reference(link, prev_precedence, write_weights, k)
