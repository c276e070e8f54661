"""The DNC (Graves et al. 2016): interface, memory access order, model contract, learning."""

from __future__ import annotations

import pytest
import torch

from memnets.models.dnc import DNC, DNCState
from memnets.models.dnc_access import DNCInterface, InterfaceLayer, MemoryAccess
from tasks.batch import Batch, Role
from tasks.spec import TaskSpec

B, N, W, R = 3, 7, 5, 2
BITS = TaskSpec("features", 6, "bits", 4, 0, 0, "step", ("g",))
WORDS = TaskSpec("tokens", 1, "tokens", 2, vocab_size=11, num_classes=9, granularity="word",
                 group_names=("g",))
SMALL = dict(memory_size=N, word_size=W, num_reads=R, hidden_size=11)


# --- interface -----------------------------------------------------------------------------


@pytest.mark.parametrize("num_writes", [1, 2])
def test_interface_shapes_and_ranges(num_writes):
    torch.manual_seed(0)
    layer = InterfaceLayer(13, word_size=W, num_reads=R, num_writes=num_writes,
                           content_masking=True, mask_min=0.1, link_sharpness=True)
    # Paper's |ξ| for one write head: W·R + 3W + 5R + 3; plus masks and sharpness here.
    base = W * R + 3 * W * num_writes + 2 * R + 3 * num_writes + R * (1 + 2 * num_writes)
    assert layer.out_features == base + W * (R + num_writes) + 2 * R * num_writes
    xi = layer(torch.randn(B, 13) * 10)
    assert xi.read_keys.shape == (B, R, W) and xi.write_key.shape == (B, num_writes, W)
    assert xi.read_modes.shape == (B, R, 1 + 2 * num_writes)
    torch.testing.assert_close(xi.read_modes.sum(-1), torch.ones(B, R))
    assert (xi.read_modes >= 0).all()
    for s in (xi.read_strengths, xi.write_strength, xi.forward_sharpness, xi.backward_sharpness):
        assert (s >= 1).all()
    for g in (xi.erase_vector, xi.free_gates, xi.allocation_gate, xi.write_gate):
        assert ((g >= 0) & (g <= 1)).all()
    assert ((xi.read_masks >= 0.1) & (xi.read_masks <= 1)).all()


def test_paper_interface_size():
    layer = InterfaceLayer(8, word_size=W, num_reads=R, num_writes=1)
    assert layer.out_features == W * R + 3 * W + 5 * R + 3  # Graves et al. 2016, Methods


# --- memory access -----------------------------------------------------------------------------


def make_interface(batch: int, n_reads: int, word: int, **fields) -> DNCInterface:
    """A hand-set interface: by default no write, content reads with zero keys."""
    defaults = dict(
        read_keys=torch.zeros(batch, n_reads, word), read_strengths=torch.ones(batch, n_reads),
        write_key=torch.zeros(batch, 1, word), write_strength=torch.ones(batch, 1),
        erase_vector=torch.ones(batch, 1, word), write_vector=torch.zeros(batch, 1, word),
        free_gates=torch.zeros(batch, n_reads), allocation_gate=torch.ones(batch, 1),
        write_gate=torch.zeros(batch, 1),
        read_modes=torch.tensor([0.0, 1.0, 0.0]).expand(batch, n_reads, 3),
    )
    defaults.update(fields)
    return DNCInterface(**defaults)


