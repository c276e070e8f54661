"""MemN2N (Sukhbaatar et al. 2015): the batched causal forward equals a plain per-step loop
written from the paper's equations; contract properties; linear start; a small learning test."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from memnets.models.base import IncompatibleTaskError
from memnets.models.memn2n import MemN2N, memory_ages, scored_rows
from memnets.ops.position_encoding import code_position_weights, code_time_word_weights
from memnets.training.linear_start import LinearStart
from tasks.batch import IGNORE_INDEX, PAD_ID, Episode, Role, collate
from tasks.spec import TaskSpec
from tests.models.babi_learning import answer_step

V, L = 13, 6  # vocabulary (PAD_ID included), words per sentence
SPEC = TaskSpec("tokens", L, "tokens", 1, V, V, "sentence", ("a", "b"))
SPEC_FEW_CLASSES = TaskSpec("tokens", L, "tokens", 1, V, 7, "sentence", ("a", "b"))


def random_story(gen: torch.Generator, steps: int) -> Episode:
    """Statements, questions each followed by an ANSWER step, ragged sentences (inner PAD too)."""
    roles: list[int] = []
    while len(roles) < steps:
        if len(roles) + 2 <= steps and torch.rand((), generator=gen) < 0.35:
            roles += [Role.QUERY, Role.ANSWER]
        else:
            roles.append(Role.INPUT)
    inputs = torch.randint(1, V, (steps, L), generator=gen)
    inputs[torch.rand(steps, L, generator=gen) < 0.3] = PAD_ID  # holes inside sentences
    lengths = torch.randint(1, L + 1, (steps,), generator=gen)
    inputs[torch.arange(L)[None] >= lengths[:, None]] = PAD_ID  # ragged right padding
    inputs[:, 0] = torch.randint(1, V, (steps,), generator=gen)  # never an empty sentence
    role = torch.tensor([int(r) for r in roles])
    inputs[role == Role.ANSWER] = PAD_ID
    target = torch.randint(0, 7, (steps, 1), generator=gen)
    mask = role == Role.ANSWER
    target[~mask] = IGNORE_INDEX
    return Episode(inputs, role, target, mask, int(torch.randint(2, (), generator=gen)))


def story_batch(seed: int = 0, lengths: tuple[int, ...] = (14, 9, 17)):
    gen = torch.Generator().manual_seed(seed)
    return collate([random_story(gen, n) for n in lengths])


def make_model(spec: TaskSpec = SPEC, **kw) -> MemN2N:
    torch.manual_seed(0)
    kw = {"embed_dim": 5, "hops": 3, "memory_size": 4, **kw}
    return MemN2N(spec, **kw).double().eval()


# --- the plain reference: one (episode, step) at a time, lists and Python loops -----------------


def plain_encode(weight: torch.Tensor, tokens: list[int], d: int, encoding: str) -> torch.Tensor:
    words = [w for w in tokens if w != PAD_ID]
    J = len(words)
    L = len(tokens)  # the padded width, the authors' code's one J
    out = torch.zeros(d, dtype=weight.dtype)
    for j, w in enumerate(words, start=1):
        if encoding == "position":  # l_kj = (1 - j/J) - (k/d)(1 - 2j/J), MemN2N §4.1
            l_j = torch.tensor(
                [(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)],
                dtype=torch.float64,
            )
        elif encoding == "position_code":  # MemN2N-babi-matlab: 1 + 4(k-(d+1)/2)(j-(L+1)/2)/(dL)
            l_j = torch.tensor(
                [1 + 4 * (k - (d + 1) / 2) * (j - (L + 1) / 2) / (d * L) for k in range(1, d + 1)],
                dtype=torch.float64,
            )
        else:
            l_j = torch.ones(d)
        out += l_j.to(weight.dtype) * weight[w]
    return out


def plain_reference(model: MemN2N, batch, empties: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, O) outputs of MemN2N eqs. 1-3 (+PE, TE, RN empties) computed step by step."""
    K, S, d = model.hops, model.memory_size, model.embed_dim
    E = [e.weight for e in model.embeddings]
    TT = list(model.temporal)
    if model.weight_tying == "adjacent":  # A^k = E_{k-1}, C^k = E_k, B = E_0 (§2.2)
        A, C, Bq = (lambda k: E[k - 1]), (lambda k: E[k]), E[0]
        TA, TC = (lambda k: TT[k - 1]), (lambda k: TT[k])
    else:  # layer-wise: one A, one C, and H between hops
        A, C, Bq = (lambda k: E[0]), (lambda k: E[1]), E[2]
        TA, TC = (lambda k: TT[0]), (lambda k: TT[1])
    W = E[K].T if model.W is None else model.W.weight.T
    encoding = model.encoding
    Bsz, T, _ = batch.inputs.shape
    # the authors' time word: one more word after the L positions, weighted by their PE at j = L+1
    Jt = batch.inputs.shape[-1] + 1
    time_scale = (
        torch.tensor([1 + 4 * (k - (d + 1) / 2) * (Jt - (Jt + 1) / 2) / (d * Jt)
                      for k in range(1, d + 1)], dtype=torch.float64)
        if model.time_word_weight else 1.0
    )
    out = torch.zeros(Bsz, T, W.shape[1], dtype=W.dtype)
    for b in range(Bsz):
        roles = batch.role[b].tolist()
        sent = batch.inputs[b].tolist()
        for t in range(T):
            # memory sequence up to t, oldest first, with RN empty memories before statements
            seq: list[int | None] = []
            for s in range(t + 1):
                if roles[s] == Role.INPUT:
                    if empties is not None and empties[b, s]:
                        seq.append(None)
                    seq.append(s)
            # (age, step), step None for an empty memory: zero content, still a memory (RN)
            mems = [(len(seq) - 1 - i, s) for i, s in enumerate(seq)]
            mems = [(age, s) for age, s in mems if age < S]  # the most recent S memories
            if not model.noise_memories:  # the authors' RN: a blank is a gap in the ages only
                mems = [(age, s) for age, s in mems if s is not None]
            queries = [s for s in range(t + 1) if roles[s] == Role.QUERY]
            u = plain_encode(Bq, sent[queries[-1]], d, encoding) if queries else torch.zeros(d, dtype=W.dtype)
            for k in range(1, K + 1):
                o = torch.zeros(d, dtype=W.dtype)
                if mems:
                    m = [plain_encode(A(k), sent[s] if s is not None else [], d, encoding)
                         for _, s in mems]
                    c = [plain_encode(C(k), sent[s] if s is not None else [], d, encoding)
                         for _, s in mems]
                    if model.temporal_encoding:
                        m = [mi + time_scale * TA(k)[age] for mi, (age, _) in zip(m, mems, strict=True)]
                        c = [ci + time_scale * TC(k)[age] for ci, (age, _) in zip(c, mems, strict=True)]
                    scores = torch.stack([u @ mi for mi in m])
                    p = torch.softmax(scores, 0) if model.softmax_enabled else scores
                    for pi, ci in zip(p, c, strict=True):
                        o = o + pi * ci
                u = (model.H.weight @ u if model.H is not None else u) + o
                if model.nonlinearity == "relu":  # Table 1's starred model
                    u = torch.clamp(u, min=0)
            out[b, t] = u @ W
    return out


