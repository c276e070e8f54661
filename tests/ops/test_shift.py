"""NTM location addressing (Graves et al. 2014, eqs. 7-9): hand cases and invariants."""

import pytest
import torch

from memnets.ops.shift import (
    circular_shift,
    interpolate,
    location_address,
    sharpen,
    shift_index,
    shift_offsets,
)

B, H, N, S = 3, 2, 7, 3


def _weights(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=g), dim=-1)


def test_shift_offsets_symmetric_range():
    assert shift_offsets(1).tolist() == [-1, 0, 1]
    assert shift_offsets(0).tolist() == [0]
    with pytest.raises(ValueError):
        shift_offsets(-1)


def test_interpolation_gate_ends_and_middle():
    w_c, w_prev = _weights(B, H, N, seed=1), _weights(B, H, N, seed=2)
    assert torch.equal(interpolate(w_c, w_prev, torch.ones(B, H)), w_c)
    assert torch.equal(interpolate(w_c, w_prev, torch.zeros(B, H)), w_prev)
    gate = torch.rand(B, H, generator=torch.Generator().manual_seed(3))
    out = interpolate(w_c, w_prev, gate)
    # gate is per (batch, head): check one entry by hand
    b, h = 2, 1
    torch.testing.assert_close(out[b, h], gate[b, h] * w_c[b, h] + (1 - gate[b, h]) * w_prev[b, h])


def test_shift_conserves_mass():
    w = _weights(B, H, N, seed=4)
    s = _weights(B, H, 5, seed=5)  # shifts -2..2
    out = circular_shift(w, s)
    assert out.shape == (B, H, N)
    torch.testing.assert_close(out.sum(-1), torch.ones(B, H))
    assert (out >= 0).all()


@pytest.mark.parametrize("offset", [-3, -1, 0, 1, 2, 9])
def test_one_hot_shift_is_exact_roll(offset):
    w = _weights(B, H, N, seed=6)
    offsets = torch.tensor([-3, -1, 0, 1, 2, 9])
    s = torch.zeros(B, H, len(offsets))
    s[..., offsets.tolist().index(offset)] = 1.0
    out = circular_shift(w, s, offsets)
    # +1 moves the focus from slot i to slot i+1 (torch.roll direction), -1 to i-1
    assert torch.equal(out, torch.roll(w, offset, dims=-1))


def test_shift_plus_one_moves_focus_right_and_wraps():
    w = torch.zeros(1, 1, N)
    w[0, 0, N - 1] = 1.0  # last slot
    right = circular_shift(w, torch.tensor([[[0.0, 0.0, 1.0]]]))  # (left, stay, right)
    left = circular_shift(w, torch.tensor([[[1.0, 0.0, 0.0]]]))
    assert right[0, 0].argmax().item() == 0  # wrapped round to slot 0
    assert left[0, 0].argmax().item() == N - 2


def test_shift_hand_computed_eq8():
    # w~(i) = Σ_j w(j) s(i - j): N=4, w=[a,b,c,d], s over (-1,0,1)=(p,q,r)
    w = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])
    s = torch.tensor([[[0.5, 0.3, 0.2]]])
    expected = torch.tensor(
        [
            0.3 * 0.1 + 0.5 * 0.2 + 0.2 * 0.4,  # from slot 0 (stay), 1 (left), 3 (right, wrap)
            0.3 * 0.2 + 0.5 * 0.3 + 0.2 * 0.1,
            0.3 * 0.3 + 0.5 * 0.4 + 0.2 * 0.2,
            0.3 * 0.4 + 0.5 * 0.1 + 0.2 * 0.3,
        ]
    )
    torch.testing.assert_close(circular_shift(w, s)[0, 0], expected)


def test_shift_rows_and_heads_are_independent():
    w = _weights(B, H, N, seed=7)
    s = _weights(B, H, S, seed=8)
    out = circular_shift(w, s)
    for b in range(B):
        for h in range(H):
            one = circular_shift(w[b : b + 1, h : h + 1], s[b : b + 1, h : h + 1])
            torch.testing.assert_close(out[b, h], one[0, 0])


def test_shift_rejects_bad_offsets():
    w = _weights(B, H, N)
    with pytest.raises(ValueError):
        circular_shift(w, _weights(B, H, 4))  # even width, no offsets
    with pytest.raises(ValueError):
        circular_shift(w, _weights(B, H, 3), offsets=[0, 1])


def test_sharpen_gamma_one_is_identity():
    w = _weights(B, H, N, seed=9)
    torch.testing.assert_close(sharpen(w, torch.ones(B, H)), w)