def test_allocation_writes_then_links_replay_in_order():
    """Write v1, v2, v3 by allocation; find v1 by content; then forward mode reads v2, v3
    and backward mode goes back: the order of the paper's access step."""
    n, word = 5, 4
    access = MemoryAccess(memory_size=n, word_size=word, num_reads=1)
    state = access.initial_state(1, torch.device("cpu"), torch.float32)
    vs = torch.eye(word)[:3] * 2 - 0.5  # three distinct words
    for v in vs:
        xi = make_interface(1, 1, word, write_gate=torch.ones(1, 1),
                            write_vector=v.view(1, 1, word))
        _, state, diag = access(xi, state)
    assert (state.usage[0] > 0.99).sum() == 2  # u_t lags one step: the 3rd write shows next step
    written = state.memory[0]
    assert torch.allclose(torch.sort(written.abs().sum(-1)).values[-3:], vs.abs().sum(-1))

    def read(mode: int, **fields):
        modes = torch.zeros(1, 1, 3)
        modes[..., mode] = 1.0
        return access(make_interface(1, 1, word, read_modes=modes, **fields), state)

    strong = torch.full((1, 1), 50.0)
    words, state, _ = read(1, read_keys=vs[0].view(1, 1, word), read_strengths=strong)
    torch.testing.assert_close(words[0, 0], vs[0], atol=1e-3, rtol=0)
    for expected in (vs[1], vs[2]):
        words, state, _ = read(2)  # forward: f = L w^r_{t−1}
        torch.testing.assert_close(words[0, 0], expected, atol=1e-3, rtol=0)
    words, state, _ = read(0)  # backward: b = Lᵀ w^r_{t−1}
    torch.testing.assert_close(words[0, 0], vs[1], atol=1e-3, rtol=0)


def test_free_gate_releases_a_slot_for_reallocation():
    word = 3
    access = MemoryAccess(memory_size=4, word_size=word, num_reads=1, dealloc_wipe=True)
    state = access.initial_state(1, torch.device("cpu"), torch.float32)
    write = dict(write_gate=torch.ones(1, 1), write_vector=torch.ones(1, 1, word))
    _, state, _ = access(make_interface(1, 1, word, **write), state)
    slot = int(state.write_weights[0, 0].argmax())
    # Read that slot by content, then free it with f = 1.
    key = dict(read_keys=torch.ones(1, 1, word), read_strengths=torch.full((1, 1), 100.0))
    _, state, _ = access(make_interface(1, 1, word, **key), state)
    assert int(state.read_weights[0, 0].argmax()) == slot
    _, state, diag = access(make_interface(1, 1, word, free_gates=torch.ones(1, 1)), state)
    assert state.usage[0, slot] < 1e-3
    assert state.memory[0, slot].abs().max() < 1e-3  # dealloc_wipe erased it


def test_a_freed_slot_is_the_one_allocated_next_when_the_rest_are_full():
    """Fill both slots of a 2-slot memory, free the first by reading it with f = 1: allocation
    (Graves et al. 2016, Methods, a_t from u_t) must then point at that slot, not the full one."""
    word = 3
    access = MemoryAccess(memory_size=2, word_size=word, num_reads=1)
    state = access.initial_state(1, torch.device("cpu"), torch.float32)
    slots = []
    for v in (torch.tensor([1.0, -1.0, 1.0]), torch.tensor([-1.0, 1.0, 1.0])):
        _, state, _ = access(make_interface(1, 1, word, write_gate=torch.ones(1, 1),
                                            write_vector=v.view(1, 1, word)), state)
        slots.append(int(state.write_weights[0, 0].argmax()))
    assert sorted(slots) == [0, 1]
    key = dict(read_keys=torch.tensor([[[1.0, -1.0, 1.0]]]), read_strengths=torch.full((1, 1), 50.0))
    _, state, diag = access(make_interface(1, 1, word, **key), state)
    assert int(state.read_weights[0, 0].argmax()) == slots[0]
    assert float(diag.allocation[0, 0].max()) < 0.1  # both slots in use: nothing to allocate
    _, state, diag = access(make_interface(1, 1, word, free_gates=torch.ones(1, 1)), state)
    assert int(diag.allocation[0, 0].argmax()) == slots[0]
    assert float(diag.allocation[0, 0, slots[0]]) > 0.9


