"""Fake recurrent models whose mini-SHRDLU moves a test controls (shared by the closed-loop,
actor-critic and learning tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from memnets.models.base import RecurrentMemoryNetwork
from tasks.batch import Role
from tasks.shrdlu.board import PASS, Board, Goal
from tasks.shrdlu.closed_loop import decode_board, read_episode
from tasks.shrdlu.encoding import shrdlu_spec
from tasks.shrdlu.lessons import LESSONS
from tasks.shrdlu.planner import optimal_actions

Policy = Callable[[Board, Goal, int], int]  # (board, cued goal, moves so far) -> action id


def planner_move(board: Board, goal: Goal, moves: int) -> int:
    best = optimal_actions(board, goal)
    return best[0] if best else PASS


def always_pass(board: Board, goal: Goal, moves: int) -> int:
    return PASS


def scripted(actions: list[int]) -> Policy:
    return lambda board, goal, moves: actions[moves] if moves < len(actions) else PASS


class Scripted(RecurrentMemoryNetwork):
    """Reads the episode from the steps it is shown and answers each board with ``policy``'s
    action as a confident one-hot logit; ``extra`` more output classes (e.g. a value unit) are 0."""

    def __init__(self, policy: Policy, extra: int = 0) -> None:
        spec = shrdlu_spec(LESSONS)
        if extra:
            spec = dataclasses.replace(spec, num_classes=spec.num_classes + extra)
        super().__init__(spec)
        self.policy = policy
        self.bias = nn.Parameter(torch.zeros(self.output_size))

    def initial_state(self, batch_size, device, dtype):
        return [([], []) for _ in range(batch_size)]  # per episode: inputs and roles so far

    def step(self, x_t, role_t, state):
        y = torch.zeros(x_t.shape[0], self.output_size)
        for b, (inputs, roles) in enumerate(state):
            inputs.append(x_t[b].detach())
            roles.append(int(role_t[b]))
            if roles[-1] != Role.ANSWER:
                continue
            n = roles.index(Role.ANSWER)
            ep = read_episode(torch.stack(inputs[:n]), torch.tensor(roles[:n]))
            action = self.policy(decode_board(x_t[b]), ep.cued_goal, len(roles) - n - 1)
            y[b, action] = 10.0
        return y + self.bias, state


