"""Mini-SHRDLU as a data module with lessons (Graves et al., Nature 2016, Methods "Mini-SHRDLU"
and "Curriculum learning", ED Table 6; DESIGN §8).

Episodes: the goals' constraints one per step (INPUT), the go-cue (QUERY), then the action steps
(ANSWER), the board observed at each (:mod:`tasks.shrdlu.encoding`). Lessons are
:data:`tasks.shrdlu.lessons.LESSONS` (26, ours; ``lessons`` in the config replaces them); a lesson
passes when the cued goals' constraints satisfied average at least 85% over 160 validation
episodes (the paper's), i.e. ``val/constraints_satisfied_error`` <= 0.15, and (the paper's) 10%
of training episodes come from a uniformly drawn earlier lesson.

Training (ours; the paper trains by reinforcement, ``training=rl``): with ``dagger_beta`` a
number (default 0.5) the episode is played in the closed loop, executing the planner's move with
that probability and the network's otherwise, the target always an optimal move from the board
reached (DAgger-like, as the paper's shortest-path task); with null the episodes carry the
planner's moves as targets and the network reads the planner's boards (teacher forcing, one pass,
about twice as fast a step). We chose the loop: at lesson 1 (Adam 1e-3, batch 32, one thread) an
LSTM passed after 200 batches with beta 0.5 and after 800 with teacher forcing, which never
shows the network a board off the planner's path. Validation and test always play closed-loop (beta 0): the
network's move is executed and the next board comes from the environment's rules
(:class:`tasks.shrdlu.closed_loop.ShrdluLoopTask`), and each episode reports the four results of
:data:`tasks.shrdlu.metrics.RESULT_NAMES` (Fig. 5b). ``val`` draws ``val_size`` fresh episodes of
the current lesson every round; ``test`` is ``test_size`` episodes of the current lesson.

What the curriculum callback reads: ``lessons``, ``lesson`` (0-based), :meth:`set_lesson`,
:meth:`next_round`, ``pass_metric``, ``pass_error``, ``val_episodes``, ``test_map_splits`` (none).
What actor-critic training reads: :meth:`make_env` (the gymnasium environment) and ``rollouts``
(when set, the training loader yields lists of :class:`~tasks.shrdlu.episode.ShrdluEpisode` that
``env.reset(options={"episode": ...})`` replays, instead of encoded batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Dataset

from tasks.batch import collate
from tasks.lessons import LessonEpisodes, LessonSchedule, LessonState, check_lesson_settings
from tasks.shrdlu.closed_loop import ShrdluLoopTask
from tasks.shrdlu.encoding import encode_episode, shrdlu_spec
from tasks.shrdlu.env import INVALID_MOVE_COST, MiniSHRDLUEnv
from tasks.shrdlu.episode import generate_episode
from tasks.shrdlu.lessons import LESSON_EPISODES, LESSON_THRESHOLD, LESSONS, Lesson, lessons_from_config

SPLITS = ("train", "val", "test")


def sample_episode(rng: np.random.Generator, index: int, lessons: Sequence[Lesson], encode: str):
    """One episode of lesson ``index``: ``encode`` = ``plan`` (planner targets), ``loop`` (the
    closed loop's ``L + 6`` answer steps) or ``raw`` (the :class:`ShrdluEpisode` itself)."""
    ep = generate_episode(lessons[index], rng, index)
    if encode == "raw":
        return ep
    return encode_episode(ep, closed_loop=encode == "loop")


class ShrdluDataModule(LessonSchedule, pl.LightningDataModule):
    """Mini-SHRDLU lesson by lesson; see the module docstring. ``lesson`` is 1-based."""

    GRANULARITIES = ("step",)

    def __init__(
        self,
        lessons: Sequence[Mapping] | None = None,
        lesson: int = 1,
        earlier_share: float = 0.1,
        pass_metric: str = "val/constraints_satisfied_error",
        pass_error: float = round(1.0 - LESSON_THRESHOLD, 6),
        dagger_beta: float | None = 0.5,
        invalid_move_cost: float = INVALID_MOVE_COST,
        batch_size: int = 32,
        train_size: int = 1_000_000,
        val_size: int = LESSON_EPISODES,
        test_size: int = LESSON_EPISODES,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.lessons = LESSONS if lessons is None else lessons_from_config(lessons)
        check_lesson_settings("mini-SHRDLU", lesson, len(self.lessons), earlier_share, num_workers)
        if invalid_move_cost < 0:
            raise ValueError(f"task.invalid_move_cost={invalid_move_cost}: need >= 0")
        self.state = LessonState(lesson=lesson - 1)
        self.earlier_share, self.pass_metric, self.pass_error = earlier_share, pass_metric, pass_error
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.invalid_move_cost = invalid_move_cost
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.closed_loop = ShrdluLoopTask(dagger_beta, invalid_move_cost)
        self.rollouts = False
        self.test_map_splits: tuple[str, ...] = ()
        self.test_split_names = ("test",)
        self.spec = shrdlu_spec(self.lessons)

    def make_env(self) -> MiniSHRDLUEnv:
        """The gymnasium environment at the current lesson, with this task's invalid-move cost."""
        return MiniSHRDLUEnv(lesson=self.lessons[self.lesson],
                             invalid_move_cost=self.invalid_move_cost)

    def _encoding(self, split: str) -> str:
        if split != "train":
            return "loop"
        if self.rollouts:
            return "raw"
        return "plan" if self.closed_loop.beta is None else "loop"

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise KeyError(f"unknown mini-SHRDLU split {split!r}; have {SPLITS}")
        sample = partial(sample_episode, lessons=self.lessons, encode=self._encoding(split))
        return LessonEpisodes(self.sizes[split], sample, self.state, (self.seed, SPLITS.index(split)),
                              self.earlier_share if split == "train" else 0.0,
                              use_round=split == "val")

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        raw = self._encoding(split) == "raw"
        return DataLoader(self.dataset(split), batch_size=self.batch_size, shuffle=shuffle,
                          collate_fn=list if raw else collate, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test")]

    def record(self) -> dict:
        """What results.json keeps about the data: the lesson table and the lesson reached."""
        return {
            "lessons": [{"blocks": list(ls.blocks), "constraints": list(ls.constraints),
                         "goals": list(ls.goals), "moves": list(ls.moves)} for ls in self.lessons],
            "final_lesson": self.lesson + 1,
            "training": "rollouts" if self.rollouts else self._encoding("train"),
        }
