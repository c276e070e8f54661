"""Erase/write and read (Graves et al. 2016, Methods "Reading and writing to memory")."""

import torch

from memnets.ops.memory import erase_and_write, read_memory

B, N, W, R = 3, 7, 5, 2


def test_single_head_hand_computed():
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    w = torch.tensor([[[0.25, 0.75]]])  # (1, 1, 2)
    e = torch.tensor([[[1.0, 0.5]]])
    v = torch.tensor([[[10.0, 20.0]]])
    # M ∘ (E − w eᵀ) + w vᵀ
    expected = torch.tensor([[
        [1.0 * (1 - 0.25) + 2.5, 2.0 * (1 - 0.125) + 5.0],
        [3.0 * (1 - 0.75) + 7.5, 4.0 * (1 - 0.375) + 15.0],
    ]])
    torch.testing.assert_close(erase_and_write(memory, w, e, v), expected)


def test_single_head_matches_paper_formula():
    torch.manual_seed(0)
    memory = torch.randn(B, N, W)
    w = torch.softmax(torch.randn(B, 1, N), -1)
    e, v = torch.rand(B, 1, W), torch.randn(B, 1, W)
    ref = memory * (1 - w[:, 0, :, None] * e[:, 0, None, :]) + w[:, 0, :, None] * v[:, 0, None, :]
    torch.testing.assert_close(erase_and_write(memory, w, e, v), ref)


def test_multi_head_is_product_of_erases_plus_sum_of_writes():
    torch.manual_seed(1)
    Hw = 3
    memory = torch.randn(B, N, W)
    w = torch.softmax(torch.randn(B, Hw, N), -1)
    e, v = torch.rand(B, Hw, W), torch.randn(B, Hw, W)
    keep = torch.ones(B, N, W)
    add = torch.zeros(B, N, W)
    for h in range(Hw):
        keep = keep * (1 - torch.einsum("bn,bw->bnw", w[:, h], e[:, h]))
        add = add + torch.einsum("bn,bw->bnw", w[:, h], v[:, h])
    torch.testing.assert_close(erase_and_write(memory, w, e, v), memory * keep + add)
    # Heads act in parallel: their order does not matter.
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(
        erase_and_write(memory, w[:, perm], e[:, perm], v[:, perm]),
        erase_and_write(memory, w, e, v),
    )


def test_full_erase_then_write_replaces_a_row():
    memory = torch.randn(B, N, W)
    w = torch.zeros(B, 1, N)
    w[:, 0, 4] = 1.0
    v = torch.randn(B, 1, W)
    out = erase_and_write(memory, w, torch.ones(B, 1, W), v)
    torch.testing.assert_close(out[:, 4], v[:, 0])
    torch.testing.assert_close(out[:, :4], memory[:, :4])
    torch.testing.assert_close(out[:, 5:], memory[:, 5:])


def test_read_hand_computed_and_shapes():
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    w = torch.tensor([[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]])
    torch.testing.assert_close(read_memory(memory, w), torch.tensor([[[2.0, 3.0], [5.0, 6.0]]]))
    torch.manual_seed(2)
    memory = torch.randn(B, N, W)
    w = torch.softmax(torch.randn(B, R, N), -1)
    out = read_memory(memory, w)
    assert out.shape == (B, R, W)
    torch.testing.assert_close(out, torch.einsum("bnw,brn->brw", memory, w))


def write_args(seed: int, batch: int, slots: int, heads: int, width: int) -> tuple:
    """Float64 (memory, write weights, erase, write vector), all needing gradients."""
    torch.manual_seed(seed)
    dt = torch.float64
    args = (
        torch.randn(batch, slots, width, dtype=dt),
        torch.softmax(torch.randn(batch, heads, slots, dtype=dt), -1),
        torch.rand(batch, heads, width, dtype=dt),
        torch.randn(batch, heads, width, dtype=dt),
    )
    return tuple(a.requires_grad_(True) for a in args)


def test_gradcheck():
    args = write_args(3, batch=2, slots=4, heads=2, width=3)
    assert torch.autograd.gradcheck(erase_and_write, args)
    assert torch.autograd.gradcheck(read_memory, args[:2])


def test_gradcheck_one_head_hand_written_backward():
    args = write_args(4, batch=3, slots=5, heads=1, width=4)
    assert torch.autograd.gradcheck(erase_and_write, args)
    # Only some inputs needing a gradient takes the other branches of the backward.
    memory, w = args[0].detach().requires_grad_(True), args[1].detach()
    out = erase_and_write(memory, w, args[2].detach(), args[3].detach())
    (grad,) = torch.autograd.grad(out.sum(), memory)
    torch.testing.assert_close(grad, (1 - w.transpose(1, 2) * args[2].detach()).expand_as(grad))


def test_one_head_fused_equals_reference_values_and_grads():
    """erase_and_write's hand-written one-head node against the plain-autograd path, float64."""
    g = torch.Generator().manual_seed(6)
    dt = torch.float64
    inputs = [
        torch.randn(B, N, W, dtype=dt, generator=g),
        torch.softmax(torch.randn(B, 1, N, dtype=dt, generator=g), -1),
        torch.rand(B, 1, W, dtype=dt, generator=g),
        torch.randn(B, 1, W, dtype=dt, generator=g),
    ]
    inputs = [x.requires_grad_() for x in inputs]
    upstream = torch.randn(B, N, W, dtype=dt, generator=g)
    fused, ref = erase_and_write(*inputs), erase_and_write(*inputs, fused=False)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-14)
    g_fused = torch.autograd.grad((fused * upstream).sum(), inputs)
    g_ref = torch.autograd.grad((ref * upstream).sum(), inputs)
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
