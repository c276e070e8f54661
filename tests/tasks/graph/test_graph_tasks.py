"""Graph tasks: encoding round trip, generator, every target checked with networkx, test maps,
lessons and bad input."""

from __future__ import annotations

import shutil

import networkx as nx
import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException

from tasks.batch import Role, collate, validate_batch
from tasks.graph.closed_loop import read_episode
from tasks.graph.datamodule import GraphDataModule
from tasks.graph.encoding import (
    ANSWER_FLAG,
    QUERY_FLAG,
    decode_triple,
    encode_triple,
    target_triple,
    triple_target,
)
from tasks.graph.generator import out_edges, parse_lessons, random_graph, relation_table
from tasks.graph.maps import (
    NAMED_RELATIONS,
    MapDataError,
    default_underground_dir,
    family_tree,
    load_underground,
)
from tests.conftest import compose_cfg

TASKS = ("graph_traversal", "graph_shortest_path", "graph_inference")
EPISODES_PER_LESSON = 12


def datamodule(task: str, *overrides: str) -> GraphDataModule:
    from hydra.utils import instantiate

    return instantiate(compose_cfg([f"task={task}", *overrides]).task)


def answers(episode) -> list[tuple[int, int, int]]:
    """The target triples of an episode's answer steps, in order."""
    return [target_triple(episode.target[t]) for t in range(len(episode.role)) if episode.target_mask[t]]


def query_steps(episode) -> list[tuple]:
    return [decode_triple(x) for x, r in zip(episode.inputs, episode.role.tolist(), strict=True)
            if r == Role.QUERY and x[QUERY_FLAG]]


def lesson_episodes(task: str):
    dm = datamodule(task)
    ds = dm.dataset("val")
    for lesson in range(len(dm.lessons)):
        dm.set_lesson(lesson)
        for i in range(EPISODES_PER_LESSON):
            yield dm, lesson, ds[i]


def test_encoding_round_trips_every_label_and_blanks():
    rng = np.random.default_rng(0)
    for _ in range(300):
        triple = tuple(None if rng.random() < 0.3 else int(rng.integers(1000)) for _ in range(3))
        x = encode_triple(triple, query=True)
        assert x.shape == (92,) and x[QUERY_FLAG] == 1 and x[ANSWER_FLAG] == 0
        assert decode_triple(x) == triple
        full = tuple(0 if v is None else v for v in triple)
        assert target_triple(triple_target(full)) == full
    assert triple_target((7, 42, 999)).tolist() == [0, 0, 7, 0, 4, 2, 9, 9, 9]
    with pytest.raises(ValueError, match="outside 0..999"):
        encode_triple((1000, None, None))


def test_random_graph_follows_the_paper_generator():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(3, 41))
        graph = random_graph(rng, n, (2, 6))
        assert graph.number_of_nodes() == n
        assert all(0 <= v < 1000 for v in graph.nodes)
        for v in graph.nodes:
            labels = [k for _, _, k in graph.out_edges(v, keys=True)]
            assert len(labels) == len(set(labels)), "edge labels must be unique per node"
            assert min(2, n - 1) <= len(labels) <= 6
            assert v not in [u for _, u in graph.out_edges(v)]


@pytest.mark.parametrize("task", TASKS)
def test_every_episode_is_a_valid_batch_and_reads_back_as_its_graph(task):
    dm = datamodule(task)
    batch = collate([dm.dataset("train")[i] for i in range(8)])
    validate_batch(batch, dm.spec)
    assert batch.inputs.shape[-1] == 92 and batch.target.shape[-1] == 9
    episode = dm.dataset("val")[0]
    description = [decode_triple(x) for x, r in zip(episode.inputs, episode.role.tolist(), strict=True)
                   if r == Role.INPUT and not (x[QUERY_FLAG] or x[ANSWER_FLAG])]
    assert len(description) == len(set(description)) > 0
    assert episode.role[-1] == Role.INPUT and episode.inputs[-1, 90:].tolist() == [1.0, 1.0]


