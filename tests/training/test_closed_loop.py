"""Closed-loop answering and the DAgger mixture on a hand-made graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from memnets.models import memn2n
from memnets.models.base import RecurrentMemoryNetwork
from memnets.models.lstm import LSTMBaseline
from memnets.training.closed_loop import run_closed_loop
from run import RunError, build
from tasks.batch import Role, collate
from tasks.graph.closed_loop import ShortestPathTask
from tasks.graph.datamodule import GraphDataModule
from tasks.graph.encoding import decode_triple, target_triple
from tasks.graph.episodes import shortest_path_query

# 1 -e0-> 2 -e0-> 3 -e0-> 4 (a detour) and 1 -e5-> 5 -e5-> 4: the short way from 1 to 4 is
# e5, e5; a model that scores every triple alike takes the smallest label, e0, the long way.
EDGES = [(1, 0, 2), (2, 0, 3), (3, 0, 4), (1, 5, 5), (5, 5, 4), (4, 0, 1)]


def hand_graph() -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for u, e, v in EDGES:
        graph.add_edge(u, v, key=e)
    return graph


def spec():
    lessons = [{"nodes": [3, 5], "degree": [1, 2], "length": [1, 1]}]
    return GraphDataModule("shortest_path", lessons).spec


class Recorder(RecurrentMemoryNetwork):
    """Scores every triple alike and records what it is shown."""

    def __init__(self) -> None:
        super().__init__(spec())
        self.bias = nn.Parameter(torch.zeros(self.output_size))
        self.seen: list[torch.Tensor] = []

    def initial_state(self, batch_size, device, dtype):
        return torch.zeros(batch_size, device=device, dtype=dtype)

    def step(self, x_t, role_t, state):
        self.seen.append(x_t.detach().clone())
        return self.bias.expand(x_t.shape[0], -1), state


def episodes(n: int):
    rng = np.random.default_rng(0)
    return collate([shortest_path_query(hand_graph(), 1, 4, 0, rng) for _ in range(n)])


def shown_answers(model: Recorder, batch, b: int = 0) -> list:
    steps = (batch.role[b] == Role.ANSWER).nonzero().flatten().tolist()
    return [decode_triple(model.seen[t][b]) for t in steps]


def test_closed_loop_feeds_back_the_models_own_moves_and_targets_the_optimal_next_edge():
    model, batch = Recorder(), episodes(1)
    out = run_closed_loop(model, batch, ShortestPathTask(), beta=0.0)
    # the model walks 1 -e0-> 2 -e0-> 3 -e0-> 4: three moves (the slack step included), one more
    # than the optimal two
    assert shown_answers(model, batch) == [(None, None, None), (1, 0, 2), (2, 0, 3)]
    targets = [target_triple(out.target[0, t]) for t in out.mask[0].nonzero().flatten().tolist()]
    assert targets == [(1, 5, 5), (2, 0, 3), (3, 0, 4)]  # optimal from wherever it stands
    assert not out.results["path"][0] and out.results["path_within_one"][0]
    assert out.logits.shape == (1, batch.role.shape[1], 9, 10)


def test_with_beta_one_the_planner_walks_and_the_episode_is_solved():
    model, batch = Recorder(), episodes(1)
    out = run_closed_loop(model, batch, ShortestPathTask(), beta=1.0)
    assert shown_answers(model, batch) == [(None, None, None), (1, 5, 5), (5, 5, 4)]
    assert out.mask[0].sum() == 2  # the slack step after arriving has no target
    assert out.results["path"][0] and out.results["path_within_one"][0]


def test_dagger_mixture_executes_the_planner_with_probability_beta():
    model, batch = Recorder(), episodes(400)
    out = run_closed_loop(model, batch, ShortestPathTask(), beta=0.8,
                          generator=torch.Generator().manual_seed(0))
    # solved iff the planner's e5 was executed at the first move (then the model's only
    # remaining out-edge of node 5 is the right one)
    assert 0.74 < out.results["path"].float().mean() < 0.86


def test_teacher_forced_closed_loop_equals_the_open_loop_forward():
    torch.manual_seed(0)
    model = LSTMBaseline(spec(), hidden_size=8)
    batch = episodes(2)
    out = run_closed_loop(model, batch, ShortestPathTask(), beta=1.0)
    torch.testing.assert_close(out.logits, model(batch).logits)
    torch.testing.assert_close(out.target[out.mask], batch.target[batch.target_mask])


def test_a_model_that_cannot_step_is_refused_at_start_up(make_cfg, monkeypatch):
    monkeypatch.setattr(memn2n.MemN2N, "SUPPORTED_GRANULARITIES", frozenset({"step"}))
    with pytest.raises(RunError, match="model=memn2n task=graph_shortest_path.*closed loop"):
        build(make_cfg("model=memn2n", "task=graph_shortest_path"))
