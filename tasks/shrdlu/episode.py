"""Mini-SHRDLU episodes for a lesson (Graves et al., Nature 2016, Methods "Mini-SHRDLU", Fig. 4).

The paper's episode: several goals, each a letter and a set of adjacency constraints, are shown one
constraint per step; a go-cue then names one goal, and the agent must move blocks to meet it in at
most ``L + 6`` moves.

How we draw one (our choices, not given in the paper):

1. The number of blocks, of goals and, per goal, of constraints are uniform over the lesson's
   ranges; the block numbers are a uniform subset of ``1..6`` and the goal letters a uniform subset
   of ``A..J``, so every number and letter is seen in every lesson.
2. A goal is made satisfiable by construction: draw a goal board uniformly among those with enough
   adjacent pairs, take that many of its pairs at random, and word each one either way round
   (``2 above 6`` or ``6 below 2``).
3. The cued goal is uniform among the goals; the start board is uniform among the boards whose
   ``L`` for the cued goal lies in the lesson's ``moves`` range (the planner gives every board's
   ``L`` at once). If no board does, the goals are drawn again.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import numpy as np

from tasks.shrdlu.board import (
    MAX_BLOCKS,
    Board,
    Constraint,
    Goal,
    Relation,
    adjacent_pairs,
    apply_action,
    check_board,
    goal_met,
    random_board,
)
from tasks.shrdlu.lessons import MAX_GOALS, Lesson
from tasks.shrdlu.planner import distances, min_moves, plan, state_space

GOAL_LETTERS = string.ascii_uppercase[:MAX_GOALS]  # "ABCDEFGHIJ"
SLACK = 6  # the paper: the agent has L + 6 moves
MAX_TRIES = 1000


class ShrdluEpisode(NamedTuple):
    """One episode: start ``board``; ``goals`` in presentation order, goal ``k`` labelled
    ``GOAL_LETTERS[letters[k]]``; ``cue`` indexes the goal the go-cue names; ``min_moves`` is ``L``
    for it and ``moves`` the planner's shortest solution; ``group`` the lesson id."""

    board: Board
    goals: tuple[Goal, ...]
    letters: tuple[int, ...]
    cue: int
    min_moves: int
    moves: tuple[int, ...]
    group: int = 0

    @property
    def cued_goal(self) -> Goal:
        return self.goals[self.cue]

    @property
    def budget(self) -> int:
        """Moves allowed: ``L + 6`` (the paper's)."""
        return self.min_moves + SLACK

    def instructions(self) -> list[tuple[int, Constraint]]:
        """``(letter id, constraint)`` for each instruction step, in presentation order."""
        return [(self.letters[k], c) for k, goal in enumerate(self.goals) for c in goal]


def _uniform(value_range: tuple[int, int], rng: np.random.Generator) -> int:
    return int(rng.integers(value_range[0], value_range[1] + 1))


def random_goal(blocks: tuple[int, ...], n_constraints: int, rng: np.random.Generator) -> Goal:
    """``n_constraints`` adjacencies of one random board of ``blocks``, each worded either way."""
    for _ in range(MAX_TRIES):
        pairs = adjacent_pairs(random_board(blocks, rng))
        if len(pairs) >= n_constraints:
            break
    else:
        raise ValueError(f"no board of {len(blocks)} blocks has {n_constraints} adjacent pairs")
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=n_constraints, replace=False)]
    flip = {Relation.ABOVE: Relation.BELOW, Relation.LEFT_OF: Relation.RIGHT_OF}
    return tuple(
        Constraint(c.other, flip[c.relation], c.block) if rng.random() < 0.5 else c for c in chosen
    )


def generate_episode(lesson: Lesson, rng: np.random.Generator, group: int = 0) -> ShrdluEpisode:
    """One episode of ``lesson`` (see the module docstring); ``group`` is stored as its lesson id.
    Raises ``ValueError`` naming the lesson if its ``moves`` range is never reached."""
    for _ in range(MAX_TRIES):
        n_blocks = _uniform(lesson.blocks, rng)
        blocks = tuple(sorted(int(b) for b in rng.choice(np.arange(1, MAX_BLOCKS + 1), n_blocks, False)))
        n_goals = _uniform(lesson.goals, rng)
        goals = tuple(random_goal(blocks, _uniform(lesson.constraints, rng), rng) for _ in range(n_goals))
        cue = int(rng.integers(n_goals))
        dist = distances(blocks, goals[cue])
        fits = np.flatnonzero((dist >= lesson.moves[0]) & (dist <= lesson.moves[1]))
        if fits.size:
            board = state_space(blocks).boards[int(rng.choice(fits))]
            letters = tuple(int(x) for x in rng.choice(MAX_GOALS, size=n_goals, replace=False))
            moves = plan(board, goals[cue])
            return ShrdluEpisode(board, goals, letters, cue, len(moves), moves, group)
    raise ValueError(
        f"lesson {lesson.name}: no episode with 'moves' in {lesson.moves} after {MAX_TRIES} draws; "
        f"the range is out of reach for its blocks and constraints"
    )


def check_episode(ep: ShrdluEpisode) -> None:
    """Raise ``ValueError`` naming the field unless ``ep`` is playable: a valid board, one distinct
    letter per goal, a cue naming a goal, ``L >= 1`` equal to the planner's, and ``moves`` a
    shortest solution (what an episode handed to the environment or the encoder must satisfy)."""
    try:
        check_board(ep.board)
    except ValueError as err:
        raise ValueError(f"episode.board: {err}") from err
    if not ep.goals or any(len(goal) == 0 for goal in ep.goals):
        raise ValueError("episode.goals: need at least one goal, each with at least one constraint")
    if len(ep.letters) != len(ep.goals) or len(set(ep.letters)) != len(ep.letters):
        raise ValueError(f"episode.letters {ep.letters}: need one distinct letter per goal")
    if any(not 0 <= x < MAX_GOALS for x in ep.letters):
        raise ValueError(f"episode.letters {ep.letters}: letter ids are 0..{MAX_GOALS - 1}")
    if not 0 <= ep.cue < len(ep.goals):
        raise ValueError(f"episode.cue={ep.cue}: need 0..{len(ep.goals) - 1}")
    blocks = {b for column in ep.board for b in column}
    if any({c.block, c.other} - blocks or c.block == c.other for goal in ep.goals for c in goal):
        raise ValueError("episode.goals: every constraint must relate two different blocks on the board")
    if min_moves(ep.board, ep.cued_goal) != ep.min_moves or ep.min_moves < 1:
        raise ValueError(
            f"episode.min_moves={ep.min_moves}: the planner needs {min_moves(ep.board, ep.cued_goal)}"
            " moves, and an episode needs at least 1"
        )
    board = ep.board
    for move in ep.moves:
        board, legal = apply_action(board, move)
        if not legal:
            raise ValueError(f"episode.moves {ep.moves}: move {move} is illegal on {board}")
    if len(ep.moves) != ep.min_moves or not goal_met(board, ep.cued_goal):
        raise ValueError(f"episode.moves {ep.moves}: not a shortest solution of the cued goal")
