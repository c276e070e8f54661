"""Actor-critic training of any recurrent memory core in a task's environment (Graves et al.,
Nature 2016, Methods "Mini-SHRDLU", ED Table 2; A3C-style advantage actor-critic, Mnih et al.
2016; advantages by GAE, Schulman et al. 2016). ``python run.py model=dnc task=shrdlu
training=rl``.

Policy and value (ours): one core, two heads. The model is built for the task's spec widened by
one output class (:func:`value_spec`): its read-out gives the policy's action logits (the task's
classes) and, in the extra unit, the value, so policy and value share the whole core as in A3C.
The paper uses two DNCs, one for the policy and one for the value; one core halves the cost on a
CPU. Any model that implements ``step`` (DNC, NTM, LSTM) works.

Rollouts: each training batch is a list of episodes (the data module's ``rollouts`` mode), each
replayed in its own gymnasium environment (``datamodule.make_env()``,
``env.reset(options={"episode": ...})``), all stepped together by the model one observation at
a time; actions are sampled from the policy at the steps whose ``info["role"]`` is ANSWER (the
environment ignores the others). The episode's results come from its last ``info["results"]``.

Loss per batch, means over the action steps taken: ``-A_t log pi(a_t) + value_cost * (R_t -
V_t)^2 / 2 - entropy_cost * H(pi_t)``, A = GAE(gamma, lambda), R = A + V. The paper's (ED Table
2): lambda 0.5 (Fig. 5 DNC; 0.75 for Fig. 4a's), entropy cost 0.5, batch 32. Ours: gamma 0.99
and value cost 0.5 (not given), and the entropy cost's default 0.01 (the paper's 0.5 is on a
loss scale it does not state; with our per-step means it keeps the policy near uniform).

Validation and test play the encoded episodes in the shared closed loop
(``memnets.training.closed_loop``, beta 0, the modal action over the policy's classes), so
imitation and actor-critic are judged the same way; the curriculum callback reads the same
``val/constraints_satisfied_error``. Logged: ``rl/return`` (undiscounted, per episode),
``rl/{result}`` for each episode result (``rl/constraints_satisfied``, ...), ``rl/entropy``,
``rl/value_loss``, ``train/loss``; ``val/...`` and ``test/...`` results as in imitation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Categorical

from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.layers import reshape_logits
from memnets.training.advantages import gae
from memnets.training.closed_loop import ClosedLoopTask, result_metrics, run_closed_loop
from tasks.batch import Batch, Role
from tasks.spec import TaskSpec


def value_spec(spec: TaskSpec) -> TaskSpec:
    """The task's spec with one more output class: the value unit after the action logits."""
    if spec.target_width != 1 or spec.target_kind != "tokens":
        raise ValueError("actor-critic needs one categorical action per step (target_width 1)")
    return dataclasses.replace(spec, num_classes=spec.num_classes + 1)


class Rollout(NamedTuple):
    """A batch of finished episodes, action steps only, right-padded to the longest (B, M)."""

    log_probs: Tensor  # (B, M) log pi(a_t) of the actions taken
    values: Tensor  # (B, M) V_t
    entropy: Tensor  # (B, M) H(pi_t)
    rewards: Tensor  # (B, M)
    valid: Tensor  # (B, M) bool
    results: dict[str, Tensor]  # name -> (B,) per episode


def _pad(rows: list[list[Tensor]], width: int) -> Tensor:
    """(B, width) from B lists of 0-d tensors, right-padded with 0 (gradients kept)."""
    zero = next((r[0] for r in rows if r), torch.zeros(())).new_zeros(())
    return torch.stack([torch.stack([*r, *[zero] * (width - len(r))]) for r in rows])


