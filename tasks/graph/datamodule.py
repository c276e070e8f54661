"""The graph tasks as one data module with lessons (Graves et al., Nature 2016, Methods "Graph
tasks", ED Tables 3-5).

``kind`` picks the task: ``traversal``, ``shortest_path`` or ``inference``. Training episodes
come from the current lesson, and (the paper's 10%) ``earlier_share`` of them from a uniformly
chosen earlier lesson; ``val`` is ``val_size`` fresh episodes of the current lesson, new ones
at every evaluation round (the curriculum callback advances the round); ``test`` is episodes of
the current lesson and the test map split is ``test_underground`` (traversal: random 7-step
traversals; shortest path: the 4-step shortest paths, at most ``test_size`` of the 586, drawn
with a fixed seed) or ``test_family_tree`` (inference: every 4-step named relation defined from
a person of the tree). ``group`` is the lesson (``lesson01``...), ``test_map`` on the test maps.

What the curriculum callback (``memnets.training.curriculum``) reads: ``lessons``, ``lesson``
(0-based) and :meth:`set_lesson`, :meth:`next_round`, ``pass_metric`` and ``pass_error`` (the
lesson passes when that validation metric is at most ``pass_error``), ``val_episodes``,
``test_map_splits``.
Shortest path also offers ``closed_loop`` (:class:`tasks.graph.closed_loop.ShortestPathTask`).
The Underground files are read when the module is built, so a bad file stops a run at start-up.
Loader workers are refused: the lesson is state of this process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Dataset

from tasks.batch import Episode, collate
from tasks.graph.closed_loop import ShortestPathTask
from tasks.graph.encoding import INPUT_WIDTH, TARGET_WIDTH
from tasks.graph.episodes import (
    inference_episode,
    inference_query,
    shortest_path_episode,
    shortest_path_query,
    traversal_episode,
)
from tasks.graph.generator import RELATION_LENGTHS, Lesson, parse_lessons, relation_table
from tasks.graph.maps import NAMED_RELATIONS, family_tree, load_underground, underground_paths
from tasks.lessons import LessonEpisodes, LessonSchedule, LessonState, check_lesson_settings
from tasks.spec import TaskSpec

KINDS = ("traversal", "shortest_path", "inference")
UNDERGROUND_TRAVERSAL_STEPS = 7  # the paper's random 7-step traversals
UNDERGROUND_PATH_LENGTH = 4  # the paper's 4-step shortest paths
FAMILY_RELATION_LENGTH = 4  # the paper's 4-step family-tree inferences


def sample_lesson_episode(rng: np.random.Generator, kind: str, lessons: Sequence[Lesson], index: int,
                          table: Mapping[int, Sequence[int]]) -> Episode:
    """One episode of lesson ``index`` (its group)."""
    lesson = lessons[index]
    if kind == "traversal":
        return traversal_episode(rng, lesson, index)
    if kind == "shortest_path":
        return shortest_path_episode(rng, lesson, index)
    return inference_episode(rng, lesson, index, table)


class FixedEpisodes(Dataset):
    """A test map's episodes, built once (the same for every evaluation of a run)."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.episodes = episodes

    def __len__(self) -> int:
        return len(self.episodes)

    def __getitem__(self, i: int) -> Episode:
        return self.episodes[i]


