"""Position encoding (PE) of the words in a sentence, shared by MemN2N and EntNet.

Sukhbaatar, Szlam, Weston & Fergus, "End-To-End Memory Networks", NeurIPS 2015
(arXiv:1503.08895), §4.1: a sentence ``x_i = (x_i1, ..., x_iJ)`` of J words is encoded as
``m_i = Σ_j l_j ∘ A x_ij`` with the column vector ``l_j`` of the d-dimensional weights

    l_kj = (1 - j/J) - (k/d) (1 - 2j/J),     j = 1..J (word),  k = 1..d (embedding dim).

All functions here are parameter-free and differentiable (PE weights are constants).
"""

from __future__ import annotations

import torch
from torch import Tensor


def position_encoding(
    num_words: int,
    dim: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """PE weights of one sentence of J = ``num_words`` words: (J, d), row j-1 is ``l_j``.

    Implements ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` (MemN2N §4.1), 1-based j and k.
    """
    if num_words < 1 or dim < 1:
        raise ValueError(f"position_encoding needs num_words >= 1 and dim >= 1, got {num_words}, {dim}")
    j = torch.arange(1, num_words + 1, dtype=dtype, device=device)[:, None]  # (J, 1)
    k = torch.arange(1, dim + 1, dtype=dtype, device=device)[None, :]  # (1, d)
    J = float(num_words)
    return (1 - j / J) - (k / dim) * (1 - 2 * j / J)  # (J, d)


def sentence_position_weights(word_mask: Tensor, dim: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """PE weights for padded sentences, each with its own length J.

    word_mask: (..., L) bool, true at real words (PAD_ID positions false; padding may sit
        anywhere, a word's position j is its rank among the real words of its sentence).
    Returns (..., L, d): ``l_kj`` of MemN2N §4.1 at real words, 0 at padding. A sentence with
    no words gets all-zero weights (so its encoding is the zero vector).
    """
    mask = word_mask.to(dtype or torch.get_default_dtype())  # (..., L)
    j = torch.cumsum(mask, dim=-1)  # (..., L): 1-based rank of each real word
    J = mask.sum(dim=-1, keepdim=True).clamp(min=1)  # (..., 1) words per sentence
    k = torch.arange(1, dim + 1, dtype=mask.dtype, device=mask.device) / dim  # (d,) k/d
    rel = (j / J)[..., None]  # (..., L, 1) j/J
    weights = (1 - rel) - k * (1 - 2 * rel)  # (..., L, d)
    return weights * mask[..., None]


def code_position_weights(word_mask: Tensor, dim: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """PE as the authors' MemN2N code computes it, with one J for every sentence.

    facebook/MemNN MemN2N-babi-matlab (build_model.m) uses
    ``l_kj = 1 + 4 (k - (d+1)/2)(j - (J+1)/2) / (d J)`` with J the padded width (the longest
    sentence), not each sentence's own length. Expanded, this is about twice the paper's
    §4.1 formula taken at that fixed J (within 0.1 at d = 100, J = 11), so a word's weight
    depends on its position from the start of the sentence alone, the same in a 4-word
    statement and a 9-word question.

    word_mask: (..., L) bool, true at real words; J = L. Returns (..., L, d), 0 at padding.
    (The authors' J is the longest sentence of the task's files, plus 1 for the time word;
    here L is the bAbI data module's width over all 20 tasks, 11: the same J for task 19,
    a larger one for tasks of short sentences.)
    """
    mask = word_mask.to(dtype or torch.get_default_dtype())  # (..., L)
    L = mask.shape[-1]
    j = torch.cumsum(mask, dim=-1)[..., None]  # (..., L, 1): 1-based rank of each real word
    k = torch.arange(1, dim + 1, dtype=mask.dtype, device=mask.device)  # (d,)
    weights = 1 + 4 * (k - (dim + 1) / 2) * (j - (L + 1) / 2) / (dim * L)  # (..., L, d)
    return weights * mask[..., None]


def code_time_word_weights(
    width: int,
    dim: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """(d,) PE weight of the time word in the authors' MemN2N code.

    MemN2N-babi-matlab (train.m, build_model.m) writes a memory's time index as one more word
    after the ``width`` word positions of each sentence, so its embedding row (our T_A(i),
    T_C(i)) is weighted like any word by the code's PE, at the last position j = J = width + 1:
    ``l_k = 1 + 4 (k - (d+1)/2)(J - (J+1)/2) / (d J)`` (the same formula as
    :func:`code_position_weights`, whose J is then ``width + 1``). At d = 100, J = 12 it runs
    from 0.09 (k = 1) to 1.91 (k = d): a fixed per-dimension scale on the learned time rows.
    """
    if width < 0 or dim < 1:
        raise ValueError(f"code_time_word_weights needs width >= 0 and dim >= 1, got {width}, {dim}")
    words = torch.ones(width + 1, dtype=torch.bool, device=device)  # (J,) every position a word
    return code_position_weights(words, dim, dtype=dtype)[-1]  # (d,) the row of j = J


def encode_sentences(word_vectors: Tensor, weights: Tensor) -> Tensor:
    """``m = Σ_j l_j ∘ e_j``: word_vectors (..., L, d), weights (..., L, d) or (L, d) -> (..., d).

    With PE weights this is MemN2N §4.1; with learned weights ``f_j`` it is EntNet's
    multiplicative-mask input encoder ``s_t = Σ_i f_i ∘ e_i`` (Henaff et al. 2017, §2.1); with
    0/1 weights it is the bag of words.
    """
    return (word_vectors * weights).sum(dim=-2)
