"""Length-bucketed batching for variable-length stories, DDP-ready.

:class:`BucketBatchSampler` reads indices from an inner sampler (a
:class:`torch.utils.data.DistributedSampler`, which also works without a process group when given
``num_replicas=1, rank=0``), cuts them into pools of ``pool_batches`` batches, sorts each pool by
length and cuts it into batches, so a batch holds stories of similar length and padding stays
small. Training shuffles the order of the batches of a pool, seeded by ``seed`` and the inner
sampler's epoch (Lightning calls ``set_epoch`` on ``batch_sampler.sampler`` every epoch).

DDP: the inner sampler shards by rank. :func:`make_sampler` builds it from the initialised
``torch.distributed`` process group, so the design fits ``Trainer(use_distributed_sampler=False)``.
With ``use_distributed_sampler=True`` Lightning instead re-creates this class (it follows the
``BatchSampler(sampler, batch_size, drop_last)`` signature) around its own distributed sampler;
either way each rank sees its own shard once. As with any DistributedSampler, evaluation under
DDP repeats up to ``world_size - 1`` stories so that every rank gets the same number.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import BatchSampler, DistributedSampler, Sampler


def make_sampler(dataset_len: int, *, shuffle: bool, seed: int) -> DistributedSampler:
    """A sampler over ``range(dataset_len)`` sharded by the ``torch.distributed`` rank, if any."""
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    return DistributedSampler(range(dataset_len), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)


class BucketBatchSampler(BatchSampler):
    """Batches of indices of similar length (see module docstring).

    Args:
        sampler: yields dataset indices (shuffled and sharded as wanted).
        batch_size: stories per batch.
        drop_last: drop the last, smaller batch of each pool.
        lengths: (n,) length of every dataset item.
        pool_batches: batches per sorted pool; ``None`` sorts the whole epoch at once (evaluation).
        shuffle: shuffle the batch order inside each pool.
        seed: seed of that shuffle (combined with the sampler's ``epoch``).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool = False,
        *,
        lengths: Tensor | Sequence[int],
        pool_batches: int | None = 200,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if pool_batches is not None and pool_batches < 1:
            raise ValueError(f"pool_batches must be >= 1 or None; got {pool_batches}")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.pool_batches, self.shuffle, self.seed = pool_batches, shuffle, seed
        self.skip = 0  # batches the next pass leaves out (a run resumed mid-epoch)

    @property
    def epoch(self) -> int:
        return int(getattr(self.sampler, "epoch", 0))

    def resume_at(self, epoch: int, skip: int) -> None:
        """Make the next pass epoch ``epoch``'s batches without the first ``skip`` of them
        (:class:`tasks.batch.ResumableLoader`)."""
        self.sampler.set_epoch(epoch)  # type: ignore[union-attr]
        self.skip = skip

    def _pool_size(self, n: int) -> int:
        return n if self.pool_batches is None else self.pool_batches * self.batch_size

    def _batches_in(self, n: int) -> int:
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        size = max(self._pool_size(n), 1)
        return (n // size) * self._batches_in(size) + self._batches_in(n % size)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip = self.skip, 0  # only the first pass after a resume starts late
        return itertools.islice(self._batches(), skip, None)

    def _batches(self) -> Iterator[list[int]]:
        indices = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        gen = torch.Generator().manual_seed(self.seed + 7919 * getattr(self.sampler, "epoch", 0))
        size = max(self._pool_size(len(indices)), 1)
        for pool in indices.split(size):
            order = torch.sort(self.lengths[pool], stable=True).indices
            batches = list(pool[order].split(self.batch_size))
            if self.drop_last and len(batches[-1]) < self.batch_size:
                batches.pop()
            if self.shuffle:
                batches = [batches[i] for i in torch.randperm(len(batches), generator=gen)]
            yield from (b.tolist() for b in batches)


def padding_fraction(lengths: Tensor, batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded (B, T_max) cells of all batches that are padding."""
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    real = padded = 0
    for b in batches:
        lb = lengths[list(b)]
        real += int(lb.sum())
        padded += int(lb.max()) * len(b)
    return 1.0 - real / padded
