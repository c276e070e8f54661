"""The shared machinery of the algorithmic tasks: seeded episodes, splits, buckets, loaders."""

from functools import partial

import numpy as np
import pytest
import torch

from tasks.algorithmic.associative_recall import AssociativeRecallDataModule
from tasks.algorithmic.base import (
    AlgorithmicDataModule,
    NumpySeed,
    SeededEpisodes,
    TorchSeed,
    bits_spec,
    length_bucket,
    length_bucket_names,
)
from tasks.algorithmic.copy import CopyDataModule
from tasks.algorithmic.priority_sort import PrioritySortDataModule
from tasks.batch import Episode, Role, validate_batch

SIZES = dict(train_size=24, val_size=8, test_size=16, batch_size=8)


def _toy_sample(rng: np.random.Generator, lengths: tuple[int, int]) -> Episode:
    """n INPUT steps of one random feature, one ANSWER step whose target is their sum's parity."""
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    x = torch.as_tensor(rng.integers(0, 2, size=(n, 1)), dtype=torch.float32)
    inputs = torch.cat([x, torch.zeros(1, 1)])  # (n+1, 1)
    role = torch.full((n + 1,), int(Role.INPUT))
    role[n] = Role.ANSWER
    target = torch.zeros(n + 1, 1)
    target[n] = x.sum() % 2
    return Episode(inputs, role, target, role == Role.ANSWER, length_bucket(n, 4))


class ToyDataModule(AlgorithmicDataModule):
    split_label = "toy"

    def __init__(self, seed: int = 0, ood_factors=(2, 3), **sizes) -> None:
        super().__init__(
            train_range=(2, 4), ood_factors=ood_factors, seed=seed, num_workers=0, **(SIZES | sizes)
        )
        self.spec = bits_spec(1, 1, length_bucket_names(4, self.longest))

    def make_dataset(self, value_range, size, split_id):
        sample = partial(_toy_sample, lengths=value_range)
        return SeededEpisodes(size, sample, NumpySeed((self.seed, split_id)))


MODULES = {
    "toy": ToyDataModule,
    "copy": partial(CopyDataModule, bits=3, max_length=4, ood_factors=(2, 3), **SIZES),
    "repeat_copy": partial(CopyDataModule, bits=3, max_length=3, repeat=True, **SIZES),
    "associative_recall": partial(
        AssociativeRecallDataModule, bits=3, item_length=2, max_items=4, ood_factors=(2,), **SIZES
    ),
    "priority_sort": partial(
        PrioritySortDataModule, bits=3, min_length=3, max_length=6, ood_factors=(2, 3), **SIZES
    ),
}


def _first_batches(dm):
    return [next(iter(loader)) for loader in [dm.val_dataloader(), *dm.test_dataloader()]]


def _draw(g) -> Episode:
    """Four uniform numbers from either kind of generator, as an episode's inputs."""
    x = torch.as_tensor(g.random(4)) if isinstance(g, np.random.Generator) else torch.rand(4, generator=g)
    return Episode(x, torch.zeros(0), torch.zeros(0), torch.zeros(0), 0)


@pytest.mark.parametrize("generator", [NumpySeed((3, 1)), TorchSeed(7)], ids=["numpy", "torch"])
def test_an_item_depends_only_on_the_seed_and_its_index(generator):
    ds = SeededEpisodes(10, _draw, generator)
    assert len(ds) == 10
    forward = torch.stack([ds[i].inputs for i in range(10)])
    backward = torch.stack([ds[i].inputs for i in reversed(range(10))]).flip(0)
    assert torch.equal(forward, backward)  # read order does not matter
    assert len(set(forward[:, 0].tolist())) == 10  # each index its own draw
    other = SeededEpisodes(10, _draw, type(generator)((4, 1) if isinstance(generator, NumpySeed) else 8))
    assert not torch.equal(forward, torch.stack([other[i].inputs for i in range(10)]))
    for index in (10, -1):
        with pytest.raises(IndexError):
            ds[index]


def test_seed_derivations_are_the_published_ones():
    # the data of every existing run depends on these formulas: changing them changes the data
    expected = np.random.default_rng([5, 2, 7]).integers(0, 2**31, size=4)
    assert (NumpySeed((5, 2))(7).integers(0, 2**31, size=4) == expected).all()
    assert TorchSeed(5)(7).initial_seed() == 5 * 1_000_003 + 7


