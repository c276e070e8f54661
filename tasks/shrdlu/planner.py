"""The exact optimal planner for mini-SHRDLU: breadth-first search over boards.

The paper (Graves et al., Nature 2016, Methods "Mini-SHRDLU") gives the agent ``L + 6`` moves,
``L`` the minimum number of moves that satisfies the goal; this module computes ``L`` and a
shortest move sequence exactly.

How (ours): a move is undone by the opposite move (top of ``j`` back onto ``i``), so the board
graph is undirected and the distance from any board to a goal equals the distance from the set of
boards meeting the goal. :func:`distances` runs one breadth-first search from that whole set over
every board holding the same blocks (at most 7200 for 6 blocks; each block set's move graph is
built once, as arrays) and is memoised on ``(blocks, goal)``; :func:`plan` then walks downhill
from the start board, taking the lowest-numbered action that gets one step closer, so plans are
deterministic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from tasks.shrdlu.board import (
    MAX_BLOCKS,
    MOVES,
    Board,
    Goal,
    Relation,
    all_boards,
    apply_action,
    check_board,
    positions,
)

ABSENT = -9


def blocks_of(board: Board) -> tuple[int, ...]:
    return tuple(sorted(b for column in board for b in column))


def canonical_goal(goal: Goal) -> frozenset:
    """The goal as a set of canonically worded constraints (order and wording do not matter)."""
    return frozenset(c.canonical() for c in goal)


class StateSpace(NamedTuple):
    """Every board holding one set of blocks, indexed ``0..S-1``, with its move graph.

    boards: (S,) the boards (:func:`all_boards` order); index: board -> its row.
    successor: (S, 6) int row reached by each move id, ``-1`` where the move is illegal.
    column, height: (S, MAX_BLOCKS + 1) int where each block number sits (``-9`` if absent).
    """

    boards: tuple[Board, ...]
    index: dict[Board, int]
    successor: np.ndarray
    column: np.ndarray
    height: np.ndarray


@lru_cache(maxsize=64)
def state_space(blocks: tuple[int, ...]) -> StateSpace:
    """The memoised :class:`StateSpace` of ``blocks`` (a sorted tuple)."""
    boards = all_boards(blocks)
    index = {b: i for i, b in enumerate(boards)}
    successor = np.full((len(boards), len(MOVES)), -1, dtype=np.int64)
    column = np.full((len(boards), MAX_BLOCKS + 1), ABSENT, dtype=np.int64)
    height = column.copy()
    for i, board in enumerate(boards):
        for block, (c, h) in positions(board).items():
            column[i, block], height[i, block] = c, h
        for action in range(len(MOVES)):
            nxt, legal = apply_action(board, action)
            if legal:
                successor[i, action] = index[nxt]
    return StateSpace(boards, index, successor, column, height)


def goal_mask(space: StateSpace, goal: Goal) -> np.ndarray:
    """(S,) bool: which boards of ``space`` meet every constraint of ``goal`` (vectorised
    :func:`tasks.shrdlu.board.holds`)."""
    met = np.ones(len(space.boards), dtype=bool)
    for top, rel, bottom in (c.canonical() for c in goal):
        if max(top, bottom) > MAX_BLOCKS or min(top, bottom) < 1:
            return np.zeros_like(met)
        ct, cb = space.column[:, top], space.column[:, bottom]
        ht, hb = space.height[:, top], space.height[:, bottom]
        present = (ct != ABSENT) & (cb != ABSENT)
        if rel == Relation.ABOVE:
            met &= present & (ct == cb) & (ht == hb + 1)
        else:  # LEFT_OF
            met &= present & (ht == hb) & (ct + 1 == cb)
    return met


@lru_cache(maxsize=512)
def _distances(blocks: tuple[int, ...], goal: frozenset) -> np.ndarray:
    space = state_space(blocks)
    dist = _bfs_levels(space, np.flatnonzero(goal_mask(space, tuple(goal))))
    dist.flags.writeable = False
    return dist


def distances(blocks: tuple[int, ...], goal: Goal) -> np.ndarray:
    """(S,) fewest moves from each board of ``state_space(blocks)`` to one meeting ``goal``, ``-1``
    where no sequence of moves can (a contradictory goal, or one naming an absent block). Memoised
    and read-only."""
    return _distances(tuple(sorted(blocks)), canonical_goal(goal))


def min_moves(board: Board, goal: Goal) -> int | None:
    """``L``: the fewest moves from ``board`` that meet every constraint of ``goal``; ``None`` if no
    sequence of moves can."""
    check_board(board)
    blocks = blocks_of(board)
    d = int(distances(blocks, goal)[state_space(blocks).index[board]])
    return None if d < 0 else d


def optimal_actions(board: Board, goal: Goal) -> tuple[int, ...]:
    """Every action id that starts a shortest solution from ``board`` (empty if the goal is met or
    unreachable): what an optimal teacher may answer in any state, e.g. after a policy's detour."""
    blocks = blocks_of(board)
    space, dist = state_space(blocks), distances(blocks, goal)
    row = space.index[board]
    if dist[row] <= 0:
        return ()
    nxt = space.successor[row]
    return tuple(int(a) for a in np.flatnonzero((nxt >= 0) & (dist[nxt] == dist[row] - 1)))


def plan(board: Board, goal: Goal) -> tuple[int, ...]:
    """A shortest sequence of move ids from ``board`` to a board meeting ``goal`` (``()`` when it is
    already met): the lowest-numbered optimal action at each step. Raises ``ValueError`` if the
    goal cannot be met from ``board``."""
    if min_moves(board, goal) is None:
        raise ValueError(f"goal {[str(c) for c in goal]} cannot be met from board {board}")
    moves = []
    while best := optimal_actions(board, goal):
        moves.append(best[0])
        board = apply_action(board, best[0])[0]
    return tuple(moves)


def _bfs_levels(space: StateSpace, sources: np.ndarray) -> np.ndarray:
    """(S,) breadth-first distance from the rows ``sources`` along legal moves, ``-1`` if unreached."""
    dist = np.full(len(space.boards), -1, dtype=np.int64)
    frontier, level = np.unique(sources), 0
    while frontier.size:
        dist[frontier] = level
        reached = np.unique(space.successor[frontier].ravel())
        reached = reached[reached >= 0]
        frontier = reached[dist[reached] < 0]
        level += 1
    return dist


@lru_cache(maxsize=MAX_BLOCKS + 1)
def diameter(n_blocks: int) -> int:
    """The most moves any board of ``n_blocks`` blocks needs to reach any other (19 for 6 blocks),
    so no goal ever needs more. Relabelling the blocks maps the move graph onto itself, so one
    board per column-height profile is a source enough."""
    blocks = tuple(range(1, n_blocks + 1))
    space = state_space(blocks)
    sources = {tuple(len(c) for c in b): space.index[b] for b in space.boards}
    return max(int(_bfs_levels(space, np.array([row])).max()) for row in sources.values())