@pytest.mark.parametrize(
    "spec, kw",
    [
        (SPEC, {}),
        (SPEC, {"encoding": "bow"}),
        (SPEC, {"encoding": "position_code"}),
        (SPEC, {"encoding": "position_code", "time_word_weight": True}),
        (SPEC, {"temporal_encoding": False}),
        (SPEC, {"weight_tying": "layerwise"}),
        (SPEC_FEW_CLASSES, {"hops": 2, "memory_size": 50}),
        (SPEC, {"nonlinearity": "relu"}),
        (SPEC, {"nonlinearity": "relu", "weight_tying": "layerwise"}),
    ],
    ids=["adjacent-pe-te", "bow", "pe-code", "pe-code-time-word", "no-te", "layerwise", "untied-W",
         "relu", "relu-layerwise"],
)
def test_vectorised_forward_equals_step_reference(spec, kw):
    model = make_model(spec, **kw)
    batch = story_batch()
    with torch.no_grad():
        fast = model(batch).logits  # (B, T, 1, C)
        slow = plain_reference(model, batch)
    assert fast.shape == (3, 17, 1, spec.num_classes)
    torch.testing.assert_close(fast[..., 0, :], slow, rtol=1e-12, atol=1e-12)


def test_the_relu_model_is_not_the_linear_one():
    """ReLU after each hop changes the answers (the state has negative entries to cut)."""
    batch = story_batch(seed=2)
    with torch.no_grad():
        linear = make_model()(batch).logits
        relu = make_model(nonlinearity="relu")(batch).logits
    assert (linear - relu).abs().max() > 1e-3
    with pytest.raises(ValueError, match="nonlinearity"):
        make_model(nonlinearity="tanh")