def test_write_weighting_equation():
    """w^w = g^w [g^a a + (1 − g^a) c^w] with explicit gates."""
    torch.manual_seed(1)
    access = MemoryAccess(memory_size=N, word_size=W, num_reads=R)
    state = access.initial_state(B, torch.device("cpu"), torch.float32)
    state = state._replace(memory=torch.randn(B, N, W), usage=torch.rand(B, N))
    xi = make_interface(B, R, W, write_key=torch.randn(B, 1, W),
                        write_strength=torch.full((B, 1), 3.0),
                        write_gate=torch.full((B, 1), 0.8), allocation_gate=torch.full((B, 1), 0.3))
    _, new, diag = access(xi, state)
    from memnets.ops.content import content_weights

    c = content_weights(state.memory, xi.write_key, xi.write_strength)
    torch.testing.assert_close(new.write_weights, 0.8 * (0.3 * diag.allocation + 0.7 * c))


def test_access_invariants_over_random_steps():
    torch.manual_seed(2)
    layer = InterfaceLayer(9, word_size=W, num_reads=R, num_writes=2)
    access = MemoryAccess(memory_size=N, word_size=W, num_reads=R, num_writes=2)
    state = access.initial_state(B, torch.device("cpu"), torch.float32)
    for _ in range(12):
        words, state, diag = access(layer(torch.randn(B, 9) * 3), state)
        assert words.shape == (B, R, W)
        assert ((state.usage >= 0) & (state.usage <= 1)).all()
        assert (state.read_weights >= 0).all() and (state.read_weights.sum(-1) <= 1 + 1e-5).all()
        assert (state.write_weights.sum(-1) <= 1 + 1e-5).all()
        assert (state.link.diagonal(dim1=-2, dim2=-1) == 0).all()
        assert (state.link.sum(-1) <= 1 + 1e-5).all() and (state.link.sum(-2) <= 1 + 1e-5).all()
        assert (state.precedence.sum(-1) <= 1 + 1e-5).all()


@pytest.mark.parametrize("options", [
    dict(),
    dict(content_masking=True, link_sharpness=True, dealloc_wipe=True, distance="euclidean"),
])
def test_gradcheck_one_access_step(options):
    torch.manual_seed(3)
    dt = torch.float64
    n, word, reads = 4, 3, 2
    masking = options.get("content_masking", False)
    layer = InterfaceLayer(5, word_size=word, num_reads=reads, num_writes=1,
                           content_masking=masking,
                           link_sharpness=options.get("link_sharpness", False)).double()
    access = MemoryAccess(memory_size=n, word_size=word, num_reads=reads,
                          distance=options.get("distance", "cosine"),
                          dealloc_wipe=options.get("dealloc_wipe", False))
    memory = torch.randn(2, n, word, dtype=dt, requires_grad=True)
    usage = torch.tensor([[0.1, 0.5, 0.3, 0.8], [0.6, 0.2, 0.9, 0.4]], dtype=dt)
    link = (torch.rand(2, 1, n, n, dtype=dt) * 0.2) * (1 - torch.eye(n, dtype=dt))
    prec = torch.softmax(torch.randn(2, 1, n, dtype=dt), -1) * 0.5
    reads_w = torch.softmax(torch.randn(2, reads, n, dtype=dt), -1)
    writes_w = torch.softmax(torch.randn(2, 1, n, dtype=dt), -1) * 0.7
    h = torch.randn(2, 5, dtype=dt, requires_grad=True)
    tensors = [t.requires_grad_(True) for t in (usage, link, prec, reads_w, writes_w)]

    def fn(h, memory, usage, link, prec, reads_w, writes_w):
        state = type(access.initial_state(1, "cpu", dt))(memory, usage, link, prec, reads_w,
                                                        writes_w)
        words, new, _ = access(layer(h), state)
        return words, new.memory, new.usage, new.link, new.read_weights

    assert torch.autograd.gradcheck(fn, (h, memory, *tensors), atol=1e-5)


# --- model ----------------------------------------------------------------------------------


