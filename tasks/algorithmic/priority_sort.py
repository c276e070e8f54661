"""Priority sort (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §4.5).

``n`` random binary vectors are shown, each with a scalar priority drawn uniformly from [-1, 1];
after a delimiter the network must output the ``round(keep * n)`` highest-priority vectors,
highest priority first. The paper uses 20 inputs and 16 outputs (keep = 0.8).

Step layout (input width D = bits + 2; channel ``bits`` holds the priority, channel ``bits + 1``
the delimiter)::

    role    INPUT × n              QUERY   ANSWER × m
    input   [x_j, p_j, 0]          [0,0,1] zeros
    target  0                      0       x sorted by p, descending, first m
    mask    -                      -       ✓

Lengths are drawn in ``[min_length, max_length]``; ``test_<f>x`` splits use lengths in
``(previous max, f * max_length]``. ``group`` is the length bucket, as in the copy task: bucket
k holds lengths in ``(k * max_length, (k + 1) * max_length]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from tasks.algorithmic.base import (
    AlgorithmicDataModule,
    NumpySeed,
    SeededEpisodes,
    bits_spec,
    check_bits,
    check_length_range,
    length_bucket,
    length_bucket_names,
)
from tasks.batch import Episode, Role


def num_outputs(length: int, keep: float) -> int:
    """How many vectors the answer holds for ``length`` inputs: round(keep * n), at least 1."""
    return max(1, round(keep * length))


def make_episode(vectors: torch.Tensor, priorities: torch.Tensor, keep: float, group: int) -> Episode:
    """vectors (n, bits), priorities (n,) -> one priority-sort episode (see module docstring)."""
    n, bits = vectors.shape
    m = num_outputs(n, keep)
    T = n + 1 + m
    inputs = torch.zeros(T, bits + 2)
    inputs[:n, :bits] = vectors
    inputs[:n, bits] = priorities
    inputs[n, bits + 1] = 1.0  # delimiter
    order = torch.argsort(priorities, descending=True)[:m]  # (m,) highest priority first
    target = torch.zeros(T, bits)
    target[n + 1 :] = vectors[order]
    role = torch.full((T,), int(Role.ANSWER))
    role[:n] = Role.INPUT
    role[n] = Role.QUERY
    return Episode(inputs, role, target, role == Role.ANSWER, group)


def sample_episode(
    rng: np.random.Generator, *, bits: int, lengths: tuple[int, int], keep: float, bucket_width: int
) -> Episode:
    """One episode with a uniform length in ``lengths`` and priorities in [-1, 1], drawn from ``rng``."""
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    vectors = torch.as_tensor(rng.integers(0, 2, size=(n, bits)), dtype=torch.float32)
    priorities = torch.as_tensor(rng.uniform(-1.0, 1.0, size=n), dtype=torch.float32)
    return make_episode(vectors, priorities, keep, length_bucket(n, bucket_width))


class PrioritySortDataset(SeededEpisodes):
    """``size`` episodes; episode ``i`` comes from the seed sequence ``(seed, split_id, i)``."""

    def __init__(
        self,
        size: int,
        *,
        bits: int,
        lengths: tuple[int, int],
        keep: float,
        seed: int,
        split_id: int,
        bucket_width: int,
    ) -> None:
        if not 1 <= lengths[0] <= lengths[1]:
            raise ValueError(f"priority-sort lengths must satisfy 1 <= min <= max, got {lengths}")
        sample = partial(sample_episode, bits=bits, lengths=lengths, keep=keep, bucket_width=bucket_width)
        super().__init__(size, sample, NumpySeed((seed, split_id)))


class PrioritySortDataModule(AlgorithmicDataModule):
    """NTM §4.5 priority sort with in-range and longer test splits; ``spec`` ready after init.

    Args:
        bits: bits per vector (8 here; the paper does not restate it for this task).
        min_length, max_length: training range of the number of input vectors (paper: 20, 20).
        keep: fraction of the inputs the answer holds (paper: 16 of 20 = 0.8).
        ood_factors: extra test splits ``test_<f>x`` with lengths in ``(prev max, f * max]``.
        train_size, val_size, test_size, batch_size, seed, num_workers: as in the copy task.
    """

    split_label = "priority-sort"

    def __init__(
        self,
        *,
        bits: int = 8,
        min_length: int = 20,
        max_length: int = 20,
        keep: float = 0.8,
        ood_factors: Sequence[int] = (2,),
        train_size: int = 100_000,
        val_size: int = 256,
        test_size: int = 512,
        batch_size: int = 16,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        check_bits(bits)
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"task.keep={keep}: need 0 < keep <= 1")
        check_length_range(min_length, max_length)
        super().__init__(
            train_range=(min_length, max_length), ood_factors=ood_factors, train_size=train_size,
            val_size=val_size, test_size=test_size, batch_size=batch_size, seed=seed,
            num_workers=num_workers,
        )
        self.bits, self.keep = bits, keep
        self.spec = bits_spec(bits + 2, bits, length_bucket_names(max_length, self.longest))

    def make_dataset(self, value_range: tuple[int, int], size: int, split_id: int) -> PrioritySortDataset:
        return PrioritySortDataset(
            size,
            bits=self.bits,
            lengths=value_range,
            keep=self.keep,
            seed=self.seed,
            split_id=split_id,
            bucket_width=self.train_range[1],
        )