def test_linear_start_forward_equals_reference_without_softmax():
    model = make_model()
    model.softmax_enabled = False
    batch = story_batch(seed=3)
    with torch.no_grad():
        out = model(batch, trace=True)
        ref = plain_reference(model, batch)
    torch.testing.assert_close(out.logits[..., 0, :], ref, rtol=1e-12, atol=1e-12)
    sums = out.aux["hop_attention"].sum(-1)  # (B, T, K): raw scores do not sum to one
    assert not torch.allclose(sums[sums != 0], torch.ones_like(sums[sums != 0]))


def test_random_noise_time_shifts_equal_reference_with_empty_memories(monkeypatch):
    model = make_model(random_noise=0.5).train()
    batch = story_batch(seed=5)
    gen = torch.Generator().manual_seed(7)
    empties = ((torch.rand(batch.role.shape, generator=gen) < 0.5) & (batch.role == Role.INPUT)).long()
    monkeypatch.setattr(model, "_noise", lambda is_input: empties)
    with torch.no_grad():
        fast = model(batch).logits[..., 0, :]
        ref = plain_reference(model, batch, empties)
        clean = plain_reference(model, batch)
    scored = batch.target_mask  # a training forward computes the scored steps only
    torch.testing.assert_close(fast[scored], ref[scored], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(fast[scored], clean[scored])  # the shifts did change something


def test_random_noise_as_the_authors_code_only_shifts_ages(monkeypatch):
    """noise_memories=False: the same blanks age the older memories but take no attention, so
    the output equals the reference without empty memories, differs from the paper's RN and from
    no noise at all."""
    batch = story_batch(seed=5)
    gen = torch.Generator().manual_seed(7)
    empties = ((torch.rand(batch.role.shape, generator=gen) < 0.5) & (batch.role == Role.INPUT)).long()
    outputs = {}
    for noise_memories in (True, False):
        model = make_model(random_noise=0.5, noise_memories=noise_memories).train()
        monkeypatch.setattr(model, "_noise", lambda is_input: empties)
        with torch.no_grad():
            outputs[noise_memories] = model(batch).logits[..., 0, :][batch.target_mask]
            ref = plain_reference(model, batch, empties)[batch.target_mask]
        torch.testing.assert_close(outputs[noise_memories], ref, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        clean = plain_reference(model, batch)[batch.target_mask]
    assert not torch.allclose(outputs[False], outputs[True])
    assert not torch.allclose(outputs[False], clean)


def test_time_word_weight_is_the_code_pe_of_one_more_position():
    """The authors' time word is the last of J = L + 1 positions: its weight is the row the code
    PE gives that position in a sentence of L + 1 words; hand-computed for d = 2, L = 2 (J = 3):
    l_k = 1 + 4 (k - 1.5)(3 - 2) / 6 = (2/3, 4/3)."""
    w = code_time_word_weights(2, 2, dtype=torch.float64)
    torch.testing.assert_close(w, torch.tensor([2 / 3, 4 / 3], dtype=torch.float64))
    full = code_position_weights(torch.ones(1, 12, dtype=torch.bool), 100, dtype=torch.float64)
    torch.testing.assert_close(code_time_word_weights(11, 100, dtype=torch.float64), full[0, -1])
    with pytest.raises(ValueError, match="encoding=position_code"):
        MemN2N(SPEC, time_word_weight=True)  # the paper's PE has no time word
    plain = make_model(encoding="position_code")
    scaled = make_model(encoding="position_code", time_word_weight=True)
    batch = story_batch(seed=3)
    with torch.no_grad():
        assert not torch.allclose(plain(batch).logits, scaled(batch).logits)


def test_random_noise_empty_memory_is_an_empty_sentence_in_the_story(monkeypatch):
    """RN as the paper describes it (§4.1, empty memories added to the stories): a training forward
    with an empty memory drawn before statement s answers exactly as the same model, without
    noise, on the story with an empty (all-PAD) statement written in before s."""
    gen = torch.Generator().manual_seed(11)
    story = random_story(gen, 12)
    statements = (story.role == Role.INPUT).nonzero().flatten().tolist()
    before = statements[1:4]  # empties before the 2nd-4th statements
    empties = torch.zeros(1, 12, dtype=torch.long)
    empties[0, before] = 1
    rows, keep = [], []
    for t in range(12):
        if t in before:  # the empty statement: no words at all
            rows.append((torch.full((L,), PAD_ID), int(Role.INPUT), IGNORE_INDEX, False))
        keep.append(len(rows))
        rows.append((story.inputs[t], int(story.role[t]), int(story.target[t, 0]),
                     bool(story.target_mask[t])))
    written = Episode(torch.stack([r[0] for r in rows]), torch.tensor([r[1] for r in rows]),
                      torch.tensor([[r[2]] for r in rows]), torch.tensor([r[3] for r in rows]), 0)
    model = make_model(random_noise=0.5, memory_size=5)
    with torch.no_grad():
        reference = model.eval()(collate([written])).logits[0, keep]
        model.train()
        monkeypatch.setattr(model, "_noise", lambda is_input: empties)
        noisy = model(collate([story])).logits[0]
    scored = story.target_mask  # a training forward computes the scored steps only
    torch.testing.assert_close(noisy[scored], reference[scored], rtol=1e-12, atol=1e-12)


def test_random_noise_only_in_training():
    model = make_model(random_noise=0.5)
    batch = story_batch(seed=2)
    with torch.no_grad():
        e1, e2 = model(batch).logits, model(batch).logits
        torch.manual_seed(1)
        noisy = model.train()(batch).logits
    torch.testing.assert_close(e1, e2, rtol=0, atol=0)
    assert not torch.allclose(noisy, e1)
    quiet = make_model(random_noise=0.0)
    with torch.no_grad():
        scored = batch.target_mask
        torch.testing.assert_close(quiet.train()(batch).logits[scored], quiet.eval()(batch).logits[scored])


def test_scored_rows_put_each_examples_scored_steps_first():
    mask = torch.tensor([[0, 1, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    rows = scored_rows(mask)
    assert rows.shape == (3, 2)  # R = the most scored steps of any example
    assert rows[0].tolist() == [1, 3]
    assert rows[1].tolist() == [4, 0]  # its one scored step, then an unscored one
    assert rows[2].tolist() == [0, 1]  # no scored step: still R >= 1 distinct rows
    assert scored_rows(torch.zeros(2, 3, dtype=torch.bool)).shape == (2, 1)


@pytest.mark.parametrize("kw", [{}, {"weight_tying": "layerwise", "nonlinearity": "relu"}],
                         ids=["adjacent", "layerwise-relu"])
@pytest.mark.parametrize("softmax", [True, False], ids=["softmax", "linear-start"])
def test_training_forward_computes_only_the_scored_steps(kw, softmax):
    """In training only the scored rows are computed (the loss reads nothing else): their logits
    and the gradients of a loss on them equal those of the all-rows forward, and the unscored
    rows are zero."""
    batch = story_batch(seed=4, lengths=(14, 9, 17, 6))
    scored = batch.target_mask
    assert scored.sum(1).unique().numel() > 1  # examples with different numbers of answers
    outs, grads = {}, {}
    for mode in ("train", "eval"):
        model = make_model(random_noise=0.0, **kw)
        model.softmax_enabled = softmax
        model.train(mode == "train")
        logits = model(batch).logits[..., 0, :]  # (B, T, O)
        (logits[scored] ** 2).sum().backward()
        outs[mode] = logits.detach()
        grads[mode] = [p.grad.clone() for p in model.parameters()]
    computed = torch.zeros_like(scored).scatter(1, scored_rows(scored), True)  # (B, T)
    assert (scored <= computed).all() and computed.sum() < computed.numel()
    torch.testing.assert_close(outs["train"][computed], outs["eval"][computed], rtol=1e-12, atol=1e-12)
    assert outs["train"][~computed].abs().max() == 0  # never computed
    assert outs["eval"][~computed].abs().max() > 0  # evaluation answers at those steps too
    for g_train, g_eval in zip(grads["train"], grads["eval"], strict=True):
        torch.testing.assert_close(g_train, g_eval, rtol=1e-10, atol=1e-12)


def test_memory_ages_count_more_recent_statements_and_empties():
    is_input = torch.tensor([[1, 1, 0, 1, 0, 1, 1]], dtype=torch.bool)
    empties = torch.tensor([[0, 1, 0, 0, 0, 1, 0]])
    ages = memory_ages(is_input, empties)  # (1, 7, 7)
    # at t=6 the memory list (oldest first) is s0, [empty], s1, s3, [empty], s5, s6
    assert ages[0, 6, [0, 1, 3, 5, 6]].tolist() == [6, 4, 3, 1, 0]
    # at t=3: s0, [empty], s1, s3
    assert ages[0, 3, [0, 1, 3]].tolist() == [3, 1, 0]
    assert memory_ages(is_input)[0, 6, [0, 1, 3, 5, 6]].tolist() == [4, 3, 2, 1, 0]


# --- contract: causality, padding, batch independence, shapes, compatibility ------------------


def test_causal_every_step_sees_only_the_past():
    model = make_model()
    batch = story_batch(seed=4)
    t0 = 8
    inputs, role = batch.inputs.clone(), batch.role.clone()
    inputs[:, t0:] = torch.randint(1, V, inputs[:, t0:].shape)
    role[:, t0:] = torch.where(role[:, t0:] == Role.INPUT, int(Role.QUERY), int(Role.INPUT))
    with torch.no_grad():
        base = model(batch).logits
        changed = model(batch._replace(inputs=inputs, role=role)).logits
    torch.testing.assert_close(changed[:, :t0], base[:, :t0], rtol=0, atol=0)
    assert not torch.allclose(changed[:, t0:], base[:, t0:])


def test_statement_after_a_question_does_not_change_its_answer():
    gen = torch.Generator().manual_seed(0)
    ep = random_story(gen, 10)
    ep = ep._replace(role=torch.tensor([1, 1, 1, 2, 3, 1, 1, 2, 3, 1]))
    ep = ep._replace(target_mask=ep.role == Role.ANSWER)
    longer = Episode(
        torch.cat([ep.inputs, torch.randint(1, V, (2, L), generator=gen)]),
        torch.cat([ep.role, torch.tensor([1, 1])]),
        torch.cat([ep.target, torch.full((2, 1), IGNORE_INDEX)]),
        torch.cat([ep.target_mask, torch.tensor([False, False])]),
        ep.group,
    )
    model = make_model(memory_size=50)
    with torch.no_grad():
        a = model(collate([ep])).logits[0, [4, 8]]
        b = model(collate([longer])).logits[0, [4, 8]]
    torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)  # T differs: summation order too


def test_padding_and_batch_independence():
    gen = torch.Generator().manual_seed(9)
    eps = [random_story(gen, n) for n in (6, 15, 11)]
    model = make_model()
    with torch.no_grad():
        together = model(collate(eps)).logits
        for i, ep in enumerate(eps):
            alone = model(collate([ep])).logits[0]
            n = len(ep.role)
            torch.testing.assert_close(together[i, :n], alone, rtol=1e-12, atol=1e-12)
        other = list(eps)
        other[1] = random_story(gen, 15)
        changed = model(collate(other)).logits
    torch.testing.assert_close(changed[[0, 2]], together[[0, 2]], rtol=0, atol=0)


def test_trace_shapes_and_attention_window():
    model = make_model(memory_size=3)
    batch = story_batch()
    with torch.no_grad():
        out = model(batch, trace=True)
    att = out.aux["hop_attention"]  # (B, T, K, T)
    assert att.shape == (3, 17, 3, 17)
    assert (att.transpose(1, 2).triu(diagonal=1) == 0).all()  # (B, K, T, T): no future steps
    assert ((att > 0).sum(-1) <= 3).all()  # at most memory_size memories
    not_input = batch.role != Role.INPUT  # (B, T)
    assert (att.masked_select(not_input[:, None, None, :].expand_as(att)) == 0).all()
    sums = att.sum(-1)
    assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]))
    assert model(batch).aux == {}


def test_rejects_other_granularities_and_bad_options():
    word = TaskSpec("tokens", 1, "tokens", 1, V, V, "word", ("a",))
    with pytest.raises(IncompatibleTaskError, match="sentence"):
        MemN2N(word)
    with pytest.raises(ValueError, match="weight_tying"):
        MemN2N(SPEC, weight_tying="none")


def test_gradients_reach_every_parameter_and_gradcheck_temporal():
    model = make_model(weight_tying="layerwise", hops=2)
    batch = story_batch(lengths=(7, 5, 6))
    logits = model(batch).logits
    logits[batch.target_mask].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    def f(t_a: torch.Tensor) -> torch.Tensor:
        params = dict(model.named_parameters()) | {"temporal.0": t_a}
        return torch.func.functional_call(model, params, (batch,)).logits

    t_a = model.temporal[0].detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (t_a,))


