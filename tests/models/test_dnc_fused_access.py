"""The DNC's one-node access (memnets.models.dnc_fused_access) against the per-op access and autograd."""

from __future__ import annotations

import pytest
import torch

from memnets.models.dnc import DNC
from memnets.models.dnc_access import AccessState, InterfaceLayer, MemoryAccess
from memnets.models.dnc_fused_access import _exclusive_products, fused_access, interface_sizes
from tasks.spec import TaskSpec

B, N, W = 3, 6, 4
F64 = dict(dtype=torch.float64)


def random_state(R: int, seed: int) -> list[torch.Tensor]:
    """A mid-sequence access state: M, u, L (rows and columns summing < 1), p, w^r, w^w."""
    g = torch.Generator().manual_seed(seed)
    link = torch.rand(B, 1, N, N, generator=g, **F64) / N
    link.diagonal(dim1=-2, dim2=-1).zero_()
    return [
        torch.randn(B, N, W, generator=g, **F64),
        torch.rand(B, N, generator=g, **F64),
        link,
        torch.rand(B, 1, N, generator=g, **F64) / N,
        torch.softmax(torch.randn(B, R, N, generator=g, **F64) * 2, -1),
        torch.softmax(torch.randn(B, 1, N, generator=g, **F64) * 2, -1),
    ]


def test_interface_layout_matches_the_interface_layer():
    for R, word in ((1, 16), (4, 64), (2, 5)):
        layer = InterfaceLayer(8, word_size=word, num_reads=R, num_writes=1)
        assert tuple(layer.group_sizes) == interface_sizes(R, word)


@pytest.mark.parametrize("R, clip", [(1, None), (3, 1.5)])
def test_gradcheck(R, clip):
    """Float64 gradcheck of all ten outputs (the diagnostics a_t, π and the gates are
    differentiable too); with clip=1.5 some of ξ̂ lies beyond the clip (zero gradient there)."""
    torch.manual_seed(R)
    xi = torch.randn(B, sum(interface_sizes(R, W)), **F64) * 1.2
    if clip:
        assert (xi.abs() > clip).any() and (xi.abs() < clip).any()
    inputs = [t.requires_grad_() for t in (xi, *random_state(R, R))]
    assert torch.autograd.gradcheck(lambda *a: fused_access(*a, R, clip), inputs, eps=1e-6,
                                    atol=1e-6)


def outputs_and_grads(one_node: bool, xi: torch.Tensor, state: list[torch.Tensor], R: int,
                      clip: float | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Outputs (r, state, diagnostics) of one access step from raw ξ̂ and the gradients of a
    fixed random weighting of all of them for ξ̂ and every state tensor: the one node, or
    the per-op path (InterfaceLayer with an identity linear, then MemoryAccess)."""
    inputs = [t.detach().clone().requires_grad_() for t in (xi, *state)]
    if one_node:
        reads, *new, alloc, modes, gates = fused_access(*inputs, R, clip)
        diag = [alloc, modes, gates[:, -1:], gates[:, -2:-1], gates[:, W : W + R]]
    else:
        layer = InterfaceLayer(xi.shape[1], word_size=W, num_reads=R, num_writes=1, clip=clip)
        layer = layer.double()
        with torch.no_grad():
            layer.linear.weight.copy_(torch.eye(xi.shape[1]))
            layer.linear.bias.zero_()
        access = MemoryAccess(memory_size=N, word_size=W, num_reads=R)
        reads, new_state, d = access(layer(inputs[0]), AccessState(*inputs[1:]))
        new = list(new_state)
        diag = [d.allocation, d.read_modes, d.write_gate, d.allocation_gate, d.free_gates]
    g = torch.Generator().manual_seed(99)
    loss = sum((t * torch.randn(t.shape, generator=g, **F64)).sum() for t in (reads, *new, *diag))
    loss.backward()
    return [reads, *new, *diag], [t.grad for t in inputs]


@pytest.mark.parametrize("R, clip", [(1, None), (3, 1.0)])
def test_equals_the_per_op_access(R, clip):
    """Same raw ξ̂ and state: the per-op access (fused ops, one node each) and the one node give
    the same read words, state and diagnostics, and the same gradients."""
    torch.manual_seed(10 + R)
    xi = torch.randn(B, sum(interface_sizes(R, W)), **F64)
    state = random_state(R, 20 + R)
    out1, grads1 = outputs_and_grads(True, xi, state, R, clip)
    out0, grads0 = outputs_and_grads(False, xi, state, R, clip)
    for a, b in zip(out1, out0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads1, grads0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_exclusive_products_with_zero_factors():
    """Π_{s≠r} x_s with exact zeros (a read head that frees a slot it read one-hot: a factor
    1 − f w = 0), where the ψ / x_r shortcut would divide by zero."""
    x = torch.tensor([[[0.0, 0.5], [2.0, 0.0], [3.0, 4.0]]], **F64)  # (1, R=3, N=2)
    expected = torch.tensor([[[6.0, 0.0], [0.0, 2.0], [0.0, 0.0]]], **F64)
    torch.testing.assert_close(_exclusive_products(x), expected)
    torch.testing.assert_close(_exclusive_products(x[:, :1]), torch.ones(1, 1, 2, **F64))


def test_free_gate_of_one_on_a_one_hot_read_keeps_the_gradients():
    """f = 1 on a one-hot w^r_{t−1}: ψ has an exact zero, and the gradients still equal the
    per-op path's (whose torch.prod backward handles zeros) and are finite."""
    R = 2
    state = random_state(R, 5)
    state[4] = torch.zeros(B, R, N, **F64)
    state[4][:, :, 0] = 1.0  # both heads read slot 0 one-hot
    sizes = interface_sizes(R, W)
    xi = torch.randn(B, sum(sizes), **F64)
    free = sizes[0] + sizes[1] + W  # the free gates' offset in ξ̂
    xi[:, free : free + R] = 60.0  # σ(60) == 1 in float64
    out1, grads1 = outputs_and_grads(True, xi, state, R, None)
    _, grads0 = outputs_and_grads(False, xi, state, R, None)
    assert (out1[2][:, 0] == 0).all()  # u_t of slot 0 is exactly 0
    for a, b in zip(grads1, grads0, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert (grads1[5][:, :, 0] != 0).any()  # ∂/∂w^r_{t−1} through the zero factor survives


def test_dnc_takes_the_one_node_path_only_in_the_papers_configuration():
    spec = TaskSpec("features", 6, "bits", 4, 0, 0, "step", ("g",))
    small = dict(memory_size=N, word_size=W, num_reads=2, hidden_size=5)
    assert DNC(spec, **small).one_node_access
    for other in (dict(fast_path=False), dict(one_node_access=False), dict(num_writes=2),
                  dict(distance="euclidean"), dict(allocation="softmax"), dict(sparse_link_k=3),
                  dict(dealloc_wipe=True), dict(content_masking=True), dict(link_sharpness=True)):
        assert not DNC(spec, **small, **other).one_node_access, other
