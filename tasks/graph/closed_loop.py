"""Shortest path as a closed-loop task: what the training code's loop
(``memnets.training.closed_loop.run_closed_loop``) asks at each answer step.

The paper's protocol (Graves et al., Nature 2016, Methods "Graph tasks"): the network's previous
answer triple is its next input; its outputs are renormalised over the out-edges of the node it
stands on; training mixes in the optimal planner (DAgger-like, beta = 0.8, ED Table 2).

Our choices: the network's action is the out-edge whose triple has the highest summed digit
log-probability (modal decoding of the renormalised distribution); the target at a step is the
optimal next triple from the node reached (several optimal edges: the one the network scores
highest, so it is not taught against an equally short path); beta is the probability of
executing the planner's edge instead of the network's (as in Ross et al.'s DAgger); the loss
stays the digit cross-entropy of the target. The graph and query are read back from the
episode's own input steps, so the loop needs nothing besides the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
from torch import Tensor

from tasks.batch import Role
from tasks.graph.encoding import (
    ANSWER_FLAG,
    QUERY_FLAG,
    decode_triple,
    encode_triple,
    triple_log_prob,
    triple_target,
)
from tasks.graph.episodes import optimal_next
from tasks.graph.generator import out_edges

Action = tuple[int, int, int]


def read_episode(inputs: Tensor, role: Tensor) -> tuple[nx.MultiDiGraph, int, int]:
    """The graph (from the description steps) and the query (source, destination) of a
    shortest-path episode: inputs (T, 92), role (T,)."""
    graph = nx.MultiDiGraph()
    query = None
    for x, r in zip(inputs, role.tolist(), strict=True):
        flagged = bool(x[QUERY_FLAG] or x[ANSWER_FLAG])
        if r == Role.INPUT and not flagged:
            u, e, v = decode_triple(x)
            graph.add_edge(u, v, key=e)
        elif r == Role.QUERY and x[QUERY_FLAG] and query is None:
            source, _, destination = decode_triple(x)
            query = (source, destination)
    if query is None or query[0] is None or query[1] is None:
        raise ValueError("a shortest-path episode needs a (source, _, destination) query step")
    return graph, query[0], query[1]


class ShortestPathEnv:
    """One episode's walk: where the answers have led so far."""

    def __init__(self, graph: nx.MultiDiGraph, source: int, destination: int) -> None:
        self.graph, self.node, self.destination = graph, source, destination
        self.distance = dict(nx.single_target_shortest_path_length(graph, destination))
        self.optimal = self.distance[source]
        self.moves = 0
        self.last: Action | None = None

    def observation(self) -> Tensor:
        """The next answer step's input: the last executed triple (blank before the first)."""
        return encode_triple(self.last or (None, None, None), answer=True)

    def expert(self, log_probs: Tensor) -> Action | None:
        """The optimal next triple (the best-scored of several), None once at the destination
        or stuck where the destination cannot be reached."""
        if self.node == self.destination or self.node not in self.distance:
            return None
        options = optimal_next(self.graph, self.node, self.distance)
        return max(options, key=lambda t: float(triple_log_prob(log_probs, t)))

    def choose(self, log_probs: Tensor) -> Action | None:
        """The network's move: its best-scored out-edge of the current node (log_probs (9, 10))."""
        options = [(self.node, e, v) for e, v in sorted(out_edges(self.graph, self.node).items())]
        if not options:
            return None
        return max(options, key=lambda t: float(triple_log_prob(log_probs, t)))

    def apply(self, action: Action | None) -> None:
        if action is None:
            return
        if out_edges(self.graph, action[0]).get(action[1]) != action[2] or action[0] != self.node:
            raise ValueError(f"{action} is not an out-edge of node {self.node}")
        self.node, self.last = action[2], action
        self.moves += 1

    def result(self) -> dict[str, bool]:
        """solved: at the destination in the optimal number of moves (the paper's metric);
        within_one: at most one move more (its lesson threshold)."""
        arrived = self.node == self.destination
        return {"path": arrived and self.moves == self.optimal,
                "path_within_one": arrived and self.moves <= self.optimal + 1}


class ShortestPathTask:
    """The task side of the closed loop: start an episode's walk, turn an action into targets."""

    def __init__(self, beta: float = 0.8) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"task.dagger_beta={beta}: need 0 <= beta <= 1")
        self.beta = beta

    def start(self, inputs: Tensor, role: Tensor) -> ShortestPathEnv:
        return ShortestPathEnv(*read_episode(inputs, role))

    def target(self, action: Sequence[int]) -> Tensor:
        return triple_target(action)
