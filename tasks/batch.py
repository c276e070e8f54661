"""The one batch schema shared by every task (DESIGN §3) and its helpers (collate, and the
resumable training loader).

Every episode is a stream of steps; each step has a :class:`Role`. Targets are aligned to steps
and only count where ``target_mask`` is true. Episodes are right-padded with ``Role.PAD``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import IntEnum
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from tasks.spec import TaskSpec

PAD_ID = 0
IGNORE_INDEX = -100


class Role(IntEnum):
    PAD = 0  # right padding: must not change any valid step's output
    INPUT = 1  # story word/sentence, copy vector, graph triple, SHRDLU constraint
    QUERY = 2  # question, recall cue, traversal query, goal
    ANSWER = 3  # a step where a prediction is due (the DNC paper's '-' steps)


class Batch(NamedTuple):
    inputs: Tensor  # (B, T, L) long token ids, PAD_ID=0 | (B, T, D) float features
    role: Tensor  # (B, T) long Role
    target: Tensor  # (B, T, K) long class ids (ignore=-100) | (B, T, D_out) float bits
    target_mask: Tensor  # (B, T) bool: where loss and metrics count
    lengths: Tensor  # (B,) non-PAD steps
    group: Tensor  # (B,) subtask id

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in self))

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]


class Episode(NamedTuple):
    """One unpadded episode, as a dataset item: tensors without the batch axis."""

    inputs: Tensor  # (T, L) long | (T, D) float
    role: Tensor  # (T,) long
    target: Tensor  # (T, K) long | (T, D_out) float
    target_mask: Tensor  # (T,) bool
    group: int


def collate(episodes: Sequence[Episode]) -> Batch:
    """Right-pad episodes to the longest one. Padding: inputs PAD_ID/0.0, role PAD,
    token targets IGNORE_INDEX, bit targets 0, mask False."""
    if len(episodes) == 0:
        raise ValueError("collate() got an empty list of episodes")
    lengths = torch.tensor([len(e.role) for e in episodes], dtype=torch.long)
    T = int(lengths.max())
    B = len(episodes)
    first = episodes[0]
    target_fill = IGNORE_INDEX if first.target.dtype == torch.long else 0.0
    inputs = first.inputs.new_full((B, T, *first.inputs.shape[1:]), PAD_ID)
    role = torch.full((B, T), int(Role.PAD), dtype=torch.long)
    target = first.target.new_full((B, T, *first.target.shape[1:]), target_fill)
    mask = torch.zeros((B, T), dtype=torch.bool)
    for b, e in enumerate(episodes):
        n = len(e.role)
        inputs[b, :n] = e.inputs
        role[b, :n] = e.role
        target[b, :n] = e.target
        mask[b, :n] = e.target_mask
    group = torch.tensor([e.group for e in episodes], dtype=torch.long)
    return Batch(inputs, role, target, mask, lengths, group)


def validate_batch(batch: Batch, spec: TaskSpec) -> None:
    """Raise ``ValueError`` naming the field if ``batch`` breaks the schema promised by ``spec``."""
    B, T = batch.role.shape
    problems: list[str] = []
    if batch.inputs.shape[:2] != (B, T):
        problems.append(f"inputs {tuple(batch.inputs.shape)} does not start with (B, T)=({B}, {T})")
    if spec.input_kind == "tokens":
        if batch.inputs.dtype != torch.long or batch.inputs.shape[2:] != (spec.input_width,):
            problems.append(f"inputs must be long (B, T, {spec.input_width})")
        elif batch.inputs.numel() and (
            batch.inputs.min() < 0 or batch.inputs.max() >= spec.vocab_size
        ):
            problems.append(f"input token ids outside [0, {spec.vocab_size})")
    elif not batch.inputs.is_floating_point() or batch.inputs.shape[2:] != (spec.input_width,):
        problems.append(f"inputs must be float (B, T, {spec.input_width})")
    if spec.target_kind == "tokens":
        if batch.target.dtype != torch.long or batch.target.shape != (B, T, spec.target_width):
            problems.append(f"target must be long (B, T, {spec.target_width})")
        else:
            valid = batch.target[batch.target_mask]
            if ((valid != IGNORE_INDEX) & ((valid < 0) | (valid >= spec.num_classes))).any():
                problems.append(f"target class ids outside [0, {spec.num_classes})")
    elif not batch.target.is_floating_point() or batch.target.shape != (B, T, spec.target_width):
        problems.append(f"target must be float (B, T, {spec.target_width})")
    if batch.target_mask.dtype != torch.bool or batch.target_mask.shape != (B, T):
        problems.append("target_mask must be bool (B, T)")
    steps = torch.arange(T, device=batch.role.device)
    valid_steps = steps[None, :] < batch.lengths[:, None]  # (B, T)
    if ((batch.role != Role.PAD) != valid_steps).any():
        problems.append("role must be non-PAD exactly on the first `lengths` steps (right padding)")
    if (batch.target_mask & ~valid_steps).any():
        problems.append("target_mask is true on a padding step")
    if batch.group.shape != (B,) or (batch.group < 0).any() or (
        batch.group >= len(spec.group_names)
    ).any():
        problems.append(f"group must be (B,) ids in [0, {len(spec.group_names)})")
    if problems:
        raise ValueError("invalid Batch: " + "; ".join(problems))


class ResumableLoader(DataLoader):
    """A training loader that Lightning checkpoints mid-epoch (its ``state_dict`` /
    ``load_state_dict`` interface): the epoch and the batches handed out in it, so a resumed run
    goes on with the next batch of the same order.

    Its batch sampler, or else its sampler, must have ``epoch`` and ``resume_at(epoch, skip)``,
    ``skip`` counted in its own units (batches for a batch sampler, items for a sampler), and
    draw each epoch's order from the seed and the epoch alone. Lightning does not fetch ahead
    from a loader with a length, so every batch handed out has been (or is being) trained on.
    """

    def _positioned(self) -> Any:
        return self.batch_sampler if hasattr(self.batch_sampler, "resume_at") else self.sampler

    def __iter__(self) -> Iterator[Any]:
        self._handed_out = 0
        for batch in super().__iter__():
            self._handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self._positioned().epoch), "batches": getattr(self, "_handed_out", 0)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, batches = int(state["epoch"]), int(state["batches"])
        if batches >= len(self):  # saved at the end of a pass: the next epoch starts afresh
            epoch, batches = epoch + 1, 0
        owner = self._positioned()
        owner.resume_at(epoch, batches if owner is self.batch_sampler else batches * self.batch_size)
