"""Associative recall data (NTM paper §4.3): layout, answer, determinism, OOD split."""

import numpy as np
import pytest
import torch

from tasks.algorithmic.associative_recall import AssociativeRecallDataModule, make_episode
from tasks.batch import Role, validate_batch

BITS, L = 5, 3


def _items(episode, bits=BITS, item_length=L):
    """Decode the story items, the query item and the answer from one episode's inputs."""
    x, role = episode.inputs, episode.role
    starts = torch.nonzero(x[:, bits] == 1).flatten().tolist()
    items = [x[s + 1 : s + 1 + item_length, :bits] for s in starts]
    q0 = torch.nonzero(x[:, bits + 1] == 1).flatten().tolist()
    assert len(q0) == 2 and q0[1] - q0[0] == item_length + 1
    query = x[q0[0] + 1 : q0[1], :bits]
    answer_steps = role == Role.ANSWER
    return items, query, episode.target[answer_steps], answer_steps


@pytest.mark.parametrize("n", [2, 4, 7])
def test_answer_is_the_item_after_the_query(n):
    for seed in range(20):
        ep = make_episode(np.random.default_rng(seed), n, BITS, L, group=0)
        items, query, answer, answer_steps = _items(ep)
        assert len(items) == n
        matches = [j for j, it in enumerate(items) if torch.equal(it, query)]
        assert len(matches) == 1 and matches[0] < n - 1
        assert torch.equal(answer, items[matches[0] + 1])
        # the answer phase has no input, and only answer steps are scored
        assert ep.inputs[answer_steps].abs().sum() == 0
        assert torch.equal(ep.target_mask, answer_steps)
        assert answer_steps.sum() == L
        assert len(ep.role) == n * (L + 1) + (L + 2) + L


def test_roles_follow_the_layout():
    ep = make_episode(np.random.default_rng(0), 3, BITS, L, group=0)
    story = 3 * (L + 1)
    assert (ep.role[:story] == Role.INPUT).all()
    assert (ep.role[story : story + L + 2] == Role.QUERY).all()
    assert (ep.role[story + L + 2 :] == Role.ANSWER).all()
    # each step carries either item bits or exactly one delimiter, never both
    delim = ep.inputs[:, BITS:].sum(-1)
    assert ((delim == 0) | ((delim == 1) & (ep.inputs[:, :BITS].sum(-1) == 0))).all()


def test_items_in_an_episode_are_distinct():
    # 1 bit x 2 steps allows only 4 distinct items: 4 items must use all of them
    ep = make_episode(np.random.default_rng(3), 4, 1, 2, group=0)
    items, *_ = _items(ep, bits=1, item_length=2)
    assert len({tuple(it.flatten().tolist()) for it in items}) == 4


def _dm(**kw):
    args = dict(
        bits=BITS,
        item_length=L,
        min_items=2,
        max_items=4,
        ood_factors=(2, 3),
        train_size=64,
        val_size=16,
        test_size=32,
        batch_size=8,
        seed=7,
    )
    args.update(kw)
    return AssociativeRecallDataModule(**args)


def test_spec_and_split_names_known_before_setup():
    dm = _dm()
    assert dm.test_split_names == ("test", "test_2x", "test_3x")
    assert dm.spec.input_width == BITS + 2 and dm.spec.target_width == BITS
    assert dm.spec.granularity == "step" and dm.spec.target_kind == "bits"
    assert dm.spec.group_names == tuple(f"items_{n}" for n in range(2, 13))


def test_loaders_yield_valid_batches_with_item_count_groups():
    dm = _dm()
    loaders = [dm.train_dataloader(), dm.val_dataloader(), *dm.test_dataloader()]
    assert len(loaders) == 5
    ranges = [(2, 4), (2, 4), (2, 4), (5, 8), (9, 12)]
    for loader, (lo, hi) in zip(loaders, ranges, strict=True):
        counts = []
        for batch in loader:
            validate_batch(batch, dm.spec)
            n_items = batch.group + 2
            # episode length is fixed by the item count
            assert torch.equal(batch.lengths, n_items * (L + 1) + 2 * L + 2)
            counts += n_items.tolist()
        assert lo <= min(counts) and max(counts) <= hi
        assert max(counts) > lo  # several sizes actually sampled


def test_ood_split_is_longer_than_training():
    dm = _dm()
    train_max = max(int(b.lengths.max()) for b in dm.train_dataloader())
    ood_min = min(int(b.lengths.min()) for b in dm.test_dataloader()[1])
    assert ood_min > train_max


def test_deterministic_by_seed_and_splits_differ():
    a, b, c = _dm(), _dm(), _dm(seed=8)
    batch_a = next(iter(a.test_dataloader()[0]))
    batch_b = next(iter(b.test_dataloader()[0]))
    batch_c = next(iter(c.test_dataloader()[0]))
    assert all(torch.equal(x, y) for x, y in zip(batch_a, batch_b, strict=True))
    assert not torch.equal(batch_a.inputs[:, :10], batch_c.inputs[:, :10])
    train_a = next(iter(a.train_dataloader()))
    assert not torch.equal(train_a.inputs[:, :10], batch_a.inputs[:, :10])
    # an index is reproducible on its own, whatever the read order
    ds = a.dataset("test")
    assert torch.equal(ds[5].inputs, ds[5].inputs) and torch.equal(
        ds[5].inputs, batch_a.inputs[5, : len(ds[5].role)]
    )


def test_bad_ranges_fail_at_construction():
    with pytest.raises(ValueError):
        _dm(min_items=1)
    with pytest.raises(ValueError):
        _dm(ood_factors=(1,))
    with pytest.raises(ValueError):
        _dm(bits=1, item_length=1, max_items=4)

