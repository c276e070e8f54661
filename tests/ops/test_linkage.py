"""Precedence, temporal link matrix, directional reads (Graves et al. 2016, Methods)."""

import pytest
import torch

from memnets.ops.linkage import (
    directional_read_weights,
    sharpen,
    update_link,
    update_precedence,
)

B, N, R, Hw = 3, 7, 2, 2


def test_soft_update_hand_computed():
    link = torch.tensor([[[[0.0, 0.2, 0.1], [0.3, 0.0, 0.4], [0.5, 0.1, 0.0]]]])  # (1,1,3,3)
    prev_p = torch.tensor([[[0.2, 0.3, 0.1]]])
    w = torch.tensor([[[0.5, 0.25, 0.0]]])
    # L[i,j] = (1 − w_i − w_j) L[i,j] + w_i p_j, e.g. L[1,2] = 0.75·0.4 + 0.25·0.1 = 0.325
    expected = torch.tensor([[[[0.0, 0.2, 0.1], [0.125, 0.0, 0.325], [0.25, 0.075, 0.0]]]])
    torch.testing.assert_close(update_link(link, prev_p, w), expected)
    # p = (1 − Σw) p + w = 0.25 · p + w
    torch.testing.assert_close(
        update_precedence(prev_p, w), torch.tensor([[[0.55, 0.325, 0.025]]])
    )


def test_hard_writes_link_consecutive_slots():
    link, p = torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3)
    for slot in (0, 1):  # write slot 0 then slot 1
        w = torch.zeros(1, 1, 3)
        w[0, 0, slot] = 1.0
        link = update_link(link, p, w)  # uses p_{t−1}
        p = update_precedence(p, w)
    expected = torch.zeros(3, 3)
    expected[1, 0] = 1.0  # slot 1 was written right after slot 0
    torch.testing.assert_close(link[0, 0], expected)
    torch.testing.assert_close(p[0, 0], torch.tensor([0.0, 1.0, 0.0]))
    reads = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # (1, R=2, 3)
    fwd = directional_read_weights(link, reads, forward=True)
    bwd = directional_read_weights(link, reads, forward=False)
    assert fwd.shape == (1, 2, 1, 3)
    torch.testing.assert_close(fwd[0, :, 0], torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(bwd[0, :, 0], torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))


def test_invariants_over_a_random_write_sequence():
    torch.manual_seed(0)
    link, p = torch.zeros(B, Hw, N, N), torch.zeros(B, Hw, N)
    for _ in range(25):
        w = torch.softmax(torch.randn(B, Hw, N) * 2, -1) * torch.rand(B, Hw, 1)
        link = update_link(link, p, w)
        p = update_precedence(p, w)
        assert ((link >= 0) & (link <= 1 + 1e-6)).all()
        assert (link.diagonal(dim1=-2, dim2=-1) == 0).all()
        assert (link.sum(-1) <= 1 + 1e-5).all() and (link.sum(-2) <= 1 + 1e-5).all()
        assert (p >= 0).all() and (p.sum(-1) <= 1 + 1e-5).all()
    reads = torch.softmax(torch.randn(B, R, N), -1)
    for forward in (True, False):
        d = directional_read_weights(link, reads, forward=forward)
        assert d.shape == (B, R, Hw, N)
        assert (d >= 0).all() and (d.sum(-1) <= 1 + 1e-5).all()


def test_directional_reads_match_matrix_vector_products():
    torch.manual_seed(1)
    link = torch.rand(B, Hw, N, N)
    reads = torch.rand(B, R, N)
    fwd = directional_read_weights(link, reads, forward=True)
    bwd = directional_read_weights(link, reads, forward=False)
    for b in range(B):
        for r in range(R):
            for h in range(Hw):
                torch.testing.assert_close(fwd[b, r, h], link[b, h] @ reads[b, r])
                torch.testing.assert_close(bwd[b, r, h], link[b, h].T @ reads[b, r])


