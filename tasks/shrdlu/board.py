"""Mini-SHRDLU boards, moves and goal constraints (Graves et al., Nature 2016, Methods
"Mini-SHRDLU", Fig. 4).

The paper's rules: a 3 x 3 board holding up to 6 numbered blocks that rest on the bottom or on
each other; an action moves the top block of one column onto another column, or passes (7 actions);
a goal is a set of adjacency constraints between blocks ("block 6 below block 2").

Our representation (not fixed by the paper):

- A :data:`Board` is a tuple of ``COLUMNS`` columns, each a tuple of block numbers from the bottom
  up; it is hashable, so the planner can memoise on it. Blocks are numbered ``1..MAX_BLOCKS``.
- Action ids: ``0..5`` are the moves ``(from, to)`` in :data:`MOVES` order (0->1, 0->2, 1->0,
  1->2, 2->0, 2->1) and :data:`PASS` is 6.
- "Adjacent" means directly next to: ``a above b`` holds when ``a`` sits on ``b`` in the same
  column; ``a left_of b`` when ``a`` is in the column just left of ``b`` at the same height.
  ``below`` and ``right_of`` are the same relations with the blocks swapped.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache
from itertools import permutations, product
from typing import NamedTuple

import numpy as np

COLUMNS = 3
HEIGHT = 3
MAX_BLOCKS = 6  # the paper: up to 6 numbered blocks
MOVES: tuple[tuple[int, int], ...] = tuple(
    (src, dst) for src in range(COLUMNS) for dst in range(COLUMNS) if src != dst
)
PASS = len(MOVES)  # 6
NUM_ACTIONS = len(MOVES) + 1  # 7, as in the paper

Board = tuple[tuple[int, ...], ...]


class Relation(IntEnum):
    ABOVE = 0
    BELOW = 1
    LEFT_OF = 2
    RIGHT_OF = 3


class Constraint(NamedTuple):
    """``block <relation> other``, e.g. ``Constraint(6, Relation.BELOW, 2)``: 6 directly below 2."""

    block: int
    relation: Relation
    other: int

    def canonical(self) -> Constraint:
        """The same fact worded with ``ABOVE`` or ``LEFT_OF`` (``6 below 2`` -> ``2 above 6``)."""
        if self.relation == Relation.BELOW:
            return Constraint(self.other, Relation.ABOVE, self.block)
        if self.relation == Relation.RIGHT_OF:
            return Constraint(self.other, Relation.LEFT_OF, self.block)
        return self

    def __str__(self) -> str:
        return f"{self.block} {self.relation.name.lower()} {self.other}"


Goal = tuple[Constraint, ...]


def check_board(board: Board) -> None:
    """Raise ``ValueError`` unless ``board`` has ``COLUMNS`` columns of at most ``HEIGHT`` distinct
    blocks numbered ``1..MAX_BLOCKS``."""
    blocks = [b for column in board for b in column]
    if len(board) != COLUMNS or any(len(c) > HEIGHT for c in board):
        raise ValueError(f"board {board}: need {COLUMNS} columns of at most {HEIGHT} blocks")
    if len(set(blocks)) != len(blocks) or any(not 1 <= b <= MAX_BLOCKS for b in blocks):
        raise ValueError(f"board {board}: blocks must be distinct numbers in 1..{MAX_BLOCKS}")


def is_legal(board: Board, action: int) -> bool:
    """Whether ``action`` (an id in ``0..NUM_ACTIONS-1``) is legal: pass always is; a move needs a
    block in its source column and room in its target column."""
    if action == PASS:
        return True
    src, dst = MOVES[action]
    return len(board[src]) > 0 and len(board[dst]) < HEIGHT


def apply_action(board: Board, action: int) -> tuple[Board, bool]:
    """The board after ``action`` and whether it was legal. An illegal move (empty source, full
    target) or an id outside ``0..NUM_ACTIONS-1`` leaves the board as it is and returns ``False``."""
    if not 0 <= action < NUM_ACTIONS or not is_legal(board, action):
        return board, False
    if action == PASS:
        return board, True
    src, dst = MOVES[action]
    columns = list(board)
    block = columns[src][-1]
    columns[src] = columns[src][:-1]
    columns[dst] = columns[dst] + (block,)
    return tuple(columns), True


def positions(board: Board) -> dict[int, tuple[int, int]]:
    """``block -> (column, height)``, height 0 at the bottom."""
    return {b: (c, h) for c, column in enumerate(board) for h, b in enumerate(column)}


def holds(constraint: Constraint, where: dict[int, tuple[int, int]]) -> bool:
    """Whether ``constraint`` holds for the block positions ``where`` (see :func:`positions`)."""
    top, rel, bottom = constraint.canonical()
    if top not in where or bottom not in where:
        return False
    (c1, h1), (c2, h2) = where[top], where[bottom]
    if rel == Relation.ABOVE:
        return c1 == c2 and h1 == h2 + 1
    return h1 == h2 and c1 + 1 == c2  # LEFT_OF


def satisfied_count(board: Board, goal: Goal) -> int:
    """How many of the goal's constraints hold on ``board``."""
    where = positions(board)
    return sum(holds(c, where) for c in goal)


def goal_met(board: Board, goal: Goal) -> bool:
    return satisfied_count(board, goal) == len(goal)


def adjacent_pairs(board: Board) -> list[Constraint]:
    """Every adjacency on ``board`` worded canonically (``ABOVE`` / ``LEFT_OF``), each pair once."""
    where = positions(board)
    found = []
    for a, (c, h) in where.items():
        if h > 0:
            found.append(Constraint(a, Relation.ABOVE, board[c][h - 1]))
        if c + 1 < COLUMNS and h < len(board[c + 1]):
            found.append(Constraint(a, Relation.LEFT_OF, board[c + 1][h]))
    return sorted(found)


@lru_cache(maxsize=128)
def all_boards(blocks: tuple[int, ...]) -> tuple[Board, ...]:
    """Every board holding exactly ``blocks`` (a sorted tuple), in a fixed order: the state space
    the planner searches (7200 boards for 6 blocks)."""
    heights = [h for h in product(range(HEIGHT + 1), repeat=COLUMNS) if sum(h) == len(blocks)]
    found = []
    for order in permutations(blocks):
        for h in heights:
            cuts = np.cumsum((0, *h))
            found.append(tuple(order[cuts[c] : cuts[c + 1]] for c in range(COLUMNS)))
    return tuple(sorted(found))


def random_board(blocks: tuple[int, ...], rng: np.random.Generator) -> Board:
    """A board drawn uniformly from every board holding ``blocks``."""
    boards = all_boards(tuple(sorted(blocks)))
    return boards[int(rng.integers(len(boards)))]


def render(board: Board) -> str:
    """The board as text, top row first; ``.`` marks an empty cell."""
    rows = []
    for h in reversed(range(HEIGHT)):
        rows.append(" ".join(str(col[h]) if h < len(col) else "." for col in board))
    return "\n".join(rows)
