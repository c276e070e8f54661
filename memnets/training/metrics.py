"""Masked losses and error counts, as pure functions, plus the grouped metric that sums them.

An *episode* here is one maximal run of consecutive target steps: the answer phase of a copy
sequence, or the '-' steps of one bAbI question. It is right only if every step in it is right,
which is the DNC paper's bAbI rule ("a question is correct only if all its answer words are") and
the "sequence error" of its copy experiments (ED Fig. 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from tasks.batch import IGNORE_INDEX
from tasks.spec import TaskSpec

FAIL_PERCENT = 5  # a bAbI task "fails" above 5% question error (Weston et al. 2015)


def failed(wrong: Tensor, total: Tensor) -> Tensor:
    """Which groups fail: more than 5% of their questions wrong (Weston et al. 2015), decided on
    the integer counts (``100 * wrong > 5 * total``), so exactly 5% (e.g. 50 of 1000) passes whatever
    float type a rate would later be stored in. wrong, total: (G,) counts -> (G,) bool."""
    return 100 * wrong.round().long() > FAIL_PERCENT * total.round().long()


def masked_loss(logits: Tensor, target: Tensor, mask: Tensor, target_kind: str) -> Tensor:
    """Mean loss over target steps.

    bits: logits/target (B, T, D_out), BCE-with-logits averaged over masked steps and bits.
    tokens: logits (B, T, K, C), target (B, T, K), cross-entropy averaged over masked tokens.
    """
    if target_kind == "bits":
        per_bit = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        weights = mask[..., None].to(per_bit.dtype).expand_as(per_bit)
        return (per_bit * weights).sum() / weights.sum().clamp_min(1.0)
    tgt = target.masked_fill(~mask[..., None], IGNORE_INDEX)  # (B, T, K)
    return F.cross_entropy(logits.flatten(0, 2), tgt.flatten(), ignore_index=IGNORE_INDEX)


def step_errors(logits: Tensor, target: Tensor, mask: Tensor, target_kind: str) -> Tensor:
    """Wrong elements per step (B, T): wrong bits, or wrong answer tokens. 0 off the mask."""
    if target_kind == "bits":
        wrong = ((logits > 0) != (target > 0.5)).sum(-1)
    else:
        valid = target != IGNORE_INDEX  # (B, T, K)
        wrong = ((logits.argmax(-1) != target) & valid).sum(-1)
    return wrong * mask


def episode_ids(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Number each run of consecutive masked steps. mask (B, T) -> (ids (B, T), count (B,)).

    ids are global over the batch (0 .. total-1) on masked steps and -1 elsewhere.
    """
    prev = F.pad(mask[:, :-1], (1, 0), value=False)
    starts = mask & ~prev  # (B, T)
    count = starts.sum(1)  # (B,)
    offset = count.cumsum(0) - count  # (B,)
    ids = starts.long().cumsum(1) - 1 + offset[:, None]
    return ids.masked_fill(~mask, -1), count


class GroupedErrors(Metric):
    """Sums, per group, what the error metrics need; DDP-safe (torchmetrics sum reduction).

    compute() -> {"error": episode error, "step_acc": step accuracy,
                  "bit_errors": wrong bits per sequence (bit targets only),
                  "mean_group_error", "failed_groups" (groups above 5% error, from counts),
                  "group/<name>/error" (and ".../bit_errors"),
                  "group/<name>/wrong" and "group/<name>/total": wrong and all episodes, the
                  integer counts reports use to decide the 5% threshold (DESIGN §9)}.
    """

    full_state_update = False

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__()
        self.group_names = spec.group_names
        self.bits = spec.target_kind == "bits"
        G = len(spec.group_names)
        for name in ("episodes", "wrong_episodes", "sequences", "wrong_elements", "steps", "right_steps"):
            self.add_state(name, default=torch.zeros(G, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, logits: Tensor, target: Tensor, mask: Tensor, group: Tensor) -> None:
        kind = "bits" if self.bits else "tokens"
        wrong = step_errors(logits, target, mask, kind)  # (B, T)
        ids, count = episode_ids(mask)
        total = int(count.sum())
        wrong_per_episode = torch.zeros(total, device=wrong.device, dtype=torch.long)
        wrong_per_episode.index_add_(0, ids[mask], wrong[mask])
        episode_group = group.repeat_interleave(count)  # (total,)
        G = len(self.group_names)

        def per_group(values: Tensor, groups: Tensor) -> Tensor:
            return torch.bincount(groups, weights=values.double(), minlength=G)

        self.episodes += per_group(torch.ones_like(episode_group), episode_group)
        self.wrong_episodes += per_group((wrong_per_episode > 0).long(), episode_group)
        self.sequences += per_group(torch.ones_like(group), group)
        self.wrong_elements += per_group(wrong.sum(1), group)
        self.steps += per_group(mask.sum(1), group)
        self.right_steps += per_group((mask & (wrong == 0)).sum(1), group)

    def compute(self) -> dict[str, Tensor]:
        def ratio(a: Tensor, b: Tensor) -> Tensor:
            return a / b.clamp_min(1.0)

        seen = self.episodes > 0
        group_error = ratio(self.wrong_episodes, self.episodes)
        out = {
            "error": ratio(self.wrong_episodes.sum(), self.episodes.sum()),
            "step_acc": ratio(self.right_steps.sum(), self.steps.sum()),
            "mean_group_error": group_error[seen].mean() if seen.any() else group_error.sum(),
            "failed_groups": failed(self.wrong_episodes, self.episodes)[seen].sum().double(),
        }
        if self.bits:
            out["bit_errors"] = ratio(self.wrong_elements.sum(), self.sequences.sum())
        for g, name in enumerate(self.group_names):
            if not seen[g]:
                continue
            out[f"group/{name}/error"] = group_error[g]
            out[f"group/{name}/wrong"] = self.wrong_episodes[g]
            out[f"group/{name}/total"] = self.episodes[g]
            if self.bits:
                out[f"group/{name}/bit_errors"] = ratio(self.wrong_elements[g], self.sequences[g])
        return {k: v.float() for k, v in out.items()}