def test_sharpen_raises_max_and_matches_eq9():
    w = _weights(B, H, N, seed=10)
    gamma = torch.tensor([[1.5, 3.0], [2.0, 10.0], [4.0, 1.2]])
    out = sharpen(w, gamma)
    torch.testing.assert_close(out.sum(-1), torch.ones(B, H))
    assert (out.max(-1).values > w.max(-1).values).all()
    expected = w ** gamma[..., None] / (w ** gamma[..., None]).sum(-1, keepdim=True)
    torch.testing.assert_close(out, expected)


def test_sharpen_is_finite_on_zeros_and_huge_gamma():
    w = torch.zeros(1, 1, N, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        w[0, 0, 2] = 1.0
    gamma = torch.tensor([[50.0]], dtype=torch.float64, requires_grad=True)
    out = sharpen(w, gamma)
    out[0, 0, 2].backward()
    assert torch.isfinite(out).all() and torch.isfinite(w.grad).all()
    assert torch.isfinite(gamma.grad).all()
    assert out[0, 0, 2].item() == pytest.approx(1.0)


def test_location_address_g1_no_shift_gamma1_returns_content():
    w_c, w_prev = _weights(B, H, N, seed=11), _weights(B, H, N, seed=12)
    stay = torch.zeros(B, H, S)
    stay[..., 1] = 1.0
    out = location_address(w_c, w_prev, torch.ones(B, H), stay, torch.ones(B, H))
    torch.testing.assert_close(out, w_c)


def test_location_address_gradcheck_float64():
    w_c = _weights(B, H, N, seed=13).double().requires_grad_()
    w_prev = _weights(B, H, N, seed=14).double().requires_grad_()
    gate = torch.rand(B, H, generator=torch.Generator().manual_seed(15)).double().requires_grad_()
    shift = _weights(B, H, S, seed=16).double().requires_grad_()
    gamma = 1 + torch.rand(B, H, generator=torch.Generator().manual_seed(17)).double() * 3
    gamma.requires_grad_()
    assert torch.autograd.gradcheck(location_address, (w_c, w_prev, gate, shift, gamma))


def test_shift_index_hand_computed():
    index = shift_index([-1, 0, 2], 4)
    assert index.shape == (2, 3, 4)
    assert index[0].tolist() == [[1, 2, 3, 0], [0, 1, 2, 3], [2, 3, 0, 1]]  # (i - o) mod 4
    assert index[1].tolist() == [[3, 0, 1, 2], [0, 1, 2, 3], [2, 3, 0, 1]]  # (i + o) mod 4


def _location_inputs(S_: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return (
        _weights(B, H, N, seed=seed).double(),
        _weights(B, H, N, seed=seed + 1).double(),
        torch.rand(B, H, generator=g).double(),
        _weights(B, H, S_, seed=seed + 2).double(),
        1 + 3 * torch.rand(B, H, generator=g).double(),
    )


@pytest.mark.parametrize("offsets", [None, [-3, 0, 1, 2, 9]])
@pytest.mark.parametrize("needs", [(1, 1, 1, 1, 1), (0, 1, 0, 1, 0), (1, 0, 1, 0, 1)])
def test_fused_location_equals_reference_values_and_grads(offsets, needs):
    """The one-node eqs. 7-9 (hand-written backward) against the plain-autograd composition,
    float64, for every subset of inputs needing a gradient the model produces."""
    inputs = _location_inputs(5, seed=20)
    inputs = [x.requires_grad_(bool(n)) for x, n in zip(inputs, needs, strict=True)]
    upstream = torch.randn(B, H, N, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    fused = location_address(*inputs, offsets)
    ref = location_address(*inputs, offsets, fused=False)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-14)
    wanted = [x for x in inputs if x.requires_grad]
    g_fused = torch.autograd.grad((fused * upstream).sum(), wanted)
    g_ref = torch.autograd.grad((ref * upstream).sum(), wanted)
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_fused_location_precomputed_index_and_gradcheck():
    inputs = [x.requires_grad_() for x in _location_inputs(3, seed=30)]
    index = shift_index(shift_offsets(1), N)
    torch.testing.assert_close(location_address(*inputs, index=index), location_address(*inputs))
    assert torch.autograd.gradcheck(lambda *a: location_address(*a, index=index), tuple(inputs))
    with pytest.raises(ValueError, match="offsets"):
        location_address(*inputs[:3], _weights(B, H, 5).double(), inputs[4], index=index)