def episode_batch(spec: TaskSpec, lengths: list[int], seed: int) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    T = max(lengths)
    Bn = len(lengths)
    lengths_t = torch.tensor(lengths)
    valid = torch.arange(T)[None] < lengths_t[:, None]
    role = torch.where(valid, int(Role.INPUT), int(Role.PAD))
    role[:, -1:] = torch.where(valid[:, -1:], int(Role.ANSWER), int(Role.PAD))
    if spec.input_kind == "features":
        inputs = torch.randn(Bn, T, spec.input_width, generator=gen) * valid[..., None]
        target = torch.randint(0, 2, (Bn, T, spec.target_width), generator=gen).float()
    else:
        inputs = torch.randint(1, spec.vocab_size, (Bn, T, spec.input_width), generator=gen)
        inputs = inputs * valid[..., None]
        target = torch.randint(0, spec.num_classes, (Bn, T, spec.target_width), generator=gen)
    return Batch(inputs, role, target, valid, lengths_t, torch.zeros(Bn, dtype=torch.long))


VARIANTS = [
    dict(),
    dict(controller="feedforward", num_layers=2),
    dict(num_layers=3, num_writes=2, allocation="softmax", distance="manhattan"),
    dict(allocation="normalized", distance="dot", content_masking=True, mask_min=0.1,
         dealloc_wipe=True, link_sharpness=True, clip=None),
    dict(num_writes=2, sparse_link_k=2),
]


@pytest.mark.parametrize("options", VARIANTS)
@pytest.mark.parametrize("spec", [BITS, WORDS], ids=["bits", "words"])
def test_shapes_traces_and_gradients(spec, options):
    torch.manual_seed(4)
    model = DNC(spec, **{**SMALL, **options})
    batch = episode_batch(spec, [6, 4, 5], seed=0)
    out = model(batch, trace=True)
    expected = (B, 6, 4) if spec.target_kind == "bits" else (B, 6, 2, 9)
    assert out.logits.shape == expected
    Hw = options.get("num_writes", 1)
    shapes = {"write_weights": (B, 6, Hw, N), "read_weights": (B, 6, R, N), "usage": (B, 6, N),
              "allocation": (B, 6, Hw, N), "read_modes": (B, 6, R, 1 + 2 * Hw),
              "write_gate": (B, 6, Hw), "allocation_gate": (B, 6, Hw), "free_gates": (B, 6, R)}
    assert {k: tuple(v.shape) for k, v in out.aux.items()} == shapes
    torch.testing.assert_close(out.aux["read_modes"].sum(-1), torch.ones(B, 6, R))
    out.logits.float().square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("options", VARIANTS)
def test_causal_padding_and_batch_independence(options):
    torch.manual_seed(5)
    model = DNC(BITS, **{**SMALL, **options}).eval()
    batch = episode_batch(BITS, [8, 8, 8], seed=1)
    with torch.no_grad():
        base = model(batch).logits
        # Causality: new inputs from step 5 on leave outputs at steps ≤ 4 unchanged.
        later = batch.inputs.clone()
        later[:, 5:] = torch.randn_like(later[:, 5:])
        changed = model(batch._replace(inputs=later)).logits
        torch.testing.assert_close(changed[:, :5], base[:, :5])
        assert not torch.allclose(changed[:, 5:], base[:, 5:])
        # Batch independence: item 0 does not see items 1 and 2.
        other = batch.inputs.clone()
        other[1:] = torch.randn_like(other[1:])
        torch.testing.assert_close(model(batch._replace(inputs=other)).logits[0], base[0])
        # Padding: a short episode padded to a longer batch gives its outputs alone.
        padded = episode_batch(BITS, [5, 9], seed=2)
        alone = Batch(*(t[:1, :5] if t.dim() > 1 else t[:1] for t in padded))
        torch.testing.assert_close(model(padded).logits[0, :5], model(alone).logits[0])


