"""Episodes drawn lesson by lesson, shared by the task families with a curriculum (graph tasks,
mini-SHRDLU; Graves et al., Nature 2016, Methods "Curriculum learning").

The data module owns one mutable :class:`LessonState`; the curriculum callback moves it on, and
every :class:`LessonEpisodes` item is drawn from the lesson current when it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset


@dataclass
class LessonState:
    """Mutable: the current lesson (0-based) and evaluation round, read when an item is drawn."""

    lesson: int = 0
    round: int = 0


class LessonEpisodes(Dataset):
    """``size`` episodes of the current lesson; item i is seeded by (seed, split, lesson, round,
    i) and made by ``sample(rng, index=lesson)``. With ``earlier_share`` > 0 an item is from a
    uniformly drawn earlier lesson with that probability (the paper's 10% of exemplars from
    earlier lessons)."""

    def __init__(self, size: int, sample: Callable[..., Any], state: LessonState,
                 key: tuple[int, int], earlier_share: float, use_round: bool) -> None:
        self.size, self.sample, self.state, self.key = size, sample, state, key
        self.earlier_share, self.use_round = earlier_share, use_round

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < self.size:
            raise IndexError(i)
        lesson = self.state.lesson
        rnd = self.state.round if self.use_round else 0
        rng = np.random.default_rng([*self.key, lesson, rnd, i])
        if lesson > 0 and rng.random() < self.earlier_share:
            lesson = int(rng.integers(lesson))
        return self.sample(rng, index=lesson)


class LessonSchedule:
    """What the curriculum callback reads and moves, for a data module holding ``lessons`` (a
    sequence), ``state`` (a :class:`LessonState`) and ``sizes["val"]`` (validation episodes)."""

    lessons: Any
    state: LessonState
    sizes: dict[str, int]

    @property
    def lesson(self) -> int:
        """The current lesson, 0-based."""
        return self.state.lesson

    def set_lesson(self, lesson: int) -> None:
        if not 0 <= lesson < len(self.lessons):
            raise ValueError(f"lesson index {lesson} outside 0..{len(self.lessons) - 1}")
        self.state.lesson = lesson

    @property
    def val_episodes(self) -> int:
        """Episodes per validation round (the curriculum counts wrong ones, not rates)."""
        return self.sizes["val"]

    def next_round(self) -> None:
        """The next validation draws new episodes."""
        self.state.round += 1


def check_lesson_settings(task: str, lesson: int, n_lessons: int, earlier_share: float,
                          num_workers: int) -> None:
    """Raise ``ValueError`` naming the ``task.`` key of a bad start lesson, share or worker count."""
    if not 1 <= lesson <= n_lessons:
        raise ValueError(f"task.lesson={lesson}: the {task} curriculum has lessons "
                         f"1..{n_lessons}; pick one of them")
    if not 0.0 <= earlier_share < 1.0:
        raise ValueError(f"task.earlier_share={earlier_share}: need 0 <= share < 1")
    if num_workers:
        raise ValueError("task.num_workers must be 0: the lesson lives in this process and "
                         "loader workers would keep drawing the lesson they started with")
