"""GAE and discounted returns on hand-computed cases (Schulman et al. 2016)."""

from __future__ import annotations

import pytest
import torch

from memnets.training.advantages import discounted_returns, gae

# one 3-step episode and one 1-step episode padded to 3 (its padding holds junk that must not count)
REWARDS = torch.tensor([[1.0, 0.0, 2.0], [1.0, 5.0, 5.0]])
VALUES = torch.tensor([[0.5, 1.0, 0.0], [0.2, 9.0, 9.0]])
VALID = torch.tensor([[True, True, True], [True, False, False]])


def test_gae_by_hand():
    # gamma 0.9, lambda 0.5: deltas 1 + 0.9 * 1 - 0.5 = 1.4, 0 + 0 - 1 = -1, 2 - 0 = 2;
    # A2 = 2, A1 = -1 + 0.45 * 2 = -0.1, A0 = 1.4 + 0.45 * -0.1 = 1.355; the short row: 1 - 0.2
    adv = gae(REWARDS, VALUES, VALID, gamma=0.9, lam=0.5)
    assert adv.tolist() == [pytest.approx([1.355, -0.1, 2.0]), pytest.approx([0.8, 0.0, 0.0])]


def test_discounted_returns_by_hand():
    ret = discounted_returns(REWARDS, VALID, gamma=0.9)
    assert ret.tolist() == [pytest.approx([1 + 0.81 * 2, 0.9 * 2, 2.0]), pytest.approx([1.0, 0, 0])]


def test_lambda_one_is_the_return_minus_the_value_and_zero_the_td_error():
    one = gae(REWARDS, VALUES, VALID, gamma=0.9, lam=1.0)
    assert torch.allclose(one, (discounted_returns(REWARDS, VALID, 0.9) - VALUES) * VALID)
    zero = gae(REWARDS, VALUES, VALID, gamma=0.9, lam=0.0)
    assert zero[0].tolist() == pytest.approx([1.4, -1.0, 2.0])


def test_out_of_range_lambda_is_refused():
    with pytest.raises(ValueError, match="lambda"):
        gae(REWARDS, VALUES, VALID, gamma=0.9, lam=1.5)