def test_step_loop_matches_forward_and_state_is_explicit():
    torch.manual_seed(6)
    model = DNC(BITS, **SMALL)
    batch = episode_batch(BITS, [5, 5, 5], seed=3)
    x = model.encoder(batch.inputs, batch.role)
    state = model.initial_state(B, x.device, x.dtype)
    assert isinstance(state, DNCState)
    ys = []
    for t in range(5):
        y, state = model.step(x[:, t], batch.role[:, t], state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), model(batch).logits)
    assert not any(isinstance(v, torch.Tensor) and v.dim() > 1 and v.shape[0] == B
                   for v in vars(model).values())


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="controller"):
        DNC(BITS, controller="gru")
    with pytest.raises(ValueError, match="distance"):
        DNC(BITS, distance="cheb")
    with pytest.raises(ValueError, match="allocation"):
        DNC(BITS, allocation="random")
    with pytest.raises(ValueError, match="sparse_link_k"):
        DNC(BITS, sparse_link_k=0)


# --- learning -------------------------------------------------------------------------------


def copy_batch(batch_size: int, bits: int, lengths: tuple[int, int], gen) -> Batch:
    """Copy episodes built by hand: n random vectors, a delimiter channel, then n answers."""
    n = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=gen))
    T = 2 * n + 1
    vectors = torch.randint(0, 2, (batch_size, n, bits), generator=gen).float()
    inputs = torch.zeros(batch_size, T, bits + 1)
    inputs[:, :n, :bits] = vectors
    inputs[:, n, bits] = 1.0
    target = torch.zeros(batch_size, T, bits)
    target[:, n + 1 :] = vectors
    role = torch.full((batch_size, T), int(Role.ANSWER))
    role[:, :n] = Role.INPUT
    role[:, n] = Role.QUERY
    return Batch(inputs, role, target, role == Role.ANSWER, torch.full((batch_size,), T),
                 torch.zeros(batch_size, dtype=torch.long))


@pytest.mark.slow
def test_small_dnc_learns_to_copy():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    bits = 4
    spec = TaskSpec("features", bits + 1, "bits", bits, 0, 0, "step", ("g",))
    model = DNC(spec, memory_size=8, word_size=8, num_reads=1, hidden_size=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    bit_errors = float("nan")
    for step in range(1500):
        batch = copy_batch(16, bits, (1, 5), gen)
        logits = model(batch).logits
        mask = batch.target_mask
        loss = loss_fn(logits[mask], batch.target[mask])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if step % 50 == 49:
            with torch.no_grad():
                test = copy_batch(64, bits, (5, 5), gen)
                wrong = (model(test).logits > 0).float() != test.target
                bit_errors = float(wrong[test.target_mask].sum() / 64)  # per sequence
            if bit_errors < 0.05:
                break
    assert bit_errors < 0.05, f"bit errors per length-5 sequence {bit_errors} after {step} steps"


def test_memory_picture_from_a_trace(tmp_path):
    from memnets.training.memory_plot import plot_memory_trace

    model = DNC(BITS, **SMALL)
    batch = episode_batch(BITS, [6, 4, 5], seed=0)
    with torch.no_grad():
        aux = model(batch, trace=True).aux
    path = plot_memory_trace(aux, tmp_path / "pics" / "memory.png", index=1, length=4,
                             title="DNC")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no memory traces"):
        plot_memory_trace({"cell": aux["usage"]}, tmp_path / "x.png")


# --- speed and memory switches (issue 7): same maths as the reference -------------------------


def _outputs_and_grads(model: DNC, batch: Batch, weights: torch.Tensor):
    model.zero_grad()
    y = model(batch).logits
    (y * weights).sum().backward()
    return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_same_outputs_and_gradients(model: DNC, other: DNC) -> Batch:
    """Give ``other`` the weights of ``model``; equal outputs and parameter gradients in
    float64 on a padded batch (T=7). Returns that batch."""
    other.load_state_dict(model.state_dict())
    batch = episode_batch(BITS, [7, 5, 6], seed=4)
    batch = batch._replace(inputs=batch.inputs.double())
    weights = torch.randn(B, 7, 4, dtype=torch.float64)
    y0, g0 = _outputs_and_grads(model, batch, weights)
    y1, g1 = _outputs_and_grads(other, batch, weights)
    torch.testing.assert_close(y1, y0, rtol=1e-12, atol=1e-12)
    assert g0.keys() == g1.keys()
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-10, atol=1e-12, msg=name)
    return batch


