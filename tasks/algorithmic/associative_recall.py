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
from functools import partial

import numpy as np
import torch

from tasks.algorithmic.base import AlgorithmicDataModule, NumpySeed, SeededEpisodes, bits_spec, check_bits
from tasks.batch import Episode, Role


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


def sample_episode(
    rng: np.random.Generator, *, min_items: int, max_items: int, bits: int, item_length: int,
    group_offset: int,
) -> Episode:
    """One episode with a uniform number of items in [min_items, max_items], drawn from ``rng``."""
    n = int(rng.integers(min_items, max_items + 1))
    return make_episode(rng, n, bits, item_length, n - group_offset)


class AssociativeRecallDataset(SeededEpisodes):
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
        check_bits(bits)
        if 2 ** (bits * item_length) < max_items:
            raise ValueError(f"{bits} bits x {item_length} steps cannot make {max_items} distinct items")
        sample = partial(
            sample_episode, min_items=min_items, max_items=max_items, bits=bits,
            item_length=item_length, group_offset=group_offset,
        )
        super().__init__(size, sample, NumpySeed((seed, split_id)))


class AssociativeRecallDataModule(AlgorithmicDataModule):
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

    split_label = "associative-recall"

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
        super().__init__(
            train_range=(min_items, max_items), ood_factors=ood_factors, train_size=train_size,
            val_size=val_size, test_size=test_size, batch_size=batch_size, seed=seed,
            num_workers=num_workers,
        )
        self.bits, self.item_length, self.min_items = bits, item_length, min_items
        names = tuple(f"items_{n}" for n in range(min_items, self.longest + 1))
        self.spec = bits_spec(bits + 2, bits, names)
        for split in self.split_ranges:  # bad settings fail now, not at the first loader
            self.dataset(split)

    def make_dataset(
        self, value_range: tuple[int, int], size: int, split_id: int
    ) -> AssociativeRecallDataset:
        return AssociativeRecallDataset(
            size,
            *value_range,
            self.bits,
            self.item_length,
            seed=self.seed,
            split_id=split_id,
            group_offset=self.min_items,
        )