# --- linear start callback ---------------------------------------------------------------------


def fake_trainer(epoch: int = 0, loss: float | None = None, sanity: bool = False):
    metrics = {} if loss is None else {"val/loss": torch.tensor(loss)}
    return SimpleNamespace(current_epoch=epoch, callback_metrics=metrics, sanity_checking=sanity)


def test_linear_start_removes_softmax_until_validation_loss_stalls():
    holder = nn.Module()
    holder.model = make_model()
    ls = LinearStart(max_epochs=10)
    ls.on_fit_start(fake_trainer(), holder)
    assert holder.model.softmax_enabled is False
    ls.on_validation_end(fake_trainer(0, 3.0, sanity=True), holder)  # sanity check: ignored
    for epoch, loss in enumerate([2.0, 1.5, 1.2]):
        ls.on_validation_end(fake_trainer(epoch, loss), holder)
        ls.on_train_epoch_end(fake_trainer(epoch), holder)
        assert holder.model.softmax_enabled is False
    ls.on_validation_end(fake_trainer(3, 1.2), holder)  # no improvement
    assert holder.model.softmax_enabled is False  # a checkpoint saved now holds the linear mode
    ls.on_train_batch_start(fake_trainer(4), holder, None, 0)
    assert holder.model.softmax_enabled is True and ls.ended_epoch == 4
    restored = LinearStart(max_epochs=10)
    restored.load_state_dict(ls.state_dict())
    restored.on_fit_start(fake_trainer(), holder)  # a resumed run keeps the softmax
    assert holder.model.softmax_enabled is True


