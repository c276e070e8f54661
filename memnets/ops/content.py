"""Content-based addressing (Graves et al. 2016, Methods "Content-based addressing").

    C(M, k, β)[i] = exp(D(k, M[i,·]) β) / Σ_j exp(D(k, M[j,·]) β)

with D the cosine similarity in the paper. Shared by the DNC and the NTM (Graves et al. 2014,
eq. 5-6, which is the same softmax over cosine similarities).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

DISTANCES = ("cosine", "euclidean", "manhattan", "dot")


def _squared_norms(x: Tensor, mask_sq: Tensor | None) -> Tensor:
    """Σ_w m_w² x_w² for each row. x (B, H, W) -> (B, H) or memory (B, N, W) with
    mask_sq (B, H, W) -> (B, H, N)."""
    if mask_sq is None:
        return (x * x).sum(dim=-1)
    return torch.bmm(mask_sq, (x * x).transpose(1, 2))


def similarity(
    memory: Tensor,
    keys: Tensor,
    *,
    distance: str = "cosine",
    mask: Tensor | None = None,
    eps: float = 1e-6,
) -> Tensor:
    """D(k_h, M[i]) for every head and slot: memory (B, N, W), keys (B, H, W) -> (B, H, N).

    - ``cosine`` (the paper): k·M[i] / (|k| |M[i]|), with |x| = sqrt(Σ x² + eps) so that an
      all-zero row gives a finite value and a finite gradient (an erased slot scores 0).
    - ``euclidean``: −|k − M[i]|₂, computed as −sqrt(max(|k|² − 2 k·M[i] + |M[i]|², 0) + eps²)
      (batched matmuls; the eps² guards the infinite gradient of the norm at 0).
    - ``manhattan``: −Σ_w |k_w − M[i,w]| (``torch.cdist`` p=1; needs a (B, H, N, W)
      difference when masked).
    - ``dot``: k·M[i] (unnormalised, as in memory-network attention).

    ``mask`` (B, H, W) in [0, 1] multiplies both the key and every memory row before the
    comparison (Csordás & Schmidhuber 2019, masked content lookup: D(k∘m, M[i]∘m)).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r}; expected one of {DISTANCES}")
    if distance == "manhattan":
        if mask is None:
            return -torch.cdist(keys, memory, p=1.0)  # (B, H, N)
        masked_memory = memory.unsqueeze(1) * mask.unsqueeze(2)  # (B, H, N, W)
        masked_keys = (keys * mask).unsqueeze(2)  # (B, H, 1, W)
        return -(masked_keys - masked_memory).abs().sum(dim=-1)  # (B, H, N)

    mask_sq = None if mask is None else mask * mask  # (B, H, W)
    weighted_keys = keys if mask_sq is None else keys * mask_sq  # (B, H, W)
    dot = torch.bmm(weighted_keys, memory.transpose(1, 2))  # (B, H, N): (k∘m)·(M[i]∘m)
    if distance == "dot":
        return dot
    key_sq = _squared_norms(keys, None) if mask_sq is None else (weighted_keys * keys).sum(-1)
    memory_sq = _squared_norms(memory, mask_sq)  # (B, N) or (B, H, N)
    if mask_sq is None:
        memory_sq = memory_sq.unsqueeze(1)  # (B, 1, N)
    if distance == "cosine":
        norms = torch.sqrt(key_sq + eps).unsqueeze(-1) * torch.sqrt(memory_sq + eps)  # (B, H, N)
        return dot / norms
    squared = (key_sq.unsqueeze(-1) - 2.0 * dot + memory_sq).clamp_min(0.0)  # (B, H, N)
    return -torch.sqrt(squared + eps * eps)


