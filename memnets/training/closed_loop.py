"""Closed-loop answering (DESIGN §8): the model's answer at one step becomes its input at the next,
and the target at each answer step depends on where the earlier answers led.

The training code owns the loop; the task owns the meaning, through a small protocol (the graph
shortest-path task implements it in ``tasks.graph.closed_loop``, mini-SHRDLU in
``tasks.shrdlu.closed_loop``):

- ``task.start(inputs (T, D), role (T,)) -> env``: one episode's environment, from its steps;
- ``env.observation() -> (D,)``: the input of the next answer step;
- ``env.expert(log_probs (K, C)) -> action | None``: the optimal planner's action, whose target
  the step is trained on (None: no target at this step, e.g. the goal is reached);
- ``env.choose(log_probs) -> action``: the model's own action (modal decoding);
- ``env.apply(action)``: act; ``env.result() -> {name: bool | float in [0, 1]}``: how the
  episode went (logged by :func:`result_metrics`);
- ``task.target(action) -> (K,) long``: an action as target classes; ``task.beta``: in training,
  the probability of executing the expert's action instead of the model's (DAgger-like mixture,
  Ross et al. 2011, used with beta = 0.8 by Graves et al., Nature 2016, for shortest paths).
  Evaluation is fully closed-loop (beta = 0). ``beta = None``: training does not loop at all but
  reads the episode's own targets, the expert's trajectory (teacher forcing, one ``scan``).

Steps that are not ANSWER steps (description, query, planning) keep the episode's own inputs;
the whole episode is stepped with ``model.step``, so only recurrent models can answer in a loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor

from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.layers import reshape_logits
from tasks.batch import IGNORE_INDEX, Batch, Role


class ClosedLoopEnv(Protocol):
    def observation(self) -> Tensor: ...
    def expert(self, log_probs: Tensor) -> Any: ...
    def choose(self, log_probs: Tensor) -> Any: ...
    def apply(self, action: Any) -> None: ...
    def result(self) -> dict[str, bool]: ...


class ClosedLoopTask(Protocol):
    beta: float | None

    def start(self, inputs: Tensor, role: Tensor) -> ClosedLoopEnv: ...
    def target(self, action: Any) -> Tensor: ...


class ClosedLoopOutput(NamedTuple):
    logits: Tensor  # (B, T, K, C)
    target: Tensor  # (B, T, K) the expert's action at each answer step, IGNORE elsewhere
    mask: Tensor  # (B, T) bool: answer steps with a target
    results: dict[str, Tensor]  # name -> (B,) bool or float per episode


def result_metrics(results: dict[str, Tensor]) -> dict[str, Tensor]:
    """What is logged of the episodes' results: per name its mean over episodes ``{name}`` (a
    share, or a mean fraction) and ``{name}_error`` = 1 - mean (what a curriculum thresholds)."""
    out = {}
    for name, value in results.items():
        mean = value.float().mean()
        out[name], out[f"{name}_error"] = mean, 1.0 - mean
    return out


def run_closed_loop(model: RecurrentMemoryNetwork, batch: Batch, task: ClosedLoopTask, *,
                    beta: float, generator: torch.Generator | None = None) -> ClosedLoopOutput:
    """Step ``model`` through ``batch``, answering in a loop with ``task`` (see the module doc).

    ``beta``: probability, per answer step, of executing the expert's action (0 in evaluation).
    """
    if not isinstance(model, RecurrentMemoryNetwork):
        raise TypeError(f"{type(model).__name__} cannot step; closed-loop tasks need a recurrent model")
    B, T = batch.role.shape
    envs = [task.start(batch.inputs[b, : batch.lengths[b]], batch.role[b, : batch.lengths[b]])
            for b in range(B)]
    state = model.initial_state(B, batch.inputs.device, batch.inputs.dtype)
    target = torch.full((B, T, model.spec.target_width), IGNORE_INDEX, dtype=torch.long,
                        device=batch.inputs.device)
    mask = torch.zeros(B, T, dtype=torch.bool, device=batch.inputs.device)
    answer = batch.role == Role.ANSWER  # (B, T)
    ys = []
    for t in range(T):
        x_t = batch.inputs[:, t]  # (B, D)
        rows = answer[:, t].nonzero().flatten().tolist()
        if rows:
            x_t = x_t.clone()
            for b in rows:
                x_t[b] = envs[b].observation().to(x_t)
        enc = model.encoder(x_t[:, None], batch.role[:, t : t + 1])[:, 0]  # (B, E)
        y_t, state = model.step(enc, batch.role[:, t], state)  # (B, O)
        ys.append(y_t)
        if not rows:
            continue
        log_probs = reshape_logits(y_t.detach()[:, None], model.spec)[:, 0].log_softmax(-1)  # (B, K, C)
        for b in rows:
            best = envs[b].expert(log_probs[b])
            if best is None:
                continue
            target[b, t] = task.target(best).to(target.device)
            mask[b, t] = True
            use_expert = beta > 0 and float(torch.rand((), generator=generator)) < beta
            envs[b].apply(best if use_expert else envs[b].choose(log_probs[b]))
    logits = reshape_logits(torch.stack(ys, dim=1), model.spec)  # (B, T, K, C)
    names = envs[0].result().keys() if envs else ()
    results = {k: torch.tensor([e.result()[k] for e in envs], device=mask.device) for k in names}  # (B,)
    return ClosedLoopOutput(logits, target, mask, results)