@pytest.mark.parametrize("name", MODULES)
def test_same_seed_same_data_other_seed_other_data(name):
    a, b, c = MODULES[name](seed=3), MODULES[name](seed=3), MODULES[name](seed=4)
    for x, y, z in zip(_first_batches(a), _first_batches(b), _first_batches(c), strict=True):
        assert all(torch.equal(u, v) for u, v in zip(x, y, strict=True))
        assert x.inputs.shape != z.inputs.shape or not torch.equal(x.inputs, z.inputs)
    val, test = a.dataset("val")[0], a.dataset("test")[0]  # same range, other split: other data
    assert val.inputs.shape != test.inputs.shape or not torch.equal(val.inputs, test.inputs)


def test_split_names_and_ranges():
    dm = ToyDataModule(ood_factors=(3, 2))
    assert dm.test_split_names == ("test", "test_2x", "test_3x")
    assert dm.split_ranges == {
        "train": (2, 4), "val": (2, 4), "test": (2, 4), "test_2x": (5, 8), "test_3x": (9, 12)
    }
    assert dm.longest == 12 and dm.spec.group_names == ("len1-4", "len5-8", "len9-12")
    assert [len(dm.dataset(s)) for s in dm.split_ranges] == [24, 8, 16, 16, 16]
    only = ToyDataModule(ood_factors=())
    assert only.test_split_names == ("test",) and only.longest == 4
    assert len(only.test_dataloader()) == 1


def test_bad_factors_and_unknown_splits_fail_clearly():
    with pytest.raises(ValueError, match="ood_factors must all be > 1"):
        ToyDataModule(ood_factors=(2, 1))
    with pytest.raises(KeyError, match="unknown toy split 'test_5x'"):
        ToyDataModule().dataset("test_5x")


@pytest.mark.parametrize("name", MODULES)
def test_out_of_range_splits_are_longer_than_training(name):
    dm = MODULES[name]()

    def inputs(split, i):  # the task's size parameter shows as the number of INPUT steps
        return int((dm.dataset(split)[i].role == Role.INPUT).sum())

    longest_seen = max(inputs(s, i) for s in ("train", "val", "test") for i in range(8))
    for split in dm.test_split_names[1:]:
        assert min(inputs(split, i) for i in range(16)) > longest_seen
        longest_seen = max(inputs(split, i) for i in range(16))


@pytest.mark.parametrize("name", MODULES)
def test_loaders_yield_valid_batches(name):
    dm = MODULES[name]()
    loaders = [dm.train_dataloader(), dm.val_dataloader(), *dm.test_dataloader()]
    assert len(loaders) == 2 + len(dm.test_split_names)
    for loader in loaders:
        for batch in loader:
            validate_batch(batch, dm.spec)
            assert batch.target_mask.any(1).all()  # every episode has something to score


def test_length_buckets():
    assert [length_bucket(n, 5) for n in (1, 5, 6, 10, 11)] == [0, 0, 1, 1, 2]
    assert length_bucket_names(5, 20) == ("len1-5", "len6-10", "len11-15", "len16-20")
    assert length_bucket_names(6, 13) == ("len1-6", "len7-12", "len13-18")


@pytest.mark.parametrize(
    "module", ["copy.CopyDataModule", "associative_recall.AssociativeRecallDataModule",
               "priority_sort.PrioritySortDataModule"],
)
def test_every_bits_task_refuses_zero_bits_naming_the_key(module):
    import importlib

    file, cls = module.split(".")
    with pytest.raises(ValueError, match="task.bits must be >= 1"):
        getattr(importlib.import_module(f"tasks.algorithmic.{file}"), cls)(bits=0)


def test_the_training_loader_resumes_mid_epoch_in_the_same_order():
    """A checkpoint taken after 3 batches of epoch 1 resumes with batch 4 of the same order; a
    fresh pass draws the next epoch's order from (seed, epoch) alone."""
    def module():
        return CopyDataModule(bits=3, min_length=1, max_length=4, train_size=40, val_size=8,
                              test_size=8, batch_size=8, seed=5, ood_factors=[2])

    def inputs(loader) -> list[torch.Tensor]:
        return [b.inputs for b in loader]

    first = module().train_dataloader()
    first.sampler.set_epoch(1)
    epoch1 = inputs(first)
    assert len(epoch1) == 5
    partial_pass = iter(first)
    for _ in range(3):
        next(partial_pass)
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 3}
    resumed = module().train_dataloader()
    resumed.load_state_dict(state)
    rest = inputs(resumed)
    assert len(rest) == 2 and all(torch.equal(a, b) for a, b in zip(rest, epoch1[3:], strict=True))
    assert len(inputs(resumed)) == 5  # the skip applies to one pass only
    resumed.load_state_dict({"epoch": 1, "batches": 5})  # saved at the end of epoch 1
    assert resumed.sampler.epoch == 2 and resumed.sampler.skip == 0
    first.sampler.set_epoch(2)
    assert not torch.equal(inputs(first)[0], epoch1[0])
