"""NTM (Graves et al. 2014): addressing by hand, model contract, options, and a learning test."""

import pytest
import torch

from memnets.models.ntm import NTM, NTMState
from memnets.models.ntm_access import HeadLayer, HeadParams, PackedHeads, access, address, unpack_heads
from memnets.ops.shift import shift_index, shift_offsets
from tasks.batch import Batch, Role
from tasks.spec import TaskSpec

B, T, N, W, R, HW, D = 3, 9, 7, 5, 2, 3, 4


def _spec(**kw) -> TaskSpec:
    args = dict(
        input_kind="features",
        input_width=D + 1,
        target_kind="bits",
        target_width=D,
        vocab_size=0,
        num_classes=0,
        granularity="step",
        group_names=("all",),
    )
    args.update(kw)
    return TaskSpec(**args)


def _model(spec=None, **kw) -> NTM:
    torch.manual_seed(0)
    args = dict(memory_size=N, word_size=W, num_read_heads=R, num_write_heads=HW, controller_size=11)
    args.update(kw)
    return NTM(spec or _spec(), **args)


def _batch(lengths=(T, T - 2, 4), seed=1, width=D + 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    lengths_t = torch.tensor(lengths)
    valid = torch.arange(t)[None] < lengths_t[:, None]  # (B, T)
    inputs = torch.randint(0, 2, (b, t, width), generator=g).float() * valid[..., None]
    role = torch.where(valid, int(Role.INPUT), int(Role.PAD))
    target = torch.zeros(b, t, D)
    return Batch(inputs, role, target, valid, lengths_t, torch.zeros(b, dtype=torch.long))


# --- one head addressing step ---------------------------------------------------------------


def _params(key, beta, gate, shift, gamma) -> HeadParams:
    return HeadParams(key, beta, gate, shift, gamma, None, None)


def test_address_by_hand_content_then_shift():
    memory = torch.eye(N)[None, :, :W].clone()  # rows 0..4 one-hot, rows 5, 6 zero
    key = memory[:, 2:3].clone()  # (1, 1, W): matches row 2 only
    beta = torch.tensor([[100.0]])
    stay, right = torch.tensor([[[0.0, 1.0, 0.0]]]), torch.tensor([[[0.0, 0.0, 1.0]]])
    prev = torch.full((1, 1, N), 1.0 / N)
    one = torch.ones(1, 1)
    w = address(memory, _params(key, beta, one, stay, one), prev, shift_offsets(1))
    assert w[0, 0].argmax() == 2 and w[0, 0, 2] > 0.99
    w = address(memory, _params(key, beta, one, right, one), prev, shift_offsets(1))
    assert w[0, 0].argmax() == 3 and w[0, 0, 3] > 0.99  # content focus moved one slot right
    # g = 0 ignores content: the previous focus is shifted instead (pure location addressing)
    prev_focus = torch.zeros(1, 1, N)
    prev_focus[..., N - 1] = 1.0
    w = address(memory, _params(key, beta, 0 * one, right, one), prev_focus, shift_offsets(1))
    torch.testing.assert_close(w[0, 0], torch.eye(N)[0], atol=1e-6, rtol=0)


def test_address_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    H, S = 2, 3

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    memory = rnd(B, N, W).requires_grad_()
    key = rnd(B, H, W).requires_grad_()
    beta = (1 + rnd(B, H).abs()).requires_grad_()
    gate = torch.sigmoid(rnd(B, H)).requires_grad_()
    shift = torch.softmax(rnd(B, H, S), -1).requires_grad_()
    gamma = (1 + rnd(B, H).abs()).requires_grad_()
    prev = torch.softmax(rnd(B, H, N), -1).requires_grad_()

    def fn(memory, key, beta, gate, shift, gamma, prev):
        return address(memory, _params(key, beta, gate, shift, gamma), prev, shift_offsets(1))

    assert torch.autograd.gradcheck(fn, (memory, key, beta, gate, shift, gamma, prev))


# --- model contract -------------------------------------------------------------------------


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_shapes_and_traces(controller):
    model = _model(controller=controller)
    out = model(_batch(), trace=True)
    assert out.logits.shape == (B, T, D)
    assert out.aux["read_weights"].shape == (B, T, R, N)
    assert out.aux["write_weights"].shape == (B, T, HW, N)
    for k in ("read_weights", "write_weights"):
        torch.testing.assert_close(out.aux[k].sum(-1), torch.ones(out.aux[k].shape[:-1]))
    assert model(_batch()).aux == {}


def test_token_targets_give_k_by_c_logits():
    spec = _spec(
        input_kind="tokens",
        input_width=2,
        vocab_size=6,
        target_kind="tokens",
        target_width=2,
        num_classes=5,
        granularity="word",
    )
    model = _model(spec)
    inputs = torch.randint(1, 6, (B, T, 2))
    role = torch.full((B, T), int(Role.INPUT))
    batch = Batch(
        inputs,
        role,
        torch.zeros(B, T, 2, dtype=torch.long),
        role > 0,
        torch.full((B,), T),
        torch.zeros(B, dtype=torch.long),
    )
    assert model(batch).logits.shape == (B, T, 2, 5)


def test_causality():
    model = _model()
    batch = _batch(lengths=(T, T, T))
    y = model(batch).logits
    t0 = 5
    changed = batch.inputs.clone()
    changed[:, t0:] = 1 - changed[:, t0:]
    y2 = model(batch._replace(inputs=changed)).logits
    torch.testing.assert_close(y2[:, :t0], y[:, :t0], rtol=0, atol=0)
    assert not torch.allclose(y2[:, t0:], y[:, t0:])


def test_padding_invariance():
    model = _model()
    batch = _batch()
    y = model(batch).logits
    pad = 6
    padded = Batch(
        torch.cat([batch.inputs, torch.rand(B, pad, D + 1)], 1),  # garbage in the padding
        torch.cat([batch.role, torch.zeros(B, pad, dtype=torch.long)], 1),
        torch.cat([batch.target, torch.zeros(B, pad, D)], 1),
        torch.cat([batch.target_mask, torch.zeros(B, pad, dtype=torch.bool)], 1),
        batch.lengths,
        batch.group,
    )
    y2 = model(padded).logits
    assert y2.shape == (B, T + pad, D)
    valid = batch.target_mask
    torch.testing.assert_close(y2[:, :T][valid], y[valid], rtol=0, atol=1e-6)


def test_batch_independence():
    model = _model()
    batch = _batch(lengths=(T, T, T))
    y = model(batch).logits
    for b in range(B):
        one = Batch(*(t[b : b + 1] for t in batch))
        torch.testing.assert_close(model(one).logits[0], y[b], rtol=1e-5, atol=1e-6)
    # and no gradient flows from one row's output into another row's input
    x = batch.inputs.clone().requires_grad_()
    model(batch._replace(inputs=x)).logits[0].sum().backward()
    assert x.grad[1:].abs().max() == 0 and x.grad[0].abs().max() > 0


def test_step_loop_matches_forward():
    model = _model()
    batch = _batch(lengths=(T, T, T))
    state = model.initial_state(B, torch.device("cpu"), torch.float32)
    assert isinstance(state, NTMState)
    ys = []
    for t in range(T):
        y_t, state = model.step(batch.inputs[:, t], batch.role[:, t], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), model(batch).logits)


