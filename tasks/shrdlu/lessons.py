"""The mini-SHRDLU lesson table: data, validated.

The paper (Graves et al., Nature 2016, Methods "Mini-SHRDLU", ED Table 6) trains on a curriculum of
26 lessons that grow the number of blocks, constraints per goal, goals per episode and the minimum
number of moves ``L``; a lesson is passed at 85% of constraints satisfied, averaged over 160
episodes (§2.3, §3.2 of ``reference/published-results.md``). Those are the paper's.

:data:`LESSONS` is ours: 26 lessons with the same four knobs, each an inclusive ``(low, high)``
range, growing from 2 blocks, 1 constraint, 1 goal and 1 move to 6 blocks, up to 6 constraints, up
to 10 goals and up to 18 moves. We have not transcribed ED Table 6's values; the ranges were chosen
so that every lesson's ``L`` range is common for its blocks and constraints (measured, see
``tests/tasks/shrdlu/test_lessons.py``).

:func:`lessons_from_config` turns config rows (mappings with the keys ``blocks``,
``constraints``, ``goals``, ``moves``) into lessons; an impossible lesson raises ``ValueError``
naming the lesson and the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache

from tasks.shrdlu.board import COLUMNS, HEIGHT, MAX_BLOCKS, adjacent_pairs, all_boards
from tasks.shrdlu.planner import diameter

MAX_GOALS = 10  # the paper: up to 10 goals, each labelled with a letter
MAX_CONSTRAINTS = 6  # the paper: up to 6 constraints per goal
LESSON_THRESHOLD = 0.85  # the paper: fraction of constraints satisfied to pass a lesson
LESSON_EPISODES = 160  # the paper: episodes that fraction is averaged over


@lru_cache(maxsize=MAX_BLOCKS + 1)
def max_adjacent_pairs(n_blocks: int) -> int:
    """The most adjacencies any board of ``n_blocks`` blocks has (1, 2, 4, 5, 7 for 2..6 blocks):
    a goal cannot hold more constraints than that, since each names a distinct adjacent pair of
    one goal board."""
    return max(len(adjacent_pairs(b)) for b in all_boards(tuple(range(1, n_blocks + 1))))


Range = tuple[int, int]


@dataclass(frozen=True)
class Lesson:
    """One lesson: inclusive ``(low, high)`` ranges, each drawn uniformly per episode (per goal for
    ``constraints``). ``moves`` bounds ``L``, the planner's minimum for the cued goal."""

    blocks: Range
    constraints: Range
    goals: Range
    moves: Range

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                not isinstance(value, tuple)
                or len(value) != 2
                or not all(isinstance(v, int) for v in value)
            ):
                raise ValueError(f"key {f.name!r}: expected a (low, high) pair of ints, got {value!r}")
            if value[0] > value[1]:
                raise ValueError(f"key {f.name!r}: inverted range {value}, need low <= high")
        self._check_bounds()

    def _check_bounds(self) -> None:
        (b_lo, b_hi), (c_lo, c_hi) = self.blocks, self.constraints
        cells = COLUMNS * HEIGHT
        if b_lo < 2 or b_hi > MAX_BLOCKS:
            raise ValueError(
                f"key 'blocks': {self.blocks} outside [2, {MAX_BLOCKS}] (the paper's at most "
                f"{MAX_BLOCKS} blocks on {cells} cells; a constraint needs 2)"
            )
        if c_lo < 1 or c_hi > MAX_CONSTRAINTS:
            raise ValueError(f"key 'constraints': {self.constraints} outside [1, {MAX_CONSTRAINTS}]")
        if c_hi > max_adjacent_pairs(b_lo):
            raise ValueError(
                f"key 'constraints': up to {c_hi} constraints per goal, but {b_lo} blocks form at "
                f"most {max_adjacent_pairs(b_lo)} adjacent pairs"
            )
        if self.goals[0] < 1 or self.goals[1] > MAX_GOALS:
            raise ValueError(f"key 'goals': {self.goals} outside [1, {MAX_GOALS}]")
        if self.moves[0] < 1 or self.moves[0] > diameter(b_hi):
            raise ValueError(
                f"key 'moves': {self.moves} needs 1 <= low <= {diameter(b_hi)}, the most moves any "
                f"goal needs with {b_hi} blocks"
            )

    @property
    def name(self) -> str:
        return (
            f"b{self.blocks[0]}-{self.blocks[1]}_c{self.constraints[0]}-{self.constraints[1]}"
            f"_g{self.goals[0]}-{self.goals[1]}_m{self.moves[0]}-{self.moves[1]}"
        )


def lessons_from_config(rows: Sequence[Mapping[str, Sequence[int]]]) -> tuple[Lesson, ...]:
    """Lessons from config rows (``{"blocks": [lo, hi], "constraints": ..., "goals": ...,
    "moves": ...}``). Raises ``ValueError`` naming the lesson (1-based) and the key at fault."""
    if not rows:
        raise ValueError("the lesson table is empty")
    keys = {f.name for f in fields(Lesson)}
    lessons = []
    for i, row in enumerate(rows, start=1):
        if set(row) != keys:
            raise ValueError(f"lesson {i}: keys {sorted(row)}; expected {sorted(keys)}")
        try:
            lessons.append(Lesson(**{k: tuple(int(v) for v in row[k]) for k in sorted(keys)}))
        except (ValueError, TypeError) as err:
            raise ValueError(f"lesson {i}: {err}") from err
    return tuple(lessons)


# Ours (see the module docstring): blocks, constraints per goal, goals per episode, minimum moves.
LESSON_ROWS: tuple[tuple[Range, Range, Range, Range], ...] = (
    ((2, 2), (1, 1), (1, 1), (1, 1)),
    ((2, 3), (1, 1), (1, 2), (1, 2)),
    ((3, 3), (1, 2), (1, 2), (1, 2)),
    ((3, 3), (1, 2), (1, 3), (1, 3)),
    ((3, 4), (1, 2), (1, 3), (2, 4)),
    ((4, 4), (1, 3), (1, 3), (2, 4)),
    ((4, 4), (1, 3), (1, 4), (2, 5)),
    ((4, 4), (2, 4), (1, 4), (3, 6)),
    ((4, 5), (2, 4), (2, 4), (3, 6)),
    ((4, 5), (2, 4), (2, 5), (3, 7)),
    ((5, 5), (2, 4), (2, 5), (3, 7)),
    ((5, 5), (2, 5), (2, 5), (4, 8)),
    ((5, 5), (2, 5), (2, 6), (4, 9)),
    ((5, 6), (2, 5), (2, 6), (4, 9)),
    ((5, 6), (3, 5), (3, 6), (5, 10)),
    ((6, 6), (3, 5), (3, 6), (5, 10)),
    ((6, 6), (3, 6), (3, 7), (5, 11)),
    ((6, 6), (3, 6), (4, 7), (6, 12)),
    ((6, 6), (3, 6), (4, 8), (6, 12)),
    ((6, 6), (4, 6), (4, 8), (7, 13)),
    ((6, 6), (4, 6), (5, 8), (7, 14)),
    ((6, 6), (4, 6), (5, 9), (8, 14)),
    ((6, 6), (4, 6), (6, 9), (8, 15)),
    ((6, 6), (4, 6), (6, 10), (9, 16)),
    ((6, 6), (5, 6), (7, 10), (9, 17)),
    ((6, 6), (5, 6), (8, 10), (10, 18)),
)
LESSONS: tuple[Lesson, ...] = lessons_from_config(
    [dict(zip(("blocks", "constraints", "goals", "moves"), row, strict=True)) for row in LESSON_ROWS]
)
