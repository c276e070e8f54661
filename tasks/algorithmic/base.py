"""What the algorithmic tasks share (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §4).

Copy, repeat-copy, associative recall and priority sort differ only in their episode layout.
The rest lives here:

- :class:`SeededEpisodes`: a map-style dataset whose item ``i`` is ``sample(generator(i))``, so
  any index is reproducible on its own, whatever the worker or the order it is read in.
  ``generator`` is :class:`NumpySeed` (seed sequence ``(seed, split_id, i)``) or
  :class:`TorchSeed` (``torch.Generator`` seeded with ``seed * 1_000_003 + i``).
- :class:`AlgorithmicDataModule`: the splits. ``train`` draws the task's size parameter
  (sequence length, item count) from the training range, ``val`` and ``test`` from the evaluation
  range (the same, unless training is restricted, e.g. copy at a fixed length, so that every
  variant of a task is tested on the same lengths); each ``test_<f>x`` draws it from
  ``(previous max, f * max]``, longer than anything seen in training, so length
  generalisation is measured on every run. Split ``k`` of ``(train, val, test, test_<f>x...)``
  has ``split_id`` ``k``.
- :func:`length_bucket` / :func:`length_bucket_names`: ``group`` as a length bucket, bucket
  ``k`` holding lengths in ``(k * width, (k + 1) * width]``; :func:`bits_spec` and
  :func:`check_length_range` for the spec and settings the tasks have in common.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tasks.batch import Episode, ResumableLoader, collate
from tasks.spec import TaskSpec


@dataclass(frozen=True)
class NumpySeed:
    """Episode ``i`` comes from ``np.random.default_rng([*key, i])``; ``key`` is ``(seed, split_id)``."""

    key: tuple[int, ...]

    def __call__(self, index: int) -> np.random.Generator:
        return np.random.default_rng([*self.key, index])


@dataclass(frozen=True)
class TorchSeed:
    """Episode ``i`` comes from a ``torch.Generator`` seeded with ``seed * 1_000_003 + i``."""

    seed: int

    def __call__(self, index: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)


class SeededEpisodes(Dataset):
    """``size`` episodes; item ``i`` is ``sample(generator(i))`` (deterministic, order-free).

    ``sample`` is a pure function of the generator (use ``functools.partial`` for the task's
    settings, so the dataset pickles into loader workers).
    """

    def __init__(
        self, size: int, sample: Callable[[Any], Episode], generator: Callable[[int], Any]
    ) -> None:
        self.size, self.sample, self.generator = size, sample, generator

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Episode:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.sample(self.generator(index))


class ResumableSampler(Sampler[int]):
    """A fresh permutation of ``range(size)`` each epoch, drawn from ``(seed, epoch)`` alone, that
    can start part-way through an epoch (``skip`` indices), so a resumed run sees the same
    episodes in the same order as one that never stopped. Lightning calls ``set_epoch``."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch, self.skip = size, seed, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, skip: int) -> None:
        """Make the next pass epoch ``epoch``'s order without its first ``skip`` indices."""
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(
            self.seed * 1_000_003 + self.epoch))
        skip, self.skip = self.skip, 0  # only the first pass after a resume starts late
        return iter(order[skip:].tolist())


def check_bits(bits: int) -> None:
    """Raise ``ValueError`` unless the task's ``bits`` config key is at least 1."""
    if bits < 1:
        raise ValueError(f"task.bits must be >= 1, got {bits}")


def check_length_range(min_length: int, max_length: int) -> None:
    """Raise ``ValueError`` unless ``1 <= min_length <= max_length`` (the task's config keys)."""
    if not 1 <= min_length <= max_length:
        raise ValueError(
            f"task.min_length={min_length}, task.max_length={max_length}: need 1 <= min <= max"
        )


def length_bucket(length: int, width: int) -> int:
    """The group of an episode of ``length``: bucket k holds ``(k * width, (k + 1) * width]``."""
    return (length - 1) // width


def length_bucket_names(width: int, longest: int) -> tuple[str, ...]:
    """``len1-<width>``, ``len<width+1>-<2 width>``, ... until the bucket holding ``longest``."""
    n_buckets = -(-longest // width)
    return tuple(f"len{k * width + 1}-{(k + 1) * width}" for k in range(n_buckets))


def bits_spec(input_width: int, target_width: int, group_names: tuple[str, ...]) -> TaskSpec:
    """The spec of a task with float feature steps in and bit targets out."""
    return TaskSpec(
        input_kind="features",
        input_width=input_width,
        target_kind="bits",
        target_width=target_width,
        vocab_size=0,
        num_classes=0,
        granularity="step",
        group_names=group_names,
    )


class AlgorithmicDataModule(pl.LightningDataModule):
    """Splits and loaders of an algorithmic task; subclasses set ``spec`` and ``make_dataset``.

    ``train_range`` is the training range of the task's size parameter, ``eval_range`` (default:
    the training range) the range of ``val`` and ``test``; ``split_ranges`` maps every split to
    its range, ``test_split_names`` lists ``test`` then ``test_<f>x`` by
    increasing ``f``. ``split_label`` names the task in error messages.
    """

    split_label: ClassVar[str]

    def __init__(
        self,
        *,
        train_range: tuple[int, int],
        ood_factors: Sequence[int],
        train_size: int,
        val_size: int,
        test_size: int,
        batch_size: int,
        seed: int,
        num_workers: int,
        eval_range: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"task.batch_size must be >= 1, got {batch_size}")
        factors = sorted(int(f) for f in ood_factors)
        if any(f <= 1 for f in factors):
            raise ValueError(f"task.ood_factors must all be > 1, got {list(ood_factors)}")
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.train_range = train_range
        eval_range = eval_range or train_range
        self.split_ranges = {"train": train_range, "val": eval_range, "test": eval_range}
        prev = max(train_range[1], eval_range[1])
        for f in factors:
            self.split_ranges[f"test_{f}x"] = (prev + 1, f * train_range[1])
            prev = f * train_range[1]
        self.longest = prev
        self.test_split_names = tuple(s for s in self.split_ranges if s.startswith("test"))

    def make_dataset(self, value_range: tuple[int, int], size: int, split_id: int) -> Dataset:
        """The dataset of one split: ``size`` episodes with the size parameter in ``value_range``."""
        raise NotImplementedError

    def dataset(self, split: str) -> Dataset:
        """The split's dataset: ``train``, ``val`` or one of ``test_split_names``."""
        if split not in self.split_ranges:
            raise KeyError(f"unknown {self.split_label} split {split!r}; have {tuple(self.split_ranges)}")
        return self.make_dataset(
            self.split_ranges[split],
            self.sizes.get(split, self.sizes["test"]),
            list(self.split_ranges).index(split),
        )

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled by :class:`ResumableSampler`, so a resumed run continues mid-epoch."""
        dataset = self.dataset("train")
        return ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ResumableSampler(len(dataset), self.seed),
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(name) for name in self.test_split_names]