def test_reads_feed_the_controller_at_the_next_step():
    model = _model(num_read_heads=1, num_write_heads=1)
    state = model.initial_state(B, torch.device("cpu"), torch.float32)
    x = torch.rand(B, D + 1)
    _, after = model.step(x, torch.ones(B, dtype=torch.long), state)
    # controller input width = E + R*W, and the state carries this step's reads
    assert model.controller.weight_ih.shape[1] == (D + 1) + W
    torch.testing.assert_close(after.reads, torch.bmm(after.read_weights, after.memory))
    # ... and those reads drive the controller at the next step (Graves et al. 2014, §3: the
    # controller sees the input and the previous read vectors): same input and controller state,
    # other reads -> another controller output; the same reads -> the same output.
    other = after._replace(reads=after.reads + torch.randn_like(after.reads))
    same = after._replace(reads=after.reads.clone())
    role = torch.ones(B, dtype=torch.long)
    h_next = model.step(x, role, after)[1].controller_h
    assert not torch.allclose(model.step(x, role, other)[1].controller_h, h_next, atol=1e-4)
    torch.testing.assert_close(model.step(x, role, same)[1].controller_h, h_next)


def test_memory_init_modes():
    batch = _batch()
    const = _model(memory_init="constant", memory_init_value=1e-6)
    s = const.initial_state(B, torch.device("cpu"), torch.float32)
    assert torch.all(s.memory == 1e-6)
    assert torch.all(s.read_weights[..., 0] == 1) and torch.all(s.write_weights[..., 0] == 1)

    learned = _model(memory_init="learned")
    learned(batch).logits.sum().backward()
    assert learned.initial_memory.grad is not None and learned.initial_memory.grad.abs().sum() > 0

    rand = _model(memory_init="random")
    m1 = rand.initial_state(B, torch.device("cpu"), torch.float32).memory
    m2 = rand.initial_state(B, torch.device("cpu"), torch.float32).memory
    assert not torch.equal(m1, m2)
    with pytest.raises(ValueError, match="memory_init"):
        _model(memory_init="zeros")
    with pytest.raises(ValueError, match="controller"):
        _model(controller="gru")


