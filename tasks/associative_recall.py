"""Associative recall (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, §4.3).

An episode shows ``n`` items, each made of ``item_length`` random binary vectors of ``bits``
bits and preceded by a delimiter step. A query item follows, framed on both sides by a second
delimiter; the network must then output the item that came right after the query item in the
list. The paper uses 3 six-bit vectors per item and 2-6 items during training.

Step layout (input width D = bits + 2; channel ``bits`` is the item delimiter, channel
``bits + 1`` the query delimiter)::

    role    INPUT  INPUT × L   ... (n items) ...   QUERY  QUERY × L   QUERY  ANSWER × L
    input   d_item item_j                          d_qry  item_q      d_qry  zeros
    target  0      0                               0      0           0      item_{q+1}
    mask    -      -                               -      -           -      ✓

Items in one episode are distinct, so the answer is unambiguous. ``group`` is the number of
items minus ``min_items`` (group name ``items_<n>``). Test splits: ``test`` samples the
training range, ``test_<f>x`` samples ``(previous max, f * max_items]`` items, longer than
anything seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tasks.batch import Episode, Role, collate
from tasks.spec import TaskSpec


def make_episode(
    rng: np.random.Generator, num_items: int, bits: int, item_length: int, group: int
) -> Episode:
    """One associative-recall episode with ``num_items`` distinct items (see module docstring)."""
    if num_items < 2:
        raise ValueError(f"associative recall needs at least 2 items, got {num_items}")
    while True:
        items = rng.integers(0, 2, size=(num_items, item_length, bits))  # (n, L, bits)
        if len(np.unique(items.reshape(num_items, -1), axis=0)) == num_items:
            break
    query = int(rng.integers(0, num_items - 1))  # any item that has a successor
    L, D = item_length, bits + 2
    item_delim = np.zeros((1, D))
    item_delim[0, bits] = 1.0
    query_delim = np.zeros((1, D))
    query_delim[0, bits + 1] = 1.0

    def pad(item: np.ndarray) -> np.ndarray:  # (L, bits) -> (L, D)
        return np.concatenate([item, np.zeros((L, 2))], axis=1)

    story = [np.concatenate([item_delim, pad(items[j])]) for j in range(num_items)]
    cue = [query_delim, pad(items[query]), query_delim]
    answer = np.zeros((L, D))
    inputs = np.concatenate([*story, *cue, answer])  # (T, D)
    n_story, n_cue = num_items * (L + 1), L + 2
    T = n_story + n_cue + L
    role = torch.full((T,), int(Role.INPUT), dtype=torch.long)
    role[n_story : n_story + n_cue] = int(Role.QUERY)
    role[n_story + n_cue :] = int(Role.ANSWER)
    target = torch.zeros(T, bits)
    target[n_story + n_cue :] = torch.as_tensor(items[query + 1], dtype=torch.float32)
    mask = role == int(Role.ANSWER)
    return Episode(torch.as_tensor(inputs, dtype=torch.float32), role, target, mask, group)


class AssociativeRecallDataset(Dataset):
    """``size`` episodes with a uniform number of items in [min_items, max_items].

    Episode ``i`` is generated from the seed sequence ``(seed, split_id, i)``, so any index is
    reproducible on its own, whatever the worker or the order it is read in.
    """

    def __init__(
        self,
        size: int,
        min_items: int,
        max_items: int,
        bits: int,
        item_length: int,
        seed: int,
        split_id: int,
        group_offset: int,
    ) -> None:
        if not 2 <= min_items <= max_items:
            raise ValueError(f"task.min_items={min_items}, task.max_items={max_items}: need 2 <= min <= max")
        if 2 ** (bits * item_length) < max_items:
            raise ValueError(f"{bits} bits x {item_length} steps cannot make {max_items} distinct items")
        self.size, self.min_items, self.max_items = size, min_items, max_items
        self.bits, self.item_length = bits, item_length
        self.seed, self.split_id, self.group_offset = seed, split_id, group_offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Episode:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.split_id, index])
        n = int(rng.integers(self.min_items, self.max_items + 1))
        return make_episode(rng, n, self.bits, self.item_length, n - self.group_offset)


class AssociativeRecallDataModule(pl.LightningDataModule):
    """NTM §4.3 associative recall; ``spec`` is ready after ``__init__``.

    Args:
        bits: bits per item vector (paper: 6).
        item_length: vectors per item (paper: 3).
        min_items, max_items: training range of the number of items (paper: 2-6).
        ood_factors: one extra test split ``test_<f>x`` per factor f, with item counts in
            ``(previous max, f * max_items]`` (as the copy task does with lengths).
        train_size, val_size, test_size: episodes per epoch / per evaluation split.
        batch_size, num_workers, seed: loader settings; seed fixes every split.
    """

    def __init__(
        self,
        *,
        bits: int = 6,
        item_length: int = 3,
        min_items: int = 2,
        max_items: int = 6,
        ood_factors: Sequence[int] = (2,),
        train_size: int = 100_000,
        val_size: int = 256,
        test_size: int = 512,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        factors = sorted(int(f) for f in ood_factors)
        if any(f <= 1 for f in factors):
            raise ValueError(f"task.ood_factors must all be > 1, got {list(ood_factors)}")
        self.bits, self.item_length = bits, item_length
        self.min_items = min_items
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.item_ranges = {"train": (min_items, max_items), "val": (min_items, max_items)}
        self.item_ranges["test"] = (min_items, max_items)
        prev = max_items
        for f in factors:
            self.item_ranges[f"test_{f}x"] = (prev + 1, f * max_items)
            prev = f * max_items
        self.test_split_names = tuple(k for k in self.item_ranges if k.startswith("test"))
        self.spec = TaskSpec(
            input_kind="features",
            input_width=bits + 2,
            target_kind="bits",
            target_width=bits,
            vocab_size=0,
            num_classes=0,
            granularity="step",
            group_names=tuple(f"items_{n}" for n in range(min_items, prev + 1)),
        )
        for split in self.item_ranges:  # bad settings fail now, not at the first loader
            self.dataset(split)

    def dataset(self, split: str) -> AssociativeRecallDataset:
        """The split's dataset: ``train``, ``val`` or one of ``test_split_names``."""
        if split not in self.item_ranges:
            raise KeyError(f"unknown associative-recall split {split!r}; have {tuple(self.item_ranges)}")
        lo, hi = self.item_ranges[split]
        return AssociativeRecallDataset(
            self.sizes.get(split, self.sizes["test"]),
            lo,
            hi,
            self.bits,
            self.item_length,
            seed=self.seed,
            split_id=list(self.item_ranges).index(split),
            group_offset=self.min_items,
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