def test_linear_start_without_a_monitor_lasts_exactly_max_epochs():
    """monitor=None (the authors' fixed 20 linear epochs): a stalled loss does not end LS, and
    no "not logged" warning is raised, since nothing is watched."""
    model = make_model()
    ls = LinearStart(max_epochs=3, monitor=None)
    ls.on_fit_start(fake_trainer(), model)
    for epoch, loss in enumerate([2.0, 2.5, 3.0]):  # the loss rises: a monitor would end LS
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ls.on_validation_end(fake_trainer(epoch, loss), model)
        ls.on_train_batch_start(fake_trainer(epoch), model, None, 0)
        assert model.softmax_enabled is False, epoch
        ls.on_train_epoch_end(fake_trainer(epoch), model)
    ls.on_train_batch_start(fake_trainer(3), model, None, 0)
    assert model.softmax_enabled is True and ls.ended_epoch == 3


def test_linear_start_ends_at_max_epochs_and_needs_the_flag():
    model = make_model()
    ls = LinearStart(max_epochs=2)
    ls.on_fit_start(fake_trainer(), model)
    ls.on_train_epoch_end(fake_trainer(0), model)
    assert model.softmax_enabled is False
    ls.on_train_epoch_end(fake_trainer(1), model)
    assert model.softmax_enabled is False  # until the next training batch
    ls.on_train_batch_start(fake_trainer(2), model, None, 0)
    assert model.softmax_enabled is True
    with pytest.raises(ValueError, match="softmax_enabled"):
        LinearStart().on_fit_start(fake_trainer(), nn.Linear(2, 2))


