"""Retention, usage and allocation (Graves et al. 2016, Methods "Dynamic memory allocation")."""

import pytest
import torch

from memnets.ops.allocation import (
    ALLOCATION_MODES,
    allocate_heads,
    allocation_weights,
    retention,
    update_usage,
)

B, N, W, R = 3, 7, 5, 2


def test_retention_hand_computed():
    free_gates = torch.tensor([[0.5, 1.0]])
    prev_reads = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.2, 0.8]]])
    # ψ = (1 − 0.5·[1,0,0]) ∘ (1 − 1.0·[0,0.2,0.8])
    torch.testing.assert_close(retention(free_gates, prev_reads), torch.tensor([[0.5, 0.8, 0.2]]))


def test_usage_hand_computed():
    usage = torch.tensor([[0.5, 0.0, 1.0]])
    prev_write = torch.tensor([[[0.5, 0.5, 0.0]]])
    psi = torch.tensor([[1.0, 0.5, 1.0]])
    # (u + w − u∘w) ∘ ψ = ([0.75, 0.5, 1.0]) ∘ ψ
    torch.testing.assert_close(
        update_usage(usage, prev_write, psi), torch.tensor([[0.75, 0.25, 1.0]])
    )


def test_multi_head_usage_combines_writes():
    usage = torch.tensor([[0.0, 0.5]])
    prev_write = torch.tensor([[[0.5, 0.0], [0.5, 1.0]]])
    # combined write 1 − (1−0.5)(1−0.5) = 0.75 on slot 0, 1 on slot 1
    torch.testing.assert_close(
        update_usage(usage, prev_write, torch.ones(1, 2)), torch.tensor([[0.75, 1.0]])
    )


def test_full_write_then_full_free_gives_zero_usage():
    usage = torch.zeros(B, N)
    write = torch.zeros(B, 1, N)
    write[:, 0, 3] = 1.0
    usage = update_usage(usage, write, torch.ones(B, N))
    assert torch.allclose(usage[:, 3], torch.ones(B))
    reads = torch.zeros(B, R, N)
    reads[:, 1, 3] = 1.0  # read head 1 read slot 3 and now frees it
    psi = retention(torch.tensor([[0.0, 1.0]]).expand(B, R), reads)
    usage = update_usage(usage, torch.zeros(B, 1, N), psi)
    torch.testing.assert_close(usage, torch.zeros(B, N))


def test_usage_stays_in_unit_interval():
    torch.manual_seed(0)
    usage = torch.zeros(B, N)
    for _ in range(20):
        write = torch.softmax(torch.randn(B, 2, N) * 3, -1) * torch.rand(B, 2, 1)
        reads = torch.softmax(torch.randn(B, R, N) * 3, -1)
        psi = retention(torch.rand(B, R), reads)
        assert ((psi >= 0) & (psi <= 1)).all()
        usage = update_usage(usage, write, psi)
        assert ((usage >= 0) & (usage <= 1)).all()


def test_sorted_allocation_hand_computed():
    usage = torch.tensor([[0.4, 0.1, 0.9]])
    # free list φ = [1, 0, 2]: a[1] = 0.9, a[0] = 0.6 · 0.1, a[2] = 0.1 · 0.1 · 0.4
    expected = torch.tensor([[0.06, 0.9, 0.004]])
    torch.testing.assert_close(allocation_weights(usage), expected, atol=1e-5, rtol=0)


def test_normalized_and_softmax_hand_computed():
    usage = torch.tensor([[0.4, 0.1, 0.9]])
    torch.testing.assert_close(
        allocation_weights(usage, mode="normalized"), torch.tensor([[0.375, 0.5625, 0.0625]])
    )
    torch.testing.assert_close(
        allocation_weights(usage, mode="softmax", beta=2.0),
        torch.softmax(torch.tensor([[1.2, 1.8, 0.2]]), -1),
    )


def test_sorted_prefers_least_used_slot():
    torch.manual_seed(1)
    usage = torch.rand(B, N)
    alloc = allocation_weights(usage)
    assert torch.equal(alloc.argmax(-1), usage.argmin(-1))
    # Scattered back: the weight of slot i depends on its own usage, not on its position.
    perm = torch.randperm(N)
    torch.testing.assert_close(allocation_weights(usage[:, perm]), alloc[:, perm])