@pytest.mark.parametrize("clip", [0.5, None])
def test_controller_output_clipping(clip):
    model = _model(controller="feedforward", clip_value=clip)
    with torch.no_grad():
        model.controller.weight.mul_(100.0)
    seen = []
    model.readout.register_forward_hook(lambda m, inp, out: seen.append(inp[0][:, :11]))
    model(_batch())
    peak = max(s.abs().max().item() for s in seen)
    if clip is None:
        assert peak > 1.0
    else:
        assert peak == clip  # saturated at the bound, never beyond


def test_full_model_gradcheck_float64():
    model = _model(memory_size=5, word_size=3, num_read_heads=2, num_write_heads=1).double()
    batch = _batch(lengths=(4, 3), seed=4)
    x = batch.inputs.double().requires_grad_()

    def fn(x):
        return model(batch._replace(inputs=x)).logits

    assert torch.autograd.gradcheck(fn, (x,), atol=1e-5)


# --- fast path == reference ------------------------------------------------------------------


def _outputs_and_grads(model: NTM, batch: Batch):
    """Logits and every parameter's gradient of a fixed random projection of them."""
    y = model(batch).logits
    upstream = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(7))
    params = [p for p in model.parameters() if p.requires_grad]
    return y, torch.autograd.grad((y * upstream).sum(), params)


@pytest.mark.parametrize(
    "kw",
    [
        dict(num_write_heads=1),  # the one-node access (one write head, cosine)
        dict(num_write_heads=1, num_read_heads=1),
        {},  # three write heads: per-op nodes
        dict(num_write_heads=1, memory_init="learned"),  # M_0 needs a gradient too
        dict(num_write_heads=1, controller="feedforward", clip_value=None),
        dict(distance="euclidean"),  # per-op nodes: location fused, content plain
    ],
)
def test_fast_path_equals_reference_float64(kw):
    """fast_path (input projection and read-out outside the loop, hand-written backwards)
    against the plain-autograd step loop: same logits and parameter gradients in float64."""
    batch = _batch()
    batch = batch._replace(inputs=batch.inputs.double())
    fast = _model(**kw).double()
    ref = _model(**kw, fast_path=False).double()
    ref.load_state_dict(fast.state_dict())
    y_fast, g_fast = _outputs_and_grads(fast, batch)
    y_ref, g_ref = _outputs_and_grads(ref, batch)
    torch.testing.assert_close(y_fast, y_ref, rtol=0, atol=1e-12)
    for a, b in zip(g_fast, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_fused_access_equals_plain_autograd_and_gradchecks():
    """The one-node access (write address, erase/add, read address, read) against the plain
    composition, float64: all four outputs and the gradients of every input."""
    g = torch.Generator().manual_seed(8)
    dt, H = torch.float64, 1 + R

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=dt)

    heads = PackedHeads(
        rnd(B, H * W + W),
        torch.sigmoid(rnd(B, H + W)),
        1 + rnd(B, 2 * H).abs(),
        torch.softmax(rnd(B, H, 3), -1),
    )
    memory = rnd(B, N, W)
    prev_w, prev_r = torch.softmax(rnd(B, 1, N), -1), torch.softmax(rnd(B, R, N), -1)
    leaves = [t.requires_grad_() for t in (memory, prev_w, prev_r, *heads)]
    offsets = shift_offsets(1)
    index = shift_index(offsets, N)

    def run(fused, m, pw, pr, *packed):
        return access(m, PackedHeads(*packed), pw, pr, offsets, index=index, fused=fused)

    outs_fused, outs_ref = run(True, *leaves), run(False, *leaves)
    assert outs_fused[0].grad_fn.name().startswith("_FusedAccess")
    upstream = [torch.randn(o.shape, dtype=o.dtype, generator=g) for o in outs_ref]
    grads = []
    for outs in (outs_fused, outs_ref):
        loss = sum((o * u).sum() for o, u in zip(outs, upstream, strict=True))
        grads.append(torch.autograd.grad(loss, leaves))
    for a, b in zip(outs_fused, outs_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *xs: run(True, *xs), tuple(leaves))


