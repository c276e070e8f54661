import torch

from tasks.algorithmic.copy import CopyDataModule
from tasks.batch import Role, validate_batch


def test_answer_phase_repeats_the_input_vectors():
    dm = CopyDataModule(bits=5, min_length=2, max_length=7, batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    validate_batch(batch, dm.spec)
    for b in range(batch.batch_size):
        n = int((batch.role[b] == Role.INPUT).sum())
        assert int(batch.lengths[b]) == 2 * n + 1
        assert batch.role[b, n] == Role.QUERY and batch.inputs[b, n, 5] == 1  # delimiter
        answer = batch.target[b][batch.target_mask[b]]
        assert torch.equal(answer, batch.inputs[b, :n, :5])
        assert (batch.inputs[b, n + 1 : 2 * n + 1] == 0).all()  # blank answer phase


def test_same_seed_same_data_other_seed_other_data():
    a = CopyDataModule(seed=3).dataset("train")[17]
    b = CopyDataModule(seed=3).dataset("train")[17]
    c = CopyDataModule(seed=4).dataset("train")[17]
    assert torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.inputs, c.inputs) or a.inputs.shape != c.inputs.shape


def test_test_splits_are_longer_than_training_and_grouped_by_length():
    dm = CopyDataModule(min_length=1, max_length=5, ood_factors=(2, 4), test_size=64)
    assert dm.test_split_names == ("test", "test_2x", "test_4x")
    bounds = {"test": (1, 5), "test_2x": (6, 10), "test_4x": (11, 20)}
    for split, (lo, hi) in bounds.items():
        ds = dm.dataset(split)
        n = torch.tensor([int((ds[i].role == Role.INPUT).sum()) for i in range(len(ds))])
        assert lo <= n.min() and n.max() <= hi
        groups = torch.tensor([ds[i].group for i in range(len(ds))])
        assert torch.equal(groups, (n - 1) // 5)
    assert dm.spec.group_names == ("len1-5", "len6-10", "len11-15", "len16-20")


def test_fixed_length_training():
    ds = CopyDataModule(max_length=6, variable_length=False).dataset("train")
    assert all(int((ds[i].role == Role.INPUT).sum()) == 6 for i in range(20))


def test_repeat_copy_answers_r_times_then_end_marker():
    dm = CopyDataModule(bits=3, max_length=4, repeat=True, max_repeats=3)
    for i in range(10):
        ep = dm.dataset("train")[i]
        n = int((ep.role == Role.INPUT).sum())
        r = round(float(ep.inputs[n, 4]) * 3)
        answer = ep.target[ep.target_mask]
        assert answer.shape == (n * r + 1, 4)
        assert torch.equal(answer[:-1, :3], ep.inputs[:n, :3].repeat(r, 1))
        assert answer[-1].tolist() == [0, 0, 0, 1] and (answer[:-1, 3] == 0).all()


def test_fixed_length_training_is_tested_on_the_same_lengths_as_variable():
    fixed = CopyDataModule(min_length=1, max_length=6, variable_length=False, test_size=64)
    varied = CopyDataModule(min_length=1, max_length=6, variable_length=True, test_size=64)
    for split in ("val", "test", "test_2x", "test_4x"):
        a, b = fixed.dataset(split), varied.dataset(split)
        assert all(torch.equal(a[i].inputs, b[i].inputs) for i in range(len(a)))
    lengths = {int((fixed.dataset("test")[i].role == Role.INPUT).sum()) for i in range(64)}
    assert min(lengths) < 6 and fixed.split_ranges["test_2x"] == (7, 12)


def test_multi_copy_chains_sequences_each_answered_after_its_delimiter():
    dm = CopyDataModule(bits=4, min_length=1, max_length=5, sequences=3, ood_factors=())
    ep = dm.dataset("train")[5]
    queries = (ep.role == Role.QUERY).nonzero().flatten().tolist()
    assert len(queries) == 3
    start = 0
    for q in queries:  # segment [start, q] input+delimiter, then n answer steps
        n = q - start
        answer = slice(q + 1, q + 1 + n)
        assert (ep.role[start:q] == Role.INPUT).all() and (ep.role[answer] == Role.ANSWER).all()
        assert torch.equal(ep.target[answer], ep.inputs[start:q, :4])
        start = q + 1 + n
    assert start == len(ep.role) == 2 * int(ep.target_mask.sum()) + 3  # items, delimiters, answers
