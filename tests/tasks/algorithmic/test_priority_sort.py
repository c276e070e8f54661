"""Priority sort data (NTM paper §4.5): layout, answer order, splits, groups, determinism."""

import torch

from tasks.algorithmic.priority_sort import PrioritySortDataModule, make_episode
from tasks.batch import Role, validate_batch


def test_answer_is_top_vectors_by_priority():
    vectors = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]])
    priorities = torch.tensor([0.1, -0.9, 0.7, 0.3, -0.2])
    ep = make_episode(vectors, priorities, keep=0.6, group=0)  # round(0.6 * 5) = 3 outputs
    assert len(ep.role) == 5 + 1 + 3
    assert (ep.role[:5] == Role.INPUT).all() and ep.role[5] == Role.QUERY
    assert torch.equal(ep.inputs[:5, 3], priorities) and ep.inputs[5, 4] == 1
    assert torch.equal(ep.target[6:], vectors[[2, 3, 0]])  # priorities 0.7, 0.3, 0.1
    assert torch.equal(ep.target_mask, ep.role == Role.ANSWER)
    assert ep.inputs[6:].abs().sum() == 0


def test_module_splits_groups_and_determinism():
    def dm(seed=3):
        return PrioritySortDataModule(
            bits=4,
            min_length=3,
            max_length=6,
            ood_factors=(2,),
            train_size=32,
            val_size=8,
            test_size=16,
            batch_size=8,
            seed=seed,
        )

    a = dm()
    assert a.test_split_names == ("test", "test_2x")
    assert a.spec.group_names == ("len1-6", "len7-12")
    for split, (lo, hi) in zip(("test", "test_2x"), ((3, 6), (7, 12)), strict=True):
        for batch in a._loader(split, shuffle=False):
            validate_batch(batch, a.spec)
            n = (batch.role == Role.INPUT).sum(1)  # (B,) input vectors
            assert ((n >= lo) & (n <= hi)).all()
            assert (batch.group == (0 if split == "test" else 1)).all()
            expected = torch.tensor([round(0.8 * k) for k in n.tolist()])
            assert torch.equal(batch.target_mask.sum(1), expected)
    x = next(iter(a.test_dataloader()[0]))
    y = next(iter(dm().test_dataloader()[0]))
    z = next(iter(dm(seed=4).test_dataloader()[0]))
    assert all(torch.equal(u, v) for u, v in zip(x, y, strict=True))
    assert not torch.equal(x.inputs[:, :3], z.inputs[:, :3])