class GraphDataModule(LessonSchedule, pl.LightningDataModule):
    """Traversal, shortest path or inference on random graphs, lesson by lesson, with a test map.

    ``lesson`` is 1-based (``task.lesson=5`` starts at lesson 5); ``lessons`` is the table of
    the task config; ``pass_error`` the largest error of ``pass_metric`` that passes a lesson.
    """

    GRANULARITIES = ("step",)

    def __init__(
        self,
        kind: str,
        lessons: Sequence[Mapping],
        lesson: int = 1,
        earlier_share: float = 0.1,
        pass_metric: str = "val/error",
        pass_error: float = 0.1,
        dagger_beta: float = 0.8,
        batch_size: int = 2,
        train_size: int = 1_000_000,
        val_size: int = 50,
        test_size: int = 100,
        seed: int = 0,
        num_workers: int = 0,
        underground_dir: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"task.kind={kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.lessons = parse_lessons(lessons)
        check_lesson_settings(kind, lesson, len(self.lessons), earlier_share, num_workers)
        if kind == "inference" and any(ls.length[1] > max(RELATION_LENGTHS) for ls in self.lessons):
            raise ValueError(f"task.lessons: inference relations have at most "
                             f"{max(RELATION_LENGTHS)} edges; lower the length ranges")
        self.state = LessonState(lesson=lesson - 1)
        self.earlier_share, self.pass_metric, self.pass_error = earlier_share, pass_metric, pass_error
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        # read now, so a missing or malformed file fails at start-up, before any training
        self.underground = None if kind == "inference" else load_underground(underground_dir)[0]
        self.table = relation_table(NAMED_RELATIONS)
        self.sample = partial(sample_lesson_episode, kind=kind, lessons=self.lessons, table=self.table)
        self.closed_loop = ShortestPathTask(beta=dagger_beta) if kind == "shortest_path" else None
        test_map = "test_family_tree" if kind == "inference" else "test_underground"
        self.test_map_splits = (test_map,)
        self.test_split_names = ("test", test_map)
        self.spec = TaskSpec(
            input_kind="features", input_width=INPUT_WIDTH, target_kind="tokens",
            target_width=TARGET_WIDTH, vocab_size=0, num_classes=10, granularity="step",
            group_names=(*(f"lesson{i + 1:02d}" for i in range(len(self.lessons))), "test_map"),
        )
        self._test_maps: dict[str, FixedEpisodes] = {}

    def test_map(self, name: str) -> FixedEpisodes:
        """The episodes of a test-map split (built once)."""
        if name not in self._test_maps:
            self._test_maps[name] = FixedEpisodes(self._build_test_map())
        return self._test_maps[name]

    def _build_test_map(self) -> list[Episode]:
        rng = np.random.default_rng([self.seed, 99])
        group = len(self.lessons)
        n = self.sizes["test"]
        if self.kind == "inference":
            graph, _ = family_tree()
            episodes = []
            for relation, edges in self.table.items():
                if len(edges) != FAMILY_RELATION_LENGTH or edges not in NAMED_RELATIONS.values():
                    continue
                for start in sorted(graph.nodes):
                    try:
                        episodes.append(inference_query(graph, start, relation, edges, group, rng))
                    except ValueError:
                        continue  # the relation is undefined from this person
            return episodes
        graph = self.underground
        if self.kind == "traversal":
            walk = Lesson(nodes=(2, 2), degree=(1, 1), length=(UNDERGROUND_TRAVERSAL_STEPS,) * 2)
            return [traversal_episode(rng, walk, group, graph=graph) for _ in range(n)]
        pairs = underground_paths(graph, UNDERGROUND_PATH_LENGTH)
        chosen = sorted(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False))
        return [shortest_path_query(graph, *pairs[i], group, rng) for i in chosen]

    def dataset(self, split: str) -> Dataset:
        if split in self.test_map_splits:
            return self.test_map(split)
        if split not in self.sizes:
            raise KeyError(f"unknown graph split {split!r}; have {('train', 'val', *self.test_split_names)}")
        split_id = ("train", "val", "test").index(split)
        return LessonEpisodes(self.sizes[split], self.sample, self.state, (self.seed, split_id),
                              self.earlier_share if split == "train" else 0.0,
                              use_round=split == "val")

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                          collate_fn=collate, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(name) for name in self.test_split_names]

    def test_map_dataloader(self, name: str) -> DataLoader:
        return self._loader(name)

    def record(self) -> dict:
        """What results.json keeps about the data: the lesson table and the test-map sizes."""
        return {
            "kind": self.kind,
            "lessons": [{"nodes": list(ls.nodes), "degree": list(ls.degree), "length": list(ls.length)}
                        for ls in self.lessons],
            "final_lesson": self.lesson + 1,
            "test_map_episodes": {k: len(v) for k, v in self._test_maps.items()},
        }