@pytest.mark.parametrize("options", [dict(), dict(num_writes=2, allocation="softmax",
                                                  link_sharpness=True)])
@pytest.mark.parametrize("switch", [dict(fast_path=False), dict(one_node_access=False),
                                    dict(checkpoint_every=3)],
                         ids=["reference_path", "per_op_access", "checkpointed"])
def test_speed_switches_keep_outputs_and_gradients(options, switch):
    """fast_path (default; in the paper's configuration the one-node access) vs the
    plain-autograd reference and vs the per-op access, and checkpointed chunks of 3 steps (not
    dividing T=7) vs the plain loop: equal outputs and parameter gradients in float64."""
    torch.manual_seed(7)
    default = DNC(BITS, **SMALL, **options).double()
    _assert_same_outputs_and_gradients(default, DNC(BITS, **SMALL, **options, **switch).double())


def test_checkpointing_keeps_traces_and_rejects_negative_chunks():
    model = DNC(BITS, **SMALL, checkpoint_every=2)
    out = model(episode_batch(BITS, [5, 5, 5], seed=5), trace=True)  # the plain loop traces
    assert out.aux["usage"].shape == (B, 5, N)
    with pytest.raises(ValueError, match="checkpoint_every"):
        DNC(BITS, **SMALL, checkpoint_every=-1)


@pytest.mark.slow  # torch.compile builds C++ kernels: a minute or more on a small CPU
def test_compiled_step_keeps_outputs_and_gradients():
    torch.manual_seed(9)
    plain = DNC(BITS, **SMALL)
    compiled = DNC(BITS, **SMALL, compile_step=True)
    compiled.load_state_dict(plain.state_dict())
    batch = episode_batch(BITS, [6, 4, 5], seed=6)
    weights = torch.randn(B, 6, 4)
    y0, g0 = _outputs_and_grads(plain, batch, weights)
    y1, g1 = _outputs_and_grads(compiled, batch, weights)
    torch.testing.assert_close(y1, y0, rtol=1e-4, atol=1e-5)
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-3, atol=1e-5, msg=name)


def saturate_writes(model: DNC, bias: float = 6.0) -> None:
    """Open the write and allocation gates (interface bias), so that writes are nearly one-hot
    and links survive the sparse link's 1/K prune even in an untrained model."""
    layer, offset = model.interface, 0
    for group, fields in layer.groups.items():
        for name, size in zip(fields, layer.field_sizes[group], strict=True):
            if name in ("write_gate", "allocation_gate"):
                with torch.no_grad():
                    layer.linear.bias[offset : offset + size] = bias
            offset += size


@pytest.mark.parametrize("options", [dict(sparse_link_k=3),
                                     dict(sparse_link_k=6, num_writes=2, link_sharpness=True)])
@pytest.mark.parametrize("switch", [dict(fast_path=False), dict(checkpoint_every=3)],
                         ids=["dense_reference", "checkpointed"])
def test_sparse_link_row_storage_equals_its_dense_reference(options, switch):
    """sparse_link_k: the row-sparse link against the same approximation on a dense matrix
    (fast_path=False), and under checkpointing: equal outputs and gradients in float64."""
    torch.manual_seed(8)
    sparse = DNC(BITS, **SMALL, **options).double()
    saturate_writes(sparse)
    batch = _assert_same_outputs_and_gradients(sparse, DNC(BITS, **SMALL, **options, **switch).double())
    # The links were not all pruned: the state holds row-sparse pairs with values >= 1/K.
    x = sparse.encoder(batch.inputs, batch.role)
    state = sparse.initial_state(B, x.device, x.dtype)
    with torch.no_grad():
        for t in range(7):
            _, state = sparse.step(x[:, t], batch.role[:, t], state)
    link = state.access.link
    k = options["sparse_link_k"]
    assert link.values.shape == (B, options.get("num_writes", 1), N, min(k, N))
    assert (link.values >= 1 / k).sum() >= B