def decoded_graph(episode) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for x, r in zip(episode.inputs, episode.role.tolist(), strict=True):
        if r == Role.INPUT and not (x[QUERY_FLAG] or x[ANSWER_FLAG]):
            u, e, v = decode_triple(x)
            graph.add_edge(u, v, key=e)
    return graph


def test_traversal_targets_are_the_queried_walk_in_the_graph():
    for dm, lesson, episode in lesson_episodes("graph_traversal"):
        graph, path, query = decoded_graph(episode), answers(episode), query_steps(episode)
        lo, hi = dm.lessons[lesson].length
        assert lo <= len(path) <= hi and len(query) == len(path)
        assert query[0] == (path[0][0], path[0][1], None)
        assert [q[1] for q in query] == [e for _, e, _ in path]
        assert all(graph.has_edge(u, v, key=e) for u, e, v in path)
        assert all(a[2] == b[0] for a, b in zip(path, path[1:], strict=False))
        assert episode.group == lesson


def test_shortest_path_targets_are_minimal_paths():
    for dm, lesson, episode in lesson_episodes("graph_shortest_path"):
        graph, path = decoded_graph(episode), answers(episode)
        (source, blank, destination), = query_steps(episode)
        assert blank is None and path[0][0] == source and path[-1][2] == destination
        assert all(graph.has_edge(u, v, key=e) for u, e, v in path)
        assert all(a[2] == b[0] for a, b in zip(path, path[1:], strict=False))
        assert len(path) == nx.shortest_path_length(graph, source, destination)
        lo, hi = dm.lessons[lesson].length
        assert lo <= len(path) <= hi
        assert read_episode(episode.inputs, episode.role)[1:] == (source, destination)


def walk_with_networkx(graph: nx.MultiDiGraph, start: int, edges) -> int:
    node = start
    for label in edges:
        (node,) = [v for _, v, k in graph.out_edges(node, keys=True) if k == label]
    return node


def test_inference_targets_are_the_relation_destinations():
    table = relation_table(NAMED_RELATIONS)
    for dm, lesson, episode in lesson_episodes("graph_inference"):
        graph = decoded_graph(episode)
        (start, relation, blank), = query_steps(episode)
        (answer,) = answers(episode)
        edges = (relation,) if relation < 10 else table[relation]
        lo, hi = dm.lessons[lesson].length
        assert blank is None and lo <= len(edges) <= hi
        assert all(0 <= k < 10 for _, _, k in graph.edges(keys=True))
        assert answer == (start, relation, walk_with_networkx(graph, start, edges))


def test_relation_table_has_100_distinct_relations_per_length_with_the_named_ones():
    table = relation_table(NAMED_RELATIONS)
    assert sorted(table) == list(range(10, 410))
    assert len(set(table.values())) == 400
    for length in (2, 3, 4, 5):
        assert sum(len(s) == length for s in table.values()) == 100
    assert table[210] == NAMED_RELATIONS["maternal great uncle"]
    assert relation_table(NAMED_RELATIONS) == table  # fixed for every run


def test_training_mixes_about_ten_percent_of_earlier_lessons():
    dm = datamodule("graph_traversal", "task.lesson=5")
    train = dm.dataset("train")
    groups = np.array([train[i].group for i in range(600)])
    assert set(groups) <= {0, 1, 2, 3, 4}
    assert 0.06 < (groups < 4).mean() < 0.14
    assert (dm.dataset("val")[0].group, dm.dataset("test")[0].group) == (4, 4)


def test_validation_draws_fresh_episodes_each_round_and_follows_the_lesson():
    dm = datamodule("graph_traversal")
    val = dm.dataset("val")
    first = val[0].inputs
    assert torch.equal(first, val[0].inputs)
    dm.next_round()
    assert not torch.equal(first, val[0].inputs)
    dm.set_lesson(13)
    assert val[0].group == 13


