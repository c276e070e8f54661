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

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tasks.batch import Episode, Role, collate
from tasks.spec import TaskSpec


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


class PrioritySortDataset(Dataset):
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
        self.size, self.bits, self.lengths, self.keep = size, bits, lengths, keep
        self.seed, self.split_id, self.bucket_width = seed, split_id, bucket_width

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Episode:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.split_id, index])
        n = int(rng.integers(self.lengths[0], self.lengths[1] + 1))
        vectors = torch.as_tensor(rng.integers(0, 2, size=(n, self.bits)), dtype=torch.float32)
        priorities = torch.as_tensor(rng.uniform(-1.0, 1.0, size=n), dtype=torch.float32)
        return make_episode(vectors, priorities, self.keep, (n - 1) // self.bucket_width)


class PrioritySortDataModule(pl.LightningDataModule):
    """NTM §4.5 priority sort with in-range and longer test splits; ``spec`` ready after init.

    Args:
        bits: bits per vector (8 here; the paper does not restate it for this task).
        min_length, max_length: training range of the number of input vectors (paper: 20, 20).
        keep: fraction of the inputs the answer holds (paper: 16 of 20 = 0.8).
        ood_factors: extra test splits ``test_<f>x`` with lengths in ``(prev max, f * max]``.
        train_size, val_size, test_size, batch_size, seed, num_workers: as in the copy task.
    """

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
        super().__init__()
        if bits < 1:
            raise ValueError(f"task.bits must be >= 1, got {bits}")
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"task.keep={keep}: need 0 < keep <= 1")
        factors = sorted(int(f) for f in ood_factors)
        if any(f <= 1 for f in factors):
            raise ValueError(f"task.ood_factors must all be > 1, got {list(ood_factors)}")
        if not 1 <= min_length <= max_length:
            raise ValueError(
                f"task.min_length={min_length}, task.max_length={max_length}: need 1 <= min <= max"
            )
        self.bits, self.keep, self.max_length = bits, keep, max_length
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.lengths = {s: (min_length, max_length) for s in ("train", "val", "test")}
        prev = max_length
        for f in factors:
            self.lengths[f"test_{f}x"] = (prev + 1, f * max_length)
            prev = f * max_length
        self.test_split_names = tuple(s for s in self.lengths if s.startswith("test"))
        n_buckets = -(-prev // max_length)
        self.spec = TaskSpec(
            input_kind="features",
            input_width=bits + 2,
            target_kind="bits",
            target_width=bits,
            vocab_size=0,
            num_classes=0,
            granularity="step",
            group_names=tuple(f"len{k * max_length + 1}-{(k + 1) * max_length}" for k in range(n_buckets)),
        )

    def dataset(self, split: str) -> PrioritySortDataset:
        """The split's dataset: ``train``, ``val`` or one of ``test_split_names``."""
        if split not in self.lengths:
            raise KeyError(f"unknown priority-sort split {split!r}; have {tuple(self.lengths)}")
        return PrioritySortDataset(
            self.sizes.get(split, self.sizes["test"]),
            bits=self.bits,
            lengths=self.lengths[split],
            keep=self.keep,
            seed=self.seed,
            split_id=list(self.lengths).index(split),
            bucket_width=self.max_length,
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(name, shuffle=False) for name in self.test_split_names]