def cosine_content_forward(
    memory: Tensor, keys: Tensor, strengths: Tensor, eps: float = 1e-6
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Unmasked cosine C(M, k, β) and what :func:`cosine_content_backward` needs.

    memory (B, N, W), keys (B, H, W), strengths (B, H) -> weights (B, H, N), saved tensors.
    With a = β/|k|, m_i = 1/|M[i]| (|x| = sqrt(Σx² + ε)): d_i = a k·M[i], c = softmax(d ∘ m).
    """
    inv_key = torch.rsqrt(torch.linalg.vecdot(keys, keys) + eps)  # (B, H) 1/|k|
    scale = strengths * inv_key  # (B, H) a
    inv_mem = torch.rsqrt(torch.linalg.vecdot(memory, memory) + eps).unsqueeze(1)  # (B, 1, N)
    dots = torch.bmm(keys, memory.transpose(1, 2)) * scale.unsqueeze(-1)  # (B, H, N) d
    weights = torch.softmax(dots * inv_mem, dim=-1)  # (B, H, N)
    return weights, (memory, keys, strengths, inv_key, scale, inv_mem, dots, weights)


def cosine_content_backward(
    saved: tuple[Tensor, ...], grad: Tensor, needs: tuple[bool, bool, bool] = (True, True, True)
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of :func:`cosine_content_forward` for (memory, keys, strengths) from
    G = ∂L/∂c (B, H, N), each None where ``needs`` is False. With ∂z = c ∘ (G − Σ G c),
    ∂d = ∂z ∘ m and u = (∂d M)·k:

        ∂M[i] = Σ_h ∂d_{h,i} a_h k_h − m_i³ (Σ_h ∂z_{h,i} d_{h,i}) M[i]
        ∂k = a (∂d M − u k / |k|²),   ∂β = u / |k|
    """
    memory, keys, strengths, inv_key, scale, inv_mem, dots, weights = saved
    grad_z = torch._softmax_backward_data(grad, weights, -1, weights.dtype)  # (B, H, N)
    grad_d = grad_z * inv_mem  # (B, H, N)
    grad_memory = grad_keys = grad_strengths = None
    if needs[0]:
        norm_term = torch.linalg.vecdot(grad_z, dots, dim=1) * inv_mem.squeeze(1).pow(3)  # (B, N)
        grad_memory = torch.bmm((grad_d * scale.unsqueeze(-1)).transpose(1, 2), keys)  # (B, N, W)
        grad_memory.sub_(memory * norm_term.unsqueeze(-1))
    if needs[1] or needs[2]:
        grad_dir = torch.bmm(grad_d, memory)  # (B, H, W) ∂d M
        along = torch.linalg.vecdot(grad_dir, keys)  # (B, H) u
        if needs[2]:
            grad_strengths = along * inv_key
        if needs[1]:
            grad_keys = torch.addcmul(
                grad_dir, keys, (along * inv_key * inv_key).unsqueeze(-1), value=-1.0
            ) * scale.unsqueeze(-1)
    return grad_memory, grad_keys, grad_strengths


class _CosineContent(torch.autograd.Function):
    """:func:`cosine_content_forward` as one autograd node with its hand-written backward (the
    plain composition makes about a dozen; at NTM / copy-DNC sizes per-op overhead dominates)."""

    @staticmethod
    def forward(ctx, memory: Tensor, keys: Tensor, strengths: Tensor, eps: float) -> Tensor:
        weights, saved = cosine_content_forward(memory, keys, strengths, eps)
        ctx.save_for_backward(*saved)
        return weights

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        return *cosine_content_backward(ctx.saved_tensors, grad, ctx.needs_input_grad[:3]), None


def content_weights(
    memory: Tensor,
    keys: Tensor,
    strengths: Tensor,
    *,
    distance: str = "cosine",
    mask: Tensor | None = None,
    eps: float = 1e-6,
    fused: bool = True,
) -> Tensor:
    """Content weighting C(M, k, β): a softmax over slots of β · D(k, M[i]).

    memory (B, N, W), keys (B, H, W), strengths β (B, H), mask (B, H, W) or None
    -> weightings (B, H, N), each row on the simplex. Graves et al. 2016, Methods eq. for
    C(M, k, β); distances other than cosine and the mask are the extensions described in
    :func:`similarity` (for a true distance the similarity is the negated distance).
    Unmasked cosine takes a hand-written backward (first-order gradients only);
    ``fused=False`` is its plain-autograd reference (a test holds both equal).
    """
    if distance == "cosine" and mask is None:
        if fused:
            return _CosineContent.apply(memory, keys, strengths, eps)
        # β folded into the normalised keys, the memory norms applied to the (B, H, N)
        # scores, so autograd keeps no normalised copy of the (B, N, W) memory.
        key_scale = strengths * torch.rsqrt((keys * keys).sum(-1) + eps)  # (B, H)
        memory_scale = torch.rsqrt((memory * memory).sum(-1) + eps)  # (B, N)
        dots = torch.bmm(keys * key_scale.unsqueeze(-1), memory.transpose(1, 2))  # (B, H, N)
        return torch.softmax(dots * memory_scale.unsqueeze(1), dim=-1)
    sim = similarity(memory, keys, distance=distance, mask=mask, eps=eps)  # (B, H, N)
    return torch.softmax(sim * strengths.unsqueeze(-1), dim=-1)