def test_underground_zone_one_map():
    graph, stations, lines = load_underground()
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (59, 230)
    for v in graph.nodes:
        labels = [k for _, _, k in graph.out_edges(v, keys=True)]
        assert len(labels) == len(set(labels)), stations[v].name
    by_name = {s.name: i for i, s in stations.items()}
    central = next(i for i, n in lines.items() if n == "Central Line")
    oxford, tcr = by_name["Oxford Circus"], by_name["Tottenham Court Road"]
    assert out_edges(graph, oxford)[10 * central + 2] == tcr  # Central line, heading east
    assert out_edges(graph, tcr)[10 * central + 6] == oxford  # and west


def test_underground_and_family_tree_test_splits():
    dm = datamodule("graph_shortest_path", "task.test_size=40")
    graph, _, _ = load_underground()
    episodes = dm.test_map("test_underground")
    assert len(episodes) == 40
    for episode in episodes:
        (s, _, d), = query_steps(episode)
        assert nx.shortest_path_length(graph, s, d) == len(answers(episode)) == 4
    walks = datamodule("graph_traversal", "task.test_size=10").test_map("test_underground")
    assert [len(answers(e)) for e in walks] == [7] * 10
    tree, names = family_tree()
    assert tree.number_of_nodes() == len(names) == 22
    family = datamodule("graph_inference").test_map("test_family_tree")
    assert len(family) == 12  # each 4-step named relation is defined from two people
    table = relation_table(NAMED_RELATIONS)
    for episode in family:
        (start, relation, dest), = answers(episode)
        assert len(table[relation]) == 4
        assert dest == walk_with_networkx(tree, start, table[relation])


def test_family_tree_great_uncle_is_the_grandmothers_brother():
    tree, names = family_tree()
    for person in tree.nodes:
        try:
            uncle = walk_with_networkx(tree, person, NAMED_RELATIONS["maternal great uncle"])
        except ValueError:
            continue
        grandmother = walk_with_networkx(tree, person, NAMED_RELATIONS["maternal grandmother"])
        assert out_edges(tree, grandmother)[6] == uncle  # her brother
        assert "son" in names[uncle]


def test_bad_lesson_tables_and_lessons_name_the_key():
    with pytest.raises(ValueError, match=r"task.lessons\[1\].nodes=\[9, 3\].*inverted"):
        parse_lessons([{"nodes": [3, 9], "degree": [2, 4], "length": [1, 1]},
                       {"nodes": [9, 3], "degree": [2, 4], "length": [1, 1]}])
    with pytest.raises(ValueError, match=r"task.lessons\[0\].length"):
        parse_lessons([{"nodes": [3, 9], "degree": [2, 4]}])
    with pytest.raises(InstantiationException, match=r"task.lesson=15.*lessons 1..14"):
        datamodule("graph_traversal", "task.lesson=15")


def test_missing_or_malformed_underground_files_name_the_file(tmp_path):
    with pytest.raises(MapDataError, match="london.stations.csv: missing"):
        load_underground(tmp_path)
    for name in ("london.stations.csv", "london.lines.csv", "london.connections.csv"):
        shutil.copy(default_underground_dir() / name, tmp_path / name)
    path = tmp_path / "london.connections.csv"
    path.write_text(path.read_text() + "11,999,1,2\r\n")
    with pytest.raises(MapDataError, match=r"london.connections.csv: row 408 names station 999"):
        load_underground(tmp_path)
    path.write_text(path.read_text().replace("11,999,1,2", "11,x,1,2"))
    with pytest.raises(MapDataError, match=r"london.connections.csv: row 408, column 'station2'"):
        load_underground(tmp_path)
    path.write_text('"a","b"\r\n1,2\r\n')
    with pytest.raises(MapDataError, match=r"london.connections.csv: no column"):
        load_underground(tmp_path)
    with pytest.raises(InstantiationException, match="london.connections.csv: no column"):
        datamodule("graph_traversal", f"task.underground_dir={tmp_path}")  # at start-up
