"""Episodes of the three graph tasks (Graves et al., Nature 2016, Methods "Graph tasks").

Phases (the paper's): graph description (one triple per edge, random order), query, for
shortest path and inference 10 blank planning steps, answer, termination pattern. Roles:
description INPUT, query and planning QUERY, answer ANSWER (targets only there), termination
INPUT (ours: it carries no target). Answers are complete triples:

- traversal: query (source, e1, _) then (_, e_i, _) for each further edge; answer the path's
  triples (v_{i-1}, e_i, v_i) one per step.
- shortest path: query (source, _, destination); answer a minimal path, one triple per step.
  Answer-step inputs are the previous answer triple (the paper feeds the network's own answer
  back; the stored episode holds the optimal planner's, i.e. teacher forcing, which the
  closed loop replaces). Ours: one slack answer step without a target after the optimal length,
  so a path one step too long can be scored; the stored optimal path takes the smallest edge
  label where several next edges are optimal.
- inference: query (start, relation, _); answer (start, relation, destination) in one step
  (ours: the whole triple, so the target is a triple like in the other tasks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import torch

from tasks.batch import Episode, Role
from tasks.graph.encoding import Triple, encode_triple, triple_target
from tasks.graph.generator import (
    SINGLE_EDGE_LABELS,
    Lesson,
    edge_triples,
    follow,
    out_edges,
    random_graph,
    relation_labels,
)

PLANNING_STEPS = 10  # the paper's planning phase (shortest path, inference)
SLACK_STEPS = 1  # ours: shortest-path answer steps beyond the optimal length
MAX_TRIES = 200


class LessonError(ValueError):
    """A lesson's ranges admit no episode (e.g. paths longer than its graphs allow)."""


def layout(
    description: Sequence[Triple],
    query: Sequence[Triple],
    planning: int,
    answers: Sequence[Triple | None],
    answer_inputs: Sequence[Triple] | None,
    group: int,
) -> Episode:
    """Assemble the phases into one episode. ``answers[i]`` None: an answer step without target.
    ``answer_inputs[i]`` is the triple shown at answer step i (None: all blank)."""
    steps: list[torch.Tensor] = [encode_triple(t) for t in description]
    roles = [Role.INPUT] * len(description)
    steps += [encode_triple(t, query=True) for t in query]
    roles += [Role.QUERY] * len(query)
    steps += [encode_triple((None, None, None))] * planning
    roles += [Role.QUERY] * planning
    blank = (None, None, None)
    shown = answer_inputs or [blank] * len(answers)
    steps += [encode_triple(t, answer=True) for t in shown]
    roles += [Role.ANSWER] * len(answers)
    steps.append(encode_triple(blank, query=True, answer=True))  # termination pattern
    roles.append(Role.INPUT)
    T = len(steps)
    target = torch.full((T, 9), -100, dtype=torch.long)
    mask = torch.zeros(T, dtype=torch.bool)
    first = T - 1 - len(answers)
    for i, triple in enumerate(answers):
        if triple is not None:
            target[first + i] = triple_target(triple)
            mask[first + i] = True
    return Episode(torch.stack(steps), torch.tensor([int(r) for r in roles]), target, mask, group)


def shuffled_description(graph: nx.MultiDiGraph, rng: np.random.Generator) -> list[Triple]:
    triples = edge_triples(graph)
    return [triples[i] for i in rng.permutation(len(triples))]


def draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def traversal_episode(rng: np.random.Generator, lesson: Lesson, group: int,
                      graph: nx.MultiDiGraph | None = None) -> Episode:
    """A random walk of a length in the lesson's range on a random graph (or ``graph``)."""
    graph = graph if graph is not None else random_graph(rng, draw(rng, lesson.nodes), lesson.degree)
    n = draw(rng, lesson.length)
    nodes = [int(v) for v in graph.nodes if graph.out_degree(v) > 0]
    node = nodes[int(rng.integers(len(nodes)))]
    path: list[tuple[int, int, int]] = []
    for _ in range(n):
        edges = sorted(out_edges(graph, node).items())
        if not edges:
            break  # only in hand-made graphs with dead ends: the walk stops early
        edge, nxt = edges[int(rng.integers(len(edges)))]
        path.append((node, edge, nxt))
        node = nxt
    query = [(path[0][0], path[0][1], None)] + [(None, e, None) for _, e, _ in path[1:]]
    return layout(shuffled_description(graph, rng), query, 0, path, None, group)