def rollout(model: RecurrentMemoryNetwork, envs: Sequence[Any], episodes: Sequence[Any],
            actions: int, *, greedy: bool = False) -> Rollout:
    """Play ``episodes`` in ``envs`` (gymnasium environments, one each) to their ends with
    ``model``: output classes ``0..actions-1`` are the policy's logits, class ``actions`` the
    value. Sampled actions (``greedy``: the modal one)."""
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    B = len(envs)
    obs, infos = map(list, zip(*(e.reset(options={"episode": ep}) for e, ep in
                                 zip(envs, episodes, strict=True)), strict=True))
    state = model.initial_state(B, device, dtype)
    alive = [True] * B
    steps: dict[str, list[list[Tensor]]] = {k: [[] for _ in range(B)]
                                            for k in ("log_probs", "values", "entropy", "rewards")}
    results: list[dict[str, float]] = [{} for _ in range(B)]
    while any(alive):
        x = torch.as_tensor(np.stack(obs), device=device, dtype=dtype)  # (B, D)
        role = torch.tensor([int(i["role"]) for i in infos], device=device)  # (B,)
        enc = model.encoder(x[:, None], role[:, None])[:, 0]  # (B, E)
        y, state = model.step(enc, role, state)  # (B, O)
        out = reshape_logits(y[:, None], model.spec)[:, 0, 0]  # (B, actions + 1)
        policy = Categorical(logits=out[:, :actions])
        action = policy.probs.argmax(-1) if greedy else policy.sample()  # (B,)
        log_prob, entropy = policy.log_prob(action), policy.entropy()  # (B,)
        for b in range(B):
            if not alive[b]:
                continue
            acting = infos[b]["role"] == Role.ANSWER
            obs[b], reward, terminated, truncated, infos[b] = envs[b].step(int(action[b]))
            if acting:
                for key, value in (("log_probs", log_prob[b]), ("values", out[b, actions]),
                                   ("entropy", entropy[b]),
                                   ("rewards", torch.tensor(float(reward), dtype=dtype))):
                    steps[key][b].append(value)
            if terminated or truncated:
                alive[b], results[b] = False, infos[b]["results"]
    lengths = torch.tensor([len(r) for r in steps["rewards"]], device=device)  # (B,)
    width = max(1, int(lengths.max()))
    padded = {k: _pad(v, width).to(device) for k, v in steps.items()}
    valid = torch.arange(width, device=device)[None, :] < lengths[:, None]  # (B, M)
    names = results[0].keys()
    return Rollout(**padded, valid=valid,
                   results={k: torch.tensor([r[k] for r in results], device=device) for k in names})


class ActorCriticModule(pl.LightningModule):
    """A2C on a task's environment, closed-loop evaluation; see the module docstring."""

    def __init__(self, model: RecurrentMemoryNetwork, optimizer: Callable[..., torch.optim.Optimizer],
                 make_env: Callable[[], Any], closed_loop: ClosedLoopTask, *, actions: int,
                 gamma: float = 0.99, gae_lambda: float = 0.5, entropy_cost: float = 0.01,
                 value_cost: float = 0.5, test_split_names: Sequence[str] = ("test",)) -> None:
        super().__init__()
        if not isinstance(model, RecurrentMemoryNetwork):
            raise TypeError(f"{type(model).__name__} cannot step; actor-critic needs a recurrent model")
        if model.spec.num_classes != actions + 1:
            raise ValueError(f"the model has {model.spec.num_classes} output classes; actor-critic "
                             f"needs {actions} actions + 1 value unit (build it with value_spec)")
        for name, value in (("gamma", gamma), ("gae_lambda", gae_lambda)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"training.{name}={value}: need 0 <= value <= 1")
        self.model, self.optimizer_factory, self.make_env = model, optimizer, make_env
        self.closed_loop, self.actions = closed_loop, actions
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.entropy_cost, self.value_cost = entropy_cost, value_cost
        self.test_split_names = tuple(test_split_names)

    def loss(self, roll: Rollout) -> tuple[Tensor, dict[str, Tensor]]:
        """The actor-critic loss of one rollout and its parts (means over the action steps)."""
        values = roll.values.detach()
        advantages = gae(roll.rewards, values, roll.valid, self.gamma, self.gae_lambda)  # (B, M)
        returns = advantages + values
        n = roll.valid.sum().clamp(min=1)
        policy = -(advantages * roll.log_probs * roll.valid).sum() / n
        value = 0.5 * (((returns - roll.values) ** 2) * roll.valid).sum() / n
        entropy = (roll.entropy * roll.valid).sum() / n
        total = policy + self.value_cost * value - self.entropy_cost * entropy
        return total, {"policy_loss": policy, "value_loss": value, "entropy": entropy}

    def training_step(self, episodes: list, batch_idx: int) -> Tensor:
        envs = [self.make_env() for _ in episodes]
        roll = rollout(self.model, envs, episodes, self.actions)
        loss, parts = self.loss(roll)
        B = len(episodes)
        self.log("train/loss", loss, prog_bar=True, batch_size=B)
        self.log("rl/return", (roll.rewards * roll.valid).sum(1).mean(), batch_size=B)
        for key, value in {**parts, **result_metrics(roll.results)}.items():
            self.log(f"rl/{key}", value, batch_size=B, prog_bar=key == "constraints_satisfied")
        return loss

    def _evaluate(self, batch: Batch, stage: str) -> None:
        out = run_closed_loop(self.model, batch, self.closed_loop, beta=0.0)
        for key, value in result_metrics(out.results).items():
            self.log(f"{stage}/{key}", value, batch_size=batch.batch_size,
                     add_dataloader_idx=False, prog_bar=key == "constraints_satisfied")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, self.test_split_names[dataloader_idx])

    def configure_optimizers(self):
        return self.optimizer_factory(self.parameters())