# --- learning: a tiny "X went to Y ... where is X?" task -------------------------------------

PERSONS, PLACES, WENT, TO, WHERE, IS = range(1, 5), range(5, 10), 10, 11, 12, 13
WHERE_SPEC = TaskSpec("tokens", 5, "tokens", 1, 14, 14, "sentence", ("where",))


def where_is_story(gen: torch.Generator) -> Episode:
    """1-3 moves then "where is X ?" (X has moved), repeated 2-4 times; answer: X's last place."""
    steps, roles, answers, place = [], [], [], {}
    for _ in range(int(torch.randint(2, 5, (), generator=gen))):
        for _ in range(int(torch.randint(1, 4, (), generator=gen))):
            who = PERSONS[int(torch.randint(4, (), generator=gen))]
            place[who] = PLACES[int(torch.randint(5, (), generator=gen))]
            steps.append([who, WENT, TO, place[who], PAD_ID])
            roles.append(Role.INPUT)
        who = sorted(place)[int(torch.randint(len(place), (), generator=gen))]
        steps += [[WHERE, IS, who, PAD_ID, PAD_ID], [PAD_ID] * 5]
        roles += [Role.QUERY, Role.ANSWER]
        answers += [IGNORE_INDEX] * (len(steps) - len(answers) - 1) + [place[who]]
    target = torch.tensor(answers)[:, None]
    role = torch.tensor([int(r) for r in roles])
    return Episode(torch.tensor(steps), role, target, role == Role.ANSWER, 0)


