"""Position encoding (MemN2N §4.1): l_kj = (1 - j/J) - (k/d)(1 - 2j/J)."""

from __future__ import annotations

import pytest
import torch

from memnets.ops.position_encoding import (
    code_position_weights,
    encode_sentences,
    position_encoding,
    sentence_position_weights,
)

# J = 3 words, d = 4 dims, worked by hand from the formula (rows j = 1..3, columns k = 1..4):
#   j=1: 1 - 1/3 = 2/3, 1 - 2/3 = 1/3  -> 2/3 - (k/4)/3   = 7/12, 6/12, 5/12, 4/12
#   j=2: 1 - 2/3 = 1/3, 1 - 4/3 = -1/3 -> 1/3 + (k/4)/3   = 5/12, 6/12, 7/12, 8/12
#   j=3: 1 - 3/3 = 0,   1 - 6/3 = -1   -> k/4             = 3/12, 6/12, 9/12, 12/12
HAND_J3_D4 = torch.tensor([[7, 6, 5, 4], [5, 6, 7, 8], [3, 6, 9, 12]], dtype=torch.float64) / 12


def test_position_encoding_matches_hand_computed_case():
    pe = position_encoding(3, 4, dtype=torch.float64)
    assert pe.shape == (3, 4)
    torch.testing.assert_close(pe, HAND_J3_D4, rtol=0, atol=1e-15)


def test_single_word_sentence_weights_are_k_over_d():
    # J = 1: l_k1 = 0 - (k/d)(1 - 2) = k/d
    torch.testing.assert_close(
        position_encoding(1, 5, dtype=torch.float64),
        torch.arange(1, 6, dtype=torch.float64)[None] / 5,
    )


@pytest.mark.parametrize("bad", [(0, 4), (3, 0)])
def test_position_encoding_rejects_empty_sizes(bad):
    with pytest.raises(ValueError):
        position_encoding(*bad)


def test_sentence_weights_use_each_sentences_own_length():
    # B=3 sentences padded to L=7 with J = 3, 1 and 7 words, d = 4.
    tokens = torch.tensor([[4, 9, 2, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    w = sentence_position_weights(tokens != 0, 4, dtype=torch.float64)
    assert w.shape == (3, 7, 4)
    torch.testing.assert_close(w[0, :3], HAND_J3_D4)
    torch.testing.assert_close(w[1, :1], position_encoding(1, 4, dtype=torch.float64))
    torch.testing.assert_close(w[2], position_encoding(7, 4, dtype=torch.float64))
    assert (w[0, 3:] == 0).all() and (w[1, 1:] == 0).all()


def test_sentence_weights_rank_words_around_inner_padding_and_empty_sentences():
    mask = torch.tensor([[True, False, True, False, True], [False] * 5])
    w = sentence_position_weights(mask, 4, dtype=torch.float64)  # (2, 5, 4)
    torch.testing.assert_close(w[0, [0, 2, 4]], HAND_J3_D4)
    assert (w[0, [1, 3]] == 0).all()
    assert (w[1] == 0).all()  # a sentence with no words (an ANSWER step) encodes to zero


def test_encode_sentences_is_the_weighted_sum_over_words():
    g = torch.Generator().manual_seed(0)
    B, T, L, d = 3, 2, 5, 4
    e = torch.randn(B, T, L, d, generator=g, dtype=torch.float64)
    w = torch.randn(B, T, L, d, generator=g, dtype=torch.float64)
    expected = torch.zeros(B, T, d, dtype=torch.float64)
    for j in range(L):
        expected += w[:, :, j] * e[:, :, j]
    torch.testing.assert_close(encode_sentences(e, w), expected)
    # shared (L, d) weights broadcast; 0/1 weights give the bag of words
    torch.testing.assert_close(encode_sentences(e, w[0, 0]), (e * w[0, 0]).sum(-2))
    torch.testing.assert_close(encode_sentences(e, torch.ones(L, 1, dtype=torch.float64)), e.sum(-2))


def test_encode_sentences_gradcheck():
    g = torch.Generator().manual_seed(1)
    e = torch.randn(3, 5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    w = sentence_position_weights(torch.rand(3, 5, generator=g) > 0.3, 2, dtype=torch.float64)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(encode_sentences, (e, w))


def test_code_weights_fix_j_at_the_padded_width():
    # authors' code, d=2, J=L=3: l_kj = 1 + 4 (k - 1.5)(j - 2) / 6
    mask = torch.tensor([[True, True, False], [True, True, True]])
    w = code_position_weights(mask, 2, dtype=torch.float64)
    full = torch.tensor([[4 / 3, 2 / 3], [1.0, 1.0], [2 / 3, 4 / 3]], dtype=torch.float64)
    torch.testing.assert_close(w[1], full)
    # a 2-word sentence keeps the weights of positions 1-2 of J=3, not those of J=2
    torch.testing.assert_close(w[0], torch.cat([full[:2], torch.zeros(1, 2, dtype=torch.float64)]))
    assert not torch.allclose(w[0, :2], sentence_position_weights(mask[1:, :2], 2)[0].double())
    # about twice the paper's formula at that fixed J for realistic sizes
    wide = code_position_weights(torch.ones(11, dtype=torch.bool), 100, dtype=torch.float64)
    assert (wide - 2 * position_encoding(11, 100, dtype=torch.float64)).abs().max() <= 0.1 + 1e-12
