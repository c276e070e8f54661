"""Length buckets and DDP sharding of bAbI batches (synthetic data, no download)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import BatchSampler, DistributedSampler

from tasks.babi import batching as babi_batching
from tasks.babi.batching import BucketBatchSampler, make_sampler, padding_fraction
from tasks.babi.datamodule import BabiDataModule
from tasks.batch import validate_batch

LENGTHS = torch.tensor([5, 90, 7, 50, 6, 88, 52, 8, 91, 49, 3])  # (n=11,) awkward, not sorted


def test_every_index_once_and_batches_sorted_within_pools():
    sampler = BucketBatchSampler(list(range(11)), 3, lengths=LENGTHS, pool_batches=2, seed=4)
    batches = list(sampler)
    # pool 0 = indices 0..5 sorted by length: 0 4 2 | 3 5 1; pool 1 = 6..10: 10 7 9 | 6 8
    expected = [{0, 4, 2}, {3, 5, 1}, {10, 7, 9}, {6, 8}]
    assert len(batches) == len(sampler) == 4
    assert sorted(map(sorted, map(set, batches))) == sorted(map(sorted, expected))


def test_pool_none_sorts_everything_and_keeps_order_without_shuffle():
    batches = list(BucketBatchSampler(range(11), 4, lengths=LENGTHS, pool_batches=None,
                                      shuffle=False))  # fmt: skip
    flat = [i for b in batches for i in b]
    assert LENGTHS[flat].tolist() == sorted(LENGTHS.tolist())
    assert [len(b) for b in batches] == [4, 4, 3]


def test_drop_last_and_len_agree():
    for pool in (1, 2, None):
        s = BucketBatchSampler(range(11), 4, True, lengths=LENGTHS, pool_batches=pool)
        batches = list(s)
        assert len(batches) == len(s) and all(len(b) == 4 for b in batches)


def test_padding_fraction_counts_padded_cells():
    # batch [5, 90]: 180 cells, 95 real; batch [7]: 7 cells, all real
    assert padding_fraction(LENGTHS, [[0, 1], [2]]) == pytest.approx(1 - 102 / 187)


def test_batch_order_changes_with_the_epoch_but_is_seeded():
    def run(epoch, seed=0):
        sampler = DistributedSampler(range(11), num_replicas=1, rank=0, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return list(BucketBatchSampler(sampler, 2, lengths=LENGTHS, pool_batches=3, seed=seed))

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_ranks_get_disjoint_shards_covering_the_data(monkeypatch):
    seen = []
    for rank in (0, 1, 2):
        monkeypatch.setattr(babi_batching.dist, "is_initialized", lambda: True)
        monkeypatch.setattr(babi_batching.dist, "get_world_size", lambda: 3)
        monkeypatch.setattr(babi_batching.dist, "get_rank", lambda r=rank: r)
        sampler = make_sampler(11, shuffle=True, seed=0)
        seen.append([i for b in BucketBatchSampler(sampler, 2, lengths=LENGTHS) for i in b])
    assert [len(s) for s in seen] == [4, 4, 4]  # 11 padded to 12 by DistributedSampler
    assert set().union(*map(set, seen)) == set(range(11))
    assert len(set(seen[0]) & set(seen[1])) + len(set(seen[1]) & set(seen[2])) <= 1


def test_lightning_can_inject_its_distributed_sampler(tiny_babi):
    """With Trainer(use_distributed_sampler=True) Lightning re-creates our batch sampler around
    its DistributedSampler (private Lightning API, the same calls the Trainer makes)."""
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.trainer.states import RunningStage
    from lightning.pytorch.utilities.data import _update_dataloader

    dm = BabiDataModule(tiny_babi, size="1k", tasks=[1, 19], batch_size=4, cache_dir="")
    dm.setup("fit")
    with _replace_dunder_methods(BatchSampler):
        loader = dm.train_dataloader()
    shards = []
    for rank in (0, 1):
        dist = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, shuffle=True)
        new = _update_dataloader(loader, dist, mode=RunningStage.TRAINING)
        assert isinstance(new.batch_sampler, BucketBatchSampler)
        assert new.batch_sampler.sampler is dist
        shards.append({i for b in new.batch_sampler for i in b})
        for batch in new:
            validate_batch(batch, dm.spec)
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(range(len(dm.train_set)))


def test_the_training_loader_resumes_mid_epoch_with_the_next_batch(tiny_babi):
    """A checkpoint after 3 batches of epoch 1 resumes with batch 4 of that epoch's order."""
    def loader():
        dm = BabiDataModule(tiny_babi, size="1k", tasks=[1, 19], batch_size=4, cache_dir="",
                            pool_batches=5)
        dm.setup("fit")
        return dm.train_dataloader()

    first = loader()
    first.batch_sampler.sampler.set_epoch(1)
    epoch1 = [b.inputs for b in first]
    partial = iter(first)
    for _ in range(3):
        next(partial)
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 3}
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [b.inputs for b in resumed]
    assert len(rest) == len(epoch1) - 3
    assert all(torch.equal(a, b) for a, b in zip(rest, epoch1[3:], strict=True))
    assert len(list(resumed)) == len(epoch1)  # the skip applies to one pass only
