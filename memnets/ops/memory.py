"""Reading and writing a memory matrix with weightings (Graves et al. 2016, Methods
"Reading and writing to memory"; the same equations as the NTM, Graves et al. 2014 eq. 2-4)."""

from __future__ import annotations

import torch
from torch import Tensor


def erase_and_write(
    memory: Tensor, write_weights: Tensor, erase: Tensor, write_vectors: Tensor
) -> Tensor:
    """M_t = M_{t−1} ∘ Π_h (E − w_h e_hᵀ) + Σ_h w_h v_hᵀ.

    memory (B, N, W), write_weights w (B, Hw, N), erase e (B, Hw, W) in [0, 1],
    write_vectors v (B, Hw, W) -> memory (B, N, W).

    With one write head this is exactly the DNC paper's M_t = M_{t−1} ∘ (E − w eᵀ) + w vᵀ
    (E the N×W matrix of ones). With several heads all erases are applied to the old memory
    at once (their retention factors multiply, so the order of heads does not matter) and then
    all writes are added: the heads act in parallel, as in the NTM paper's multi-head writing.
    """
    w_t = write_weights.transpose(1, 2)  # (B, N, Hw)
    if write_weights.shape[1] == 1:
        keep = 1.0 - torch.bmm(w_t, erase)  # (B, N, W)
    else:
        keep = torch.prod(1.0 - w_t.unsqueeze(-1) * erase.unsqueeze(1), dim=2)  # (B, N, W)
    return memory * keep + torch.bmm(w_t, write_vectors)


def read_memory(memory: Tensor, read_weights: Tensor) -> Tensor:
    """r^i = M_tᵀ w^{r,i} for every read head.

    memory (B, N, W), read_weights (B, R, N) -> read words (B, R, W).
    """
    return torch.bmm(read_weights, memory)
