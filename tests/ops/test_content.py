"""Content addressing C(M, k, β) (Graves et al. 2016, Methods): hand cases, invariants, grads."""

import math

import pytest
import torch

from memnets.ops.content import DISTANCES, content_weights, similarity

B, N, W, H = 3, 7, 5, 2


def _softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def test_cosine_hand_computed():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3, 2)
    keys = torch.tensor([[[1.0, 0.0]]])  # (1, 1, 2)
    beta = torch.tensor([[2.0]])
    got = content_weights(memory, keys, beta, eps=0.0)
    expected = _softmax([2.0 * 1.0, 2.0 * 0.0, 2.0 / math.sqrt(2.0)])
    torch.testing.assert_close(got[0, 0], torch.tensor(expected))


@pytest.mark.parametrize(
    "distance, sims",
    [
        ("euclidean", [-1.0, -math.sqrt(5.0), -0.0]),
        ("manhattan", [-1.0, -3.0, -0.0]),
        ("dot", [3.0, 0.0, 5.0]),
    ],
)
def test_other_distances_hand_computed(distance, sims):
    memory = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [1.0, 2.0]]])  # (1, 3, 2)
    keys = torch.tensor([[[1.0, 2.0]]])
    beta = torch.tensor([[1.5]])
    got = content_weights(memory, keys, beta, distance=distance, eps=0.0)
    torch.testing.assert_close(got[0, 0], torch.tensor(_softmax([1.5 * s for s in sims])))


def test_mask_hides_channels():
    # Mask keeps channel 0 only: slots 0 and 2 agree with the key there, slot 1 does not.
    memory = torch.tensor([[[1.0, 5.0], [-1.0, 0.0], [1.0, -3.0]]])
    keys = torch.tensor([[[1.0, 0.0]]])
    mask = torch.tensor([[[1.0, 0.0]]])
    sim = similarity(memory, keys, mask=mask, eps=0.0)
    torch.testing.assert_close(sim[0, 0], torch.tensor([1.0, -1.0, 1.0]))


@pytest.mark.parametrize("distance", DISTANCES)
def test_mask_equals_premultiplying(distance):
    torch.manual_seed(0)
    memory, keys = torch.randn(B, N, W), torch.randn(B, H, W)
    mask = torch.rand(B, H, W)
    got = similarity(memory, keys, distance=distance, mask=mask)
    for h in range(H):
        ref = similarity(memory * mask[:, h : h + 1], keys[:, h : h + 1] * mask[:, h : h + 1],
                         distance=distance)
        torch.testing.assert_close(got[:, h : h + 1], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("distance", DISTANCES)
def test_matches_per_slot_reference(distance):
    torch.manual_seed(1)
    memory, keys, beta = torch.randn(B, N, W), torch.randn(B, H, W), torch.rand(B, H) + 1
    got = content_weights(memory, keys, beta, distance=distance, eps=0.0)
    assert got.shape == (B, H, N)
    diff = keys[:, :, None, :] - memory[:, None, :, :]  # (B, H, N, W)
    ref_sim = {
        "cosine": torch.nn.functional.cosine_similarity(
            keys[:, :, None, :], memory[:, None, :, :], dim=-1, eps=0.0),
        "euclidean": -diff.norm(dim=-1),
        "manhattan": -diff.abs().sum(-1),
        "dot": (keys[:, :, None, :] * memory[:, None, :, :]).sum(-1),
    }[distance]
    ref = torch.softmax(ref_sim * beta[..., None], dim=-1)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.sum(-1), torch.ones(B, H))


@pytest.mark.parametrize("distance", DISTANCES)
def test_zero_memory_is_safe(distance):
    memory = torch.zeros(B, N, W, requires_grad=True)
    keys = torch.zeros(B, H, W)
    keys[:, 0] = torch.randn(B, W)  # one zero key, one non-zero key
    keys.requires_grad_(True)
    beta = torch.ones(B, H, requires_grad=True)
    mask = torch.rand(B, H, W, requires_grad=True)
    for m in (None, mask):
        out = content_weights(memory, keys, beta, distance=distance, mask=m)
        (out * torch.randn_like(out)).sum().backward()
        assert torch.isfinite(out).all()
        for t in (memory, keys, beta, mask):
            if t.grad is not None:
                assert torch.isfinite(t.grad).all(), distance
        torch.testing.assert_close(out, torch.full_like(out, 1.0 / N))


def test_larger_strength_sharpens():
    torch.manual_seed(2)
    memory, keys = torch.randn(B, N, W), torch.randn(B, H, W)
    soft = content_weights(memory, keys, torch.ones(B, H))
    sharp = content_weights(memory, keys, torch.full((B, H), 50.0))
    assert (sharp.max(-1).values > soft.max(-1).values).all()
    assert torch.equal(sharp.argmax(-1), soft.argmax(-1))


def test_unknown_distance_raises():
    with pytest.raises(ValueError, match="distance"):
        content_weights(torch.zeros(1, 2, 3), torch.zeros(1, 1, 3), torch.ones(1, 1),
                        distance="hamming")


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(distance, masked):
    torch.manual_seed(3)
    dt = torch.float64
    memory = torch.randn(2, 4, 3, dtype=dt, requires_grad=True)
    keys = torch.randn(2, 2, 3, dtype=dt, requires_grad=True)
    beta = (torch.rand(2, 2, dtype=dt) + 1).requires_grad_(True)
    inputs = [memory, keys, beta]
    if masked:
        inputs.append(torch.rand(2, 2, 3, dtype=dt).requires_grad_(True))

    def fn(m, k, b, mask=None):
        return content_weights(m, k, b, distance=distance, mask=mask)

    assert torch.autograd.gradcheck(fn, tuple(inputs))


@pytest.mark.parametrize("needs", [(1, 1, 1), (0, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_fused_cosine_equals_reference_values_and_grads(needs):
    """The one-node cosine lookup (hand-written backward) against its plain-autograd form,
    float64, with an all-zero memory row (the norm's eps at work) and every subset of inputs
    needing a gradient."""
    g = torch.Generator().manual_seed(5)
    memory = torch.randn(B, N, W, dtype=torch.float64, generator=g)
    memory[1, 4] = 0.0
    keys = torch.randn(B, H, W, dtype=torch.float64, generator=g)
    beta = 1 + 5 * torch.rand(B, H, dtype=torch.float64, generator=g)
    inputs = [x.requires_grad_(bool(n)) for x, n in zip((memory, keys, beta), needs, strict=True)]
    upstream = torch.randn(B, H, N, dtype=torch.float64, generator=g)
    fused = content_weights(*inputs)
    ref = content_weights(*inputs, fused=False)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-14)
    wanted = [x for x in inputs if x.requires_grad]
    g_fused = torch.autograd.grad((fused * upstream).sum(), wanted)
    g_ref = torch.autograd.grad((ref * upstream).sum(), wanted)
    for a, b in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
