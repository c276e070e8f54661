"""Copy and repeat-copy (Graves et al. 2014, NTM §4.1-4.2; used for the DNC in Graves et al. 2016).

An episode: ``n`` random binary vectors (role INPUT), one delimiter step (role QUERY), then the
answer phase (role ANSWER, blank input) whose targets are the vectors again. Repeat-copy adds an
input channel holding the repeat count ``r`` (scaled by ``1/max_repeats``), answers the sequence
``r`` times and then raises an end-marker target channel on one last step.

Multi-copy (``sequences=k > 1``) chains ``k`` copy episodes, each with its own length, in one
episode: with fewer memory slots than items in total, a DNC must free what it has read and
reuse it (the set-up of Graves et al. 2016, Extended Data Fig. 1).

Training lengths are drawn in ``[min_length, max_length]`` (``variable_length=false`` fixes them
at ``max_length``); validation and the in-range test always draw from ``[min_length,
max_length]``, so fixed- and variable-length training are tested on the same lengths. Every
run also tests at longer lengths (``ood_factors``, e.g. 2x and 4x the longest training length),
so length generalisation is measured each time. ``group`` is the length
bucket: bucket k holds lengths in ``(k*max_length, (k+1)*max_length]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

from tasks.algorithmic.base import (
    AlgorithmicDataModule,
    SeededEpisodes,
    TorchSeed,
    bits_spec,
    check_bits,
    check_length_range,
    length_bucket,
    length_bucket_names,
)
from tasks.batch import Episode, Role


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


def chain_episodes(episodes: Sequence[Episode], group: int) -> Episode:
    """Several episodes one after another as one episode (each keeps its roles and targets)."""
    return Episode(
        torch.cat([e.inputs for e in episodes]),
        torch.cat([e.role for e in episodes]),
        torch.cat([e.target for e in episodes]),
        torch.cat([e.target_mask for e in episodes]),
        group,
    )


def sample_episode(
    g: torch.Generator,
    *,
    bits: int,
    lengths: tuple[int, int],
    repeats: tuple[int, int] | None,
    max_repeats: int,
    bucket_width: int,
    sequences: int = 1,
) -> Episode:
    """One copy (``repeats=None``) or repeat-copy episode drawn from ``g``; with ``sequences=k``,
    ``k`` copy episodes chained (group: the bucket of the longest)."""
    if sequences > 1:
        parts = [sample_episode(g, bits=bits, lengths=lengths, repeats=repeats,
                                max_repeats=max_repeats, bucket_width=bucket_width)
                 for _ in range(sequences)]
        return chain_episodes(parts, group=max(p.group for p in parts))
    n = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=g))
    vectors = torch.randint(0, 2, (n, bits), generator=g).float()  # (n, bits)
    if repeats is None:
        return copy_episode(vectors, group=length_bucket(n, bucket_width))
    r = int(torch.randint(repeats[0], repeats[1] + 1, (1,), generator=g))
    return repeat_copy_episode(vectors, r, max_repeats, group=length_bucket(n, bucket_width))


class CopyDataset(SeededEpisodes):
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
        sequences: int = 1,
    ) -> None:
        if not 1 <= lengths[0] <= lengths[1]:
            raise ValueError(f"copy lengths must satisfy 1 <= min <= max, got {lengths}")
        sample = partial(
            sample_episode, bits=bits, lengths=lengths, repeats=repeats,
            max_repeats=max_repeats, bucket_width=bucket_width, sequences=sequences,
        )
        super().__init__(size, sample, TorchSeed(seed))


class CopyDataModule(AlgorithmicDataModule):
    """Copy / repeat-copy with in-range and longer test splits.

    Test splits: ``test`` (lengths ``[min_length, max_length]``) and ``test_{f}x`` for each ``f``
    in ``ood_factors`` (lengths in ``(prev_max, f * max_length]``). ``sequences`` > 1 chains that
    many copy episodes into one (multi-copy).
    """

    split_label = "copy"

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
        sequences: int = 1,
    ) -> None:
        check_bits(bits)
        check_length_range(min_length, max_length)
        if sequences < 1:
            raise ValueError(f"task.sequences must be >= 1, got {sequences}")
        if repeat and sequences > 1:
            raise ValueError("task.sequences > 1 chains copy episodes; set task.repeat=false")
        self.sequences = sequences
        super().__init__(
            train_range=(min_length if variable_length else max_length, max_length),
            eval_range=(min_length, max_length),
            ood_factors=ood_factors, train_size=train_size, val_size=val_size,
            test_size=test_size, batch_size=batch_size, seed=seed, num_workers=num_workers,
        )
        self.bits = bits
        self.repeats = (min_repeats, max_repeats) if repeat else None
        self.max_repeats = max_repeats
        self.spec = bits_spec(
            bits + (2 if repeat else 1),
            bits + (1 if repeat else 0),
            length_bucket_names(max_length, self.longest),
        )

    def make_dataset(self, value_range: tuple[int, int], size: int, split_id: int) -> CopyDataset:
        return CopyDataset(
            size, bits=self.bits, lengths=value_range, seed=self.seed * 101 + split_id,
            repeats=self.repeats, max_repeats=self.max_repeats,
            bucket_width=self.train_range[1], sequences=self.sequences,
        )