def test_head_layer_layout():
    """One linear for all heads, unpacked by views: fields in range and in the documented place."""
    layer = HeadLayer(11, 1, R, W, 3)
    heads = layer(torch.randn(B, 11))
    write, read = unpack_heads(heads, 1, W)
    assert write.key.shape == (B, 1, W) and read.key.shape == (B, R, W)
    assert write.erase.shape == (B, 1, W) and read.erase is None
    torch.testing.assert_close(read.shift.sum(-1), torch.ones(B, R))
    assert (write.strength >= 1).all() and (read.sharpen >= 1).all()
    assert ((read.gate > 0) & (read.gate < 1)).all()
    # layout: [k, a | g, e | β, γ | s], write heads first; with h = 0 the raw output is the bias
    bias = layer.linear.bias.detach()
    H, start = 1 + R, layer.groups[0] + layer.groups[1]  # where the oneplus group begins
    write0, read0 = unpack_heads(layer(torch.zeros(1, 11)), 1, W)
    oneplus = 1 + torch.nn.functional.softplus(bias[start : start + 2 * H])
    torch.testing.assert_close(write0.strength[0], oneplus[:1])
    torch.testing.assert_close(read0.sharpen[0], oneplus[H + 1 :])
    torch.testing.assert_close(write0.add[0, 0], bias[H * W : H * W + W])


@pytest.mark.slow  # torch.compile builds C++ kernels: a minute or more on a small CPU
def test_compiled_step_keeps_outputs_and_gradients():
    batch = _batch(lengths=(T, T, T))
    plain = _model(num_write_heads=1)
    compiled = _model(num_write_heads=1, compile_step=True)
    compiled.load_state_dict(plain.state_dict())
    y1, g1 = _outputs_and_grads(compiled, batch)
    y0, g0 = _outputs_and_grads(plain, batch)
    torch.testing.assert_close(y1, y0, rtol=1e-4, atol=1e-5)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


# --- learning ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ntm_learns_short_copies():
    """Copy of 1-4 four-bit vectors: the bit error falls from chance to ~0 within 800 updates
    (typically 500-600 here; about a minute on a busy 2-core CPU)."""
    from tasks.algorithmic.copy import CopyDataModule

    torch.manual_seed(0)
    dm = CopyDataModule(
        bits=4,
        min_length=1,
        max_length=4,
        batch_size=16,
        seed=0,
        train_size=800 * 16,
        ood_factors=(2,),
    )
    model = NTM(dm.spec, memory_size=16, word_size=8, controller_size=64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def bit_error(batch):
        logits = model(batch).logits
        wrong = ((logits > 0).float() != batch.target).float().mean(-1)  # (B, T)
        return wrong[batch.target_mask].mean().item()

    val = next(iter(dm.val_dataloader()))
    with torch.no_grad():
        start = err = bit_error(val)
    for i, batch in enumerate(dm.train_dataloader()):
        logits = model(batch).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits[batch.target_mask], batch.target[batch.target_mask]
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if i % 50 == 49:
            with torch.no_grad():
                err = bit_error(val)
            if err < 0.01:
                break
    assert start > 0.3
    assert err < 0.05, f"bit error {err:.3f} after {i + 1} updates"