@pytest.mark.parametrize("mode", ALLOCATION_MODES)
def test_allocation_nonnegative_and_sums_at_most_one(mode):
    torch.manual_seed(2)
    for usage in (torch.rand(B, N), torch.zeros(B, N), torch.ones(B, N)):
        alloc = allocation_weights(usage, mode=mode)
        assert alloc.shape == (B, N)
        assert (alloc >= 0).all()
        assert (alloc.sum(-1) <= 1 + 1e-6).all()
    usage = torch.rand(B, N)
    assert torch.equal(allocation_weights(usage, mode=mode).argmax(-1), usage.argmin(-1))


def test_full_memory_allocates_nothing_in_sorted_mode():
    assert allocation_weights(torch.ones(B, N)).sum() < 1e-4


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        allocation_weights(torch.rand(1, 3), mode="random")


def test_allocate_heads_takes_turns():
    usage = torch.tensor([[0.3, 0.1, 0.5, 0.9]])
    gates = torch.ones(1, 2)
    alloc = allocate_heads(usage, gates)
    assert alloc.shape == (1, 2, 4)
    torch.testing.assert_close(alloc[:, 0], allocation_weights(usage))
    after_first = usage + (1 - usage) * alloc[:, 0]
    torch.testing.assert_close(alloc[:, 1], allocation_weights(after_first))
    assert alloc[0, 0].argmax() == 1 and alloc[0, 1].argmax() == 0
    # A closed write gate on head 0 leaves the usage for head 1 untouched.
    closed = allocate_heads(usage, torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(closed[:, 1], allocation_weights(usage))


@pytest.mark.parametrize("mode", ALLOCATION_MODES)
def test_gradcheck(mode):
    dt = torch.float64
    usage = torch.tensor([[0.31, 0.07, 0.52, 0.88, 0.2], [0.9, 0.45, 0.6, 0.05, 0.71]], dtype=dt)
    usage.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u: allocation_weights(u, mode=mode), (usage,))
    gates = torch.tensor([[0.7, 0.4], [0.2, 0.9]], dtype=dt, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda u, g: allocate_heads(u, g, mode=mode), (usage, gates), atol=1e-5
    )


def test_gradcheck_retention_and_usage():
    torch.manual_seed(3)
    dt = torch.float64
    f = torch.rand(2, R, dtype=dt, requires_grad=True)
    reads = torch.softmax(torch.randn(2, R, 4, dtype=dt), -1).requires_grad_(True)
    assert torch.autograd.gradcheck(retention, (f, reads))
    usage = torch.rand(2, 4, dtype=dt, requires_grad=True)
    write = torch.softmax(torch.randn(2, 2, 4, dtype=dt), -1).requires_grad_(True)
    psi = torch.rand(2, 4, dtype=dt, requires_grad=True)
    assert torch.autograd.gradcheck(update_usage, (usage, write, psi))


def test_fused_sorted_allocation_equals_reference_values_and_grads():
    """The one-node sorted allocation (hand-written backward) against plain autograd through
    sort and cumprod, float64: free and full slots, ties, and a suffix sum far below the prefix
    sums (the case a difference of prefix sums would get wrong)."""
    g = torch.Generator().manual_seed(9)
    usage = torch.rand(4, N, dtype=torch.float64, generator=g)
    usage[0, :3] = 0.0  # free slots (squashed to eps), tied
    usage[1] = torch.tensor([1.0, 1.0, 0.5, 0.0, 1.0, 0.2, 0.0], dtype=torch.float64)
    usage[2] = usage[2] ** 12  # nearly empty memory: products far below one
    usage.requires_grad_()
    upstream = torch.randn(4, N, dtype=torch.float64, generator=g)
    fused, ref = allocation_weights(usage), allocation_weights(usage, fused=False)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-15)
    (g_fused,) = torch.autograd.grad((fused * upstream).sum(), usage)
    (g_ref,) = torch.autograd.grad((ref * upstream).sum(), usage)
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-9, atol=1e-12)
    gates = torch.tensor([[0.7, 0.4]] * 4, dtype=torch.float64)
    torch.testing.assert_close(allocate_heads(usage, gates), allocate_heads(usage, gates, fused=False))