def where_is_error(model: nn.Module, steps: int, lr: float, seed: int = 0) -> float:
    """Adam on fresh batches of 32 stories, then the answer error on 320 unseen stories."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        answer_step(model, collate([where_is_story(gen) for _ in range(32)]), opt)
    model.eval()
    test = collate([where_is_story(gen) for _ in range(320)])
    with torch.no_grad():
        pred = model(test).logits[..., 0, :].argmax(-1)
    wrong = (pred != test.target[..., 0]) & test.target_mask
    return wrong.sum().item() / test.target_mask.sum().item()


@pytest.mark.slow
def test_memn2n_learns_where_is():
    torch.manual_seed(0)
    model = MemN2N(WHERE_SPEC, embed_dim=20, hops=3)
    chance = 1 - 1 / len(PLACES)
    error = where_is_error(model, steps=300, lr=0.01)
    assert error < 0.05, f"error {error:.3f} (chance {chance:.2f})"
    assert not math.isnan(error)


def test_linear_start_in_a_real_lightning_fit(tmp_path):
    """LS through Lightning's own hook order: linear while epoch 0 trains, softmax after max_epochs."""
    from functools import partial

    import lightning.pytorch as pl

    from memnets.training.lit_module import MemNetLitModule

    gen = torch.Generator().manual_seed(0)
    train = [collate([where_is_story(gen) for _ in range(4)]) for _ in range(3)]
    val = [collate([where_is_story(gen) for _ in range(4)])]
    seen: list[tuple[int, bool]] = []

    class Spy(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((trainer.current_epoch, pl_module.model.softmax_enabled))

    torch.manual_seed(0)
    lit = MemNetLitModule(MemN2N(WHERE_SPEC), optimizer=partial(torch.optim.SGD, lr=0.01))
    ls = LinearStart(max_epochs=1, monitor="val/loss")
    saved = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}")
    trainer = pl.Trainer(
        max_epochs=2, callbacks=[ls, Spy(), saved], logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        num_sanity_val_steps=0,
    )  # fmt: skip
    loader = partial(torch.utils.data.DataLoader, batch_size=None, collate_fn=lambda b: b)
    trainer.fit(lit, loader(train), loader(val))
    assert seen == [(0, False)] * 3 + [(1, True)] * 3
    assert ls.ended_epoch == 1 and lit.model.softmax_enabled
    # the epoch-0 checkpoint (validated while linear) keeps the linear mode with its weights
    modes = [torch.load(tmp_path / f"epoch={e}.ckpt", weights_only=False)["state_dict"]
             ["model._extra_state"]["softmax_enabled"] for e in (0, 1)]
    assert modes == [False, True]