def optimal_next(graph: nx.MultiDiGraph, node: int, distance: Mapping[int, int]
                 ) -> list[tuple[int, int, int]]:
    """The out-edges of ``node`` on some shortest path, given every node's ``distance`` to the
    destination (from networkx), as triples sorted by edge label."""
    here = distance[node]
    return sorted((node, e, v) for e, v in out_edges(graph, node).items() if distance.get(v) == here - 1)


def optimal_path(graph: nx.MultiDiGraph, source: int, destination: int) -> list[tuple[int, int, int]]:
    """One minimal path as triples (smallest edge label first among optimal next edges)."""
    distance = nx.single_target_shortest_path_length(graph, destination)
    distance = dict(distance)
    path, node = [], source
    while node != destination:
        step = optimal_next(graph, node, distance)[0]
        path.append(step)
        node = step[2]
    return path


def shortest_path_query(graph: nx.MultiDiGraph, source: int, destination: int, group: int,
                        rng: np.random.Generator) -> Episode:
    """The episode asking for a minimal path from ``source`` to ``destination``."""
    path = optimal_path(graph, source, destination)
    answers: list[Triple | None] = [*path, *([None] * SLACK_STEPS)]
    blank: Triple = (None, None, None)
    shown: list[Triple] = [blank, *path[: len(answers) - 1]]
    return layout(shuffled_description(graph, rng), [(source, None, destination)], PLANNING_STEPS,
                  answers, shown, group)


def shortest_path_episode(rng: np.random.Generator, lesson: Lesson, group: int) -> Episode:
    """A random (source, destination) pair whose distance is in the lesson's length range."""
    for _ in range(MAX_TRIES):
        graph = random_graph(rng, draw(rng, lesson.nodes), lesson.degree)
        want = draw(rng, lesson.length)
        pairs = [(s, d) for s, dists in nx.all_pairs_shortest_path_length(graph)
                 for d, k in dists.items() if k == want]
        if pairs:
            s, d = pairs[int(rng.integers(len(pairs)))]
            return shortest_path_query(graph, s, d, group, rng)
    raise LessonError(f"no shortest path of length {lesson.length} in {MAX_TRIES} graphs of "
                      f"lesson {lesson}; shorten task.lessons[...].length or add nodes")


def inference_query(graph: nx.MultiDiGraph, start: int, relation: int, edges: Sequence[int],
                    group: int, rng: np.random.Generator) -> Episode:
    """The episode asking where ``relation`` (meaning ``edges``) leads from ``start``."""
    destination = follow(graph, start, edges)
    if destination is None:
        raise ValueError(f"relation {relation} {tuple(edges)} is undefined from node {start}")
    return layout(shuffled_description(graph, rng), [(start, relation, None)], PLANNING_STEPS,
                  [(start, relation, destination)], None, group)


def inference_episode(rng: np.random.Generator, lesson: Lesson, group: int,
                      table: Mapping[int, Sequence[int]]) -> Episode:
    """A random graph with edge labels 0..9 and a relation of a length in the lesson's range,
    defined from the chosen start node."""
    for _ in range(MAX_TRIES):
        graph = random_graph(rng, draw(rng, lesson.nodes), lesson.degree, SINGLE_EDGE_LABELS)
        length = draw(rng, lesson.length)
        candidates = relation_labels(table, length)
        for relation in rng.permutation(candidates):
            edges = (int(relation),) if length == 1 else tuple(table[int(relation)])
            starts = [int(v) for v in graph.nodes if follow(graph, int(v), edges) is not None]
            if starts:
                start = starts[int(rng.integers(len(starts)))]
                return inference_query(graph, start, int(relation), edges, group, rng)
    raise LessonError(f"no relation of length {lesson.length} is defined in {MAX_TRIES} graphs "
                      f"of lesson {lesson}; raise task.lessons[...].degree or shorten the length")
