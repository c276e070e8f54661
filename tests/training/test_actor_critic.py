"""Actor-critic on mini-SHRDLU: rollouts in the gymnasium environment, the loss, the module."""

from __future__ import annotations

import pytest
import torch

from memnets.models.lstm import LSTMBaseline
from memnets.training.actor_critic import ActorCriticModule, rollout, value_spec
from tasks.shrdlu.board import satisfied_count
from tasks.shrdlu.closed_loop import ShrdluLoopTask
from tasks.shrdlu.encoding import shrdlu_spec
from tasks.shrdlu.env import MiniSHRDLUEnv
from tasks.shrdlu.lessons import LESSONS
from tests.tasks.shrdlu.fake_models import Scripted, always_pass, planner_move
from tests.tasks.shrdlu.test_closed_loop import hand_episode, lesson_episodes


def envs(n):
    return [MiniSHRDLUEnv(lesson=1) for _ in range(n)]


def test_value_spec_adds_one_output_class():
    spec = shrdlu_spec(LESSONS)
    assert value_spec(spec).num_classes == spec.num_classes + 1 == 8


def test_a_planner_policy_rollout_solves_every_episode_with_one_reward_per_constraint():
    episodes = [hand_episode(), *lesson_episodes(5, 5)]
    roll = rollout(Scripted(planner_move, extra=1), envs(len(episodes)), episodes, 7, greedy=True)
    assert roll.valid.sum(1).tolist() == [ep.min_moves for ep in episodes]
    assert roll.results["solved_optimal"].tolist() == [1.0] * len(episodes)
    gained = [len(ep.cued_goal) - satisfied_count(ep.board, ep.cued_goal) for ep in episodes]
    assert (roll.rewards * roll.valid).sum(1).tolist() == pytest.approx(gained)


def test_a_passing_policy_rolls_out_the_whole_budget_with_no_reward():
    episodes = lesson_episodes(3, 4)
    roll = rollout(Scripted(always_pass, extra=1), envs(4), episodes, 7, greedy=True)
    assert roll.valid.sum(1).tolist() == [ep.min_moves + 6 for ep in episodes]
    assert roll.rewards.abs().sum() == 0 and roll.results["incomplete"].tolist() == [1.0] * 4


def lstm_module(**settings) -> ActorCriticModule:
    model = LSTMBaseline(value_spec(shrdlu_spec(LESSONS)), hidden_size=16)
    return ActorCriticModule(model, lambda p: torch.optim.Adam(p, lr=1e-2),
                             lambda: MiniSHRDLUEnv(lesson=2), ShrdluLoopTask(), actions=7, **settings)


def test_the_loss_reaches_every_part_of_the_model():
    module = lstm_module()
    episodes = lesson_episodes(2, 8)
    roll = rollout(module.model, [module.make_env() for _ in episodes], episodes, 7)
    loss, parts = module.loss(roll)
    assert torch.isfinite(loss) and set(parts) == {"policy_loss", "value_loss", "entropy"}
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.model.parameters())
    assert 0.0 < float(parts["entropy"].detach()) <= float(torch.log(torch.tensor(7.0))) + 1e-6


def test_a_model_without_a_value_unit_or_a_bad_lambda_is_refused():
    with pytest.raises(ValueError, match="value_spec"):
        ActorCriticModule(LSTMBaseline(shrdlu_spec(LESSONS)), torch.optim.Adam,
                          MiniSHRDLUEnv, ShrdluLoopTask(), actions=7)
    with pytest.raises(ValueError, match="gae_lambda"):
        lstm_module(gae_lambda=2.0)