def test_a_checkpoint_taken_during_linear_start_loads_as_the_linear_model(tmp_path):
    """The best-validation checkpoint runs are tested with may come from the LS epochs: loading
    it must give the model that was validated (linear), not the mode the run ended in."""
    from functools import partial

    import lightning.pytorch as pl

    from memnets.training.lit_module import MemNetLitModule

    linear = MemN2N(WHERE_SPEC)
    linear.softmax_enabled = False
    ended = MemN2N(WHERE_SPEC)  # the run ended with softmax re-inserted
    assert ended.softmax_enabled
    ended.load_state_dict(linear.state_dict())
    assert ended.softmax_enabled is False
    batch = collate([where_is_story(torch.Generator().manual_seed(1)) for _ in range(3)])
    torch.testing.assert_close(ended.eval()(batch).logits, linear.eval()(batch).logits)

    # through Lightning: a checkpoint saved at LS time, tested after LS ended
    gen = torch.Generator().manual_seed(0)
    stories = [collate([where_is_story(gen) for _ in range(4)])]
    lit = MemNetLitModule(MemN2N(WHERE_SPEC), optimizer=partial(torch.optim.SGD, lr=0.01))
    lit.model.softmax_enabled = False
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    loader = partial(torch.utils.data.DataLoader, batch_size=None, collate_fn=lambda b: b)
    trainer.strategy.connect(lit)
    trainer.save_checkpoint(tmp_path / "ls.ckpt")
    lit.model.softmax_enabled = True
    modes: list[bool] = []

    class Spy(pl.Callback):
        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            modes.append(pl_module.model.softmax_enabled)

    tester = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path, callbacks=[Spy()])
    tester.test(lit, loader(stories), ckpt_path=tmp_path / "ls.ckpt", verbose=False)
    assert modes == [False]
