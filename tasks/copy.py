"""Copy and repeat-copy (Graves et al. 2014, NTM §4.1-4.2; used for the DNC in Graves et al. 2016).

An episode: ``n`` random binary vectors (role INPUT), one delimiter step (role QUERY), then the
answer phase (role ANSWER, blank input) whose targets are the vectors again. Repeat-copy adds an
input channel holding the repeat count ``r`` (scaled by ``1/max_repeats``), answers the sequence
``r`` times and then raises an end-marker target channel on one last step.

Lengths are drawn in ``[min_length, max_length]`` (``variable_length=false`` fixes them at
``max_length``). Every run also tests at longer lengths (``ood_factors``, e.g. 2x and 4x the
longest training length), so length generalisation is measured each time. ``group`` is the length
bucket: bucket k holds lengths in ``(k*max_length, (k+1)*max_length]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from tasks.batch import Episode, Role, collate
from tasks.spec import TaskSpec

_SPLIT_SEEDS = {"train": 0, "val": 1}


class CopyDataset(Dataset):
    """``size`` episodes, item ``i`` generated from its own seeded generator (deterministic)."""

    def __init__(
        self,
        size: int,
        *,
        bits: int,
        lengths: tuple[int, int],
        seed: int,
        repeats: tuple[int, int] | None,
        max_repeats: int,
        bucket_width: int,
    ) -> None:
        if not 1 <= lengths[0] <= lengths[1]:
            raise ValueError(f"copy lengths must satisfy 1 <= min <= max, got {lengths}")
        self.size = size
        self.bits = bits
        self.lengths = lengths
        self.seed = seed
        self.repeats = repeats
        self.max_repeats = max_repeats
        self.bucket_width = bucket_width

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Episode:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        n = int(torch.randint(self.lengths[0], self.lengths[1] + 1, (1,), generator=g))
        vectors = torch.randint(0, 2, (n, self.bits), generator=g).float()  # (n, bits)
        if self.repeats is None:
            return copy_episode(vectors, group=(n - 1) // self.bucket_width)
        r = int(torch.randint(self.repeats[0], self.repeats[1] + 1, (1,), generator=g))
        return repeat_copy_episode(
            vectors, r, self.max_repeats, group=(n - 1) // self.bucket_width
        )


def copy_episode(vectors: torch.Tensor, group: int) -> Episode:
    """vectors (n, bits) -> inputs (2n+1, bits+1): [vectors; delimiter; blanks], targets (2n+1, bits)."""
    n, bits = vectors.shape
    T = 2 * n + 1
    inputs = torch.zeros(T, bits + 1)
    inputs[:n, :bits] = vectors
    inputs[n, bits] = 1.0  # delimiter channel
    target = torch.zeros(T, bits)
    target[n + 1 :] = vectors
    role = torch.full((T,), int(Role.ANSWER))
    role[:n] = Role.INPUT
    role[n] = Role.QUERY
    return Episode(inputs, role, target, role == Role.ANSWER, group)


def repeat_copy_episode(
    vectors: torch.Tensor, repeats: int, max_repeats: int, group: int
) -> Episode:
    """NTM §4.2: inputs (n+1+n*r+1, bits+2) with a repeat-count channel; targets (…, bits+1) whose
    last channel is the end marker on the final answer step."""
    n, bits = vectors.shape
    answer = n * repeats + 1
    T = n + 1 + answer
    inputs = torch.zeros(T, bits + 2)
    inputs[:n, :bits] = vectors
    inputs[n, bits] = 1.0  # delimiter
    inputs[n, bits + 1] = repeats / max_repeats  # repeat count, scaled to [0, 1]
    target = torch.zeros(T, bits + 1)
    target[n + 1 : T - 1, :bits] = vectors.repeat(repeats, 1)
    target[T - 1, bits] = 1.0  # end marker
    role = torch.full((T,), int(Role.ANSWER))
    role[:n] = Role.INPUT
    role[n] = Role.QUERY
    return Episode(inputs, role, target, role == Role.ANSWER, group)


class CopyDataModule(pl.LightningDataModule):
    """Copy / repeat-copy with in-range and longer test splits.

    Test splits: ``test`` (training lengths) and ``test_{f}x`` for each ``f`` in ``ood_factors``
    (lengths in ``(prev_max, f * max_length]``).
    """

    def __init__(
        self,
        bits: int = 8,
        min_length: int = 1,
        max_length: int = 10,
        variable_length: bool = True,
        repeat: bool = False,
        min_repeats: int = 1,
        max_repeats: int = 3,
        ood_factors: Sequence[int] = (2, 4),
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
        if not 1 <= min_length <= max_length:
            raise ValueError(
                f"task.min_length={min_length}, task.max_length={max_length}: need 1 <= min <= max"
            )
        factors = sorted(int(f) for f in ood_factors)
        if any(f <= 1 for f in factors):
            raise ValueError(f"task.ood_factors must all be > 1, got {list(ood_factors)}")
        self.bits = bits
        self.train_lengths = (min_length if variable_length else max_length, max_length)
        self.repeats = (min_repeats, max_repeats) if repeat else None
        self.max_repeats = max_repeats
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.test_lengths = {"test": self.train_lengths}
        prev = max_length
        for f in factors:
            self.test_lengths[f"test_{f}x"] = (prev + 1, f * max_length)
            prev = f * max_length
        self.test_split_names = tuple(self.test_lengths)
        n_buckets = -(-prev // max_length)
        names = tuple(
            f"len{k * max_length + 1}-{(k + 1) * max_length}" for k in range(n_buckets)
        )
        in_width = bits + (2 if repeat else 1)
        out_width = bits + (1 if repeat else 0)
        self.spec = TaskSpec(
            input_kind="features", input_width=in_width, target_kind="bits",
            target_width=out_width, vocab_size=0, num_classes=0, granularity="step",
            group_names=names,
        )

    def dataset(self, split: str) -> CopyDataset:
        """The split's dataset: ``train``, ``val`` or one of ``test_split_names``."""
        if split in ("train", "val"):
            lengths, seed_offset, size = self.train_lengths, _SPLIT_SEEDS[split], self.sizes[split]
        elif split in self.test_lengths:
            lengths = self.test_lengths[split]
            seed_offset = 2 + self.test_split_names.index(split)
            size = self.sizes["test"]
        else:
            raise KeyError(f"unknown copy split {split!r}; have train, val, {self.test_split_names}")
        return CopyDataset(
            size, bits=self.bits, lengths=lengths, seed=self.seed * 101 + seed_offset,
            repeats=self.repeats, max_repeats=self.max_repeats,
            bucket_width=self.train_lengths[1],
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
            collate_fn=collate, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(name, shuffle=False) for name in self.test_split_names]