def test_sharpen_hand_computed():
    d = torch.tensor([[0.2, 0.6, 0.2]])
    got = sharpen(d, torch.tensor([2.0]), eps=0.0)
    torch.testing.assert_close(got, torch.tensor([[0.04, 0.36, 0.04]]) / 0.44)
    torch.testing.assert_close(sharpen(d, torch.tensor([1.0]), eps=0.0), d / d.sum())
    zero = sharpen(torch.zeros(1, 4), torch.tensor([3.0]))
    torch.testing.assert_close(zero, torch.full((1, 4), 0.25))
    sharp = directional_read_weights(
        torch.rand(B, Hw, N, N), torch.rand(B, R, N), True, sharpness=torch.full((B, R, Hw), 4.0)
    )
    torch.testing.assert_close(sharp.sum(-1), torch.ones(B, R, Hw))


def test_gradcheck():
    torch.manual_seed(2)
    dt = torch.float64
    link = (torch.rand(2, Hw, 4, 4, dtype=dt) * 0.3).requires_grad_(True)
    p = (torch.softmax(torch.randn(2, Hw, 4, dtype=dt), -1) * 0.5).requires_grad_(True)
    w = (torch.softmax(torch.randn(2, Hw, 4, dtype=dt), -1) * 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(update_link, (link, p, w))
    assert torch.autograd.gradcheck(update_precedence, (p, w))
    reads = torch.softmax(torch.randn(2, R, 4, dtype=dt), -1).requires_grad_(True)
    s = (torch.rand(2, R, Hw, dtype=dt) + 1).requires_grad_(True)
    for forward in (True, False):
        assert torch.autograd.gradcheck(
            lambda L, r, s_, f=forward: directional_read_weights(L, r, f, sharpness=s_),
            (link, reads, s),
        )
        assert torch.autograd.gradcheck(
            lambda L, r, f=forward: directional_read_weights(L, r, f), (link, reads)
        )


def test_hand_written_backward_matches_plain_autograd():
    torch.manual_seed(3)
    link = torch.rand(B, Hw, N, N, dtype=torch.float64).requires_grad_(True)
    p = torch.rand(B, Hw, N, dtype=torch.float64).requires_grad_(True)
    w = (torch.softmax(torch.randn(B, Hw, N, dtype=torch.float64), -1) * 0.8).requires_grad_(True)
    g = torch.randn(B, Hw, N, N, dtype=torch.float64)

    def plain(L, p, w):
        new = (1 - w.unsqueeze(-1) - w.unsqueeze(-2)) * L + w.unsqueeze(-1) * p.unsqueeze(-2)
        return new * (1 - torch.eye(N, dtype=torch.float64))

    ours = torch.autograd.grad((update_link(link, p, w) * g).sum(), (link, p, w))
    ref = torch.autograd.grad((plain(link, p, w) * g).sum(), (link, p, w))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(update_link(link, p, w), plain(link, p, w))


@pytest.mark.parametrize("forward", [True, False])
def test_fused_link_equals_the_reference(forward):
    """The hand-written link backward against the plain-autograd reference (fused=False),
    values and gradients through a directional read, two write heads."""
    torch.manual_seed(8)
    link = torch.rand(B, 2, N, N, dtype=torch.float64).requires_grad_(True)
    p = (torch.rand(B, 2, N, dtype=torch.float64) / N).requires_grad_(True)
    w = (torch.softmax(torch.randn(B, 2, N, dtype=torch.float64), -1) * 0.7).requires_grad_(True)
    reads = torch.softmax(torch.randn(B, R, N, dtype=torch.float64), -1).requires_grad_(True)
    g = torch.randn(B, R, 2, N, dtype=torch.float64)
    outs = []
    for fused in (True, False):
        new = update_link(link, p, w, fused=fused)
        d = directional_read_weights(new, reads, forward)
        outs.append((d, torch.autograd.grad((d * g).sum(), (link, p, w, reads))))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b)
