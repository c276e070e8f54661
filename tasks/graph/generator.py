"""Random graphs, lessons and relations of the DNC paper's graph tasks.

Graves et al., Nature 2016, Methods "Graph tasks" (the paper's choices): nodes are points drawn
uniformly in the unit square; each node gets out-edges to its K nearest neighbours, K drawn per
node from the lesson's degree range; node labels are drawn uniformly from 0..999 (distinct);
edge labels are unique among a node's out-edges but not across the graph. Inference uses edge
labels 0..9 and relation labels 10.. for fixed sequences of 2..5 edges, 100 per length.

Our choices: a graph is an ``nx.MultiDiGraph`` whose nodes are their labels and whose edge key
is the edge label (so a node's out-edges are keyed by label, and a multigraph also holds the
Underground, where several lines join the same two stations); relation labels are 10..409
(the paper writes 10-410); the relation table is drawn once from a fixed seed, after the named
family-tree relations (:mod:`tasks.graph.maps`) that take the first labels of their length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from tasks.graph.encoding import LABELS

SINGLE_EDGE_LABELS = 10  # inference: labels 0..9 are single edges
RELATIONS_PER_LENGTH = 100
RELATION_LENGTHS = (2, 3, 4, 5)
RELATION_TABLE_SEED = 2016


@dataclass(frozen=True)
class Lesson:
    """One curriculum lesson: inclusive (min, max) ranges of node count, out-degree and the
    path length (traversal, shortest path) or relation length (inference; 1 = a single edge)."""

    nodes: tuple[int, int]
    degree: tuple[int, int]
    length: tuple[int, int]


def parse_lessons(raw: Sequence[Mapping], key: str = "task.lessons") -> tuple[Lesson, ...]:
    """Lessons from a config list of ``{nodes: [a, b], degree: [a, b], length: [a, b]}``.

    Raises ``ValueError`` naming ``key[i].field`` when a range is missing, inverted or below 1
    (or degree 0), so a typo in a lesson table is caught at start-up.
    """
    if not raw:
        raise ValueError(f"{key} is empty; give at least one lesson")
    lessons = []
    for i, entry in enumerate(raw):
        ranges = {}
        for name in ("nodes", "degree", "length"):
            value = entry.get(name) if hasattr(entry, "get") else None
            if value is None or len(value) != 2:
                raise ValueError(f"{key}[{i}].{name} must be a [min, max] pair, got {value!r}")
            lo, hi = int(value[0]), int(value[1])
            if not 1 <= lo <= hi:
                raise ValueError(
                    f"{key}[{i}].{name}=[{lo}, {hi}]: need 1 <= min <= max (is the range inverted?)"
                )
            ranges[name] = (lo, hi)
        if ranges["nodes"][0] < 2:
            raise ValueError(f"{key}[{i}].nodes: a graph needs at least 2 nodes")
        lessons.append(Lesson(**ranges))
    return tuple(lessons)


def random_graph(
    rng: np.random.Generator, n_nodes: int, degree: tuple[int, int], edge_labels: int = LABELS
) -> nx.MultiDiGraph:
    """A random graph of the paper: ``n_nodes`` points in the unit square, each with out-edges
    to its K nearest neighbours (K uniform in ``degree``, at most n_nodes - 1), edge labels
    distinct per node drawn from ``0..edge_labels-1``."""
    points = rng.random((n_nodes, 2))  # (n, 2)
    labels = rng.choice(LABELS, size=n_nodes, replace=False)  # (n,)
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)  # (n, n)
    np.fill_diagonal(dist, np.inf)
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(int(v) for v in labels)
    for i in range(n_nodes):
        k = min(int(rng.integers(degree[0], degree[1] + 1)), n_nodes - 1, edge_labels)
        nearest = np.argsort(dist[i], kind="stable")[:k]
        for j, edge in zip(nearest, rng.choice(edge_labels, size=k, replace=False), strict=True):
            graph.add_edge(int(labels[i]), int(labels[j]), key=int(edge))
    return graph


def out_edges(graph: nx.MultiDiGraph, node: int) -> dict[int, int]:
    """A node's out-edges as {edge label: destination}."""
    return {int(k): int(v) for _, v, k in graph.out_edges(node, keys=True)}


def edge_triples(graph: nx.MultiDiGraph) -> list[tuple[int, int, int]]:
    """Every edge as a (source, edge label, destination) triple, in the graph's order."""
    return [(int(u), int(k), int(v)) for u, v, k in graph.edges(keys=True)]


def follow(graph: nx.MultiDiGraph, start: int, edges: Sequence[int]) -> int | None:
    """The node reached from ``start`` along edge labels ``edges``; None if one is missing."""
    node = start
    for edge in edges:
        node = out_edges(graph, node).get(int(edge))
        if node is None:
            return None
    return node


def relation_table(
    named: Mapping[str, Sequence[int]] = (), seed: int = RELATION_TABLE_SEED
) -> dict[int, tuple[int, ...]]:
    """Relation label -> its fixed edge sequence: labels ``10 + 100 * (L - 2) + i`` for length L.

    ``named`` relations (e.g. the family tree's) take the first labels of their length, in the
    given order; the rest are distinct random sequences over the single-edge labels 0..9.
    """
    rng = np.random.default_rng(seed)
    named = dict(named)
    table: dict[int, tuple[int, ...]] = {}
    for length in RELATION_LENGTHS:
        base = SINGLE_EDGE_LABELS + RELATIONS_PER_LENGTH * (length - 2)
        seqs = [tuple(int(e) for e in s) for s in named.values() if len(s) == length]
        seen = set(seqs)
        while len(seqs) < RELATIONS_PER_LENGTH:
            seq = tuple(int(e) for e in rng.integers(0, SINGLE_EDGE_LABELS, size=length))
            if seq not in seen:
                seen.add(seq)
                seqs.append(seq)
        table.update({base + i: s for i, s in enumerate(seqs)})
    return table


def relation_labels(table: Mapping[int, Sequence[int]], length: int) -> list[int]:
    """The labels whose meaning has ``length`` edges (length 1: the single edges 0..9)."""
    if length == 1:
        return list(range(SINGLE_EDGE_LABELS))
    return [label for label, seq in table.items() if len(seq) == length]
