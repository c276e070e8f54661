"""The planner is exact: its L equals an exhaustive search over every move sequence."""

from itertools import product

import numpy as np
import pytest

from tasks.shrdlu.board import (
    MOVES,
    Constraint,
    Relation,
    adjacent_pairs,
    all_boards,
    apply_action,
    goal_met,
)
from tasks.shrdlu.planner import diameter, min_moves, optimal_actions, plan

A, L = Relation.ABOVE, Relation.LEFT_OF


def exhaustive_min_moves(board, goal, limit):
    """The shortest length of any move sequence meeting ``goal``, trying every sequence in turn."""
    for length in range(limit + 1):
        for seq in product(range(len(MOVES)), repeat=length):
            b = board
            for a in seq:
                b = apply_action(b, a)[0]
            if goal_met(b, goal):
                return length
    return None


def small_cases(n_blocks, n_cases, seed):
    rng = np.random.default_rng(seed)
    boards = all_boards(tuple(range(1, n_blocks + 1)))
    for _ in range(n_cases):
        start = boards[int(rng.integers(len(boards)))]
        pairs = adjacent_pairs(boards[int(rng.integers(len(boards)))])
        k = int(rng.integers(1, len(pairs) + 1)) if pairs else 0
        yield start, tuple(pairs[i] for i in rng.choice(len(pairs), k, replace=False))


@pytest.mark.parametrize(("n_blocks", "n_cases", "limit"), [(2, 12, 4), (3, 40, 5), (4, 15, 5)])
def test_min_moves_equals_exhaustive_search(n_blocks, n_cases, limit):
    for start, goal in small_cases(n_blocks, n_cases, seed=n_blocks):
        expected = exhaustive_min_moves(start, goal, limit)
        got = min_moves(start, goal)
        if expected is None:  # beyond the search limit: the planner must agree it is longer
            assert got > limit
        else:
            assert got == expected, (start, goal)


def test_plan_is_a_shortest_solution_and_deterministic():
    for start, goal in small_cases(5, 30, seed=7):
        moves = plan(start, goal)
        assert len(moves) == min_moves(start, goal)
        board = start
        for a in moves:
            board, legal = apply_action(board, a)
            assert legal
        assert goal_met(board, goal)
        assert plan(start, goal) == moves


def test_hand_case():
    # 1 must end on 2: uncover 2 (one move) then move 1 onto it (one move)
    board, goal = ((2, 3), (1,), ()), (Constraint(1, A, 2),)
    assert min_moves(board, goal) == 2
    assert set(optimal_actions(board, goal)) == {MOVES.index((0, 2))}
    assert min_moves(((2,), (1,), ()), goal) == 1
    assert plan(((2,), (1,), ()), goal) == (MOVES.index((1, 0)),)


def test_a_met_goal_needs_no_moves_and_an_impossible_one_is_reported():
    board = ((1, 2), (), ())
    assert min_moves(board, (Constraint(2, A, 1),)) == 0 and plan(board, (Constraint(2, A, 1),)) == ()
    contradictory = (Constraint(2, A, 1), Constraint(1, A, 2))
    assert min_moves(board, contradictory) is None
    assert min_moves(board, (Constraint(5, A, 1),)) is None  # block 5 is not on the board
    with pytest.raises(ValueError, match="cannot be met"):
        plan(board, contradictory)


def test_optimal_actions_all_shorten_the_distance():
    for start, goal in small_cases(4, 20, seed=3):
        d = min_moves(start, goal)
        for a in optimal_actions(start, goal):
            assert min_moves(apply_action(start, a)[0], goal) == d - 1
        others = set(range(len(MOVES))) - set(optimal_actions(start, goal))
        for a in others:
            assert min_moves(apply_action(start, a)[0], goal) >= d


def test_diameter_bounds_every_min_moves():
    assert [diameter(n) for n in range(1, 7)] == [1, 4, 7, 8, 13, 19]
    boards = all_boards((1, 2, 3))
    goals = [(c,) for b in boards for c in adjacent_pairs(b)]
    assert max(min_moves(b, g) for b in boards for g in goals) <= diameter(3)


def test_left_of_is_planned_too():
    board = ((1, 2), (3,), ())
    right_of = (Constraint(2, Relation.RIGHT_OF, 3),)
    assert min_moves(board, (Constraint(3, L, 2),)) == min_moves(board, right_of) == 1


def forward_bfs_min_moves(board, goal):
    """An independent breadth-first search forward from ``board``, with plain dicts."""
    seen, frontier, depth = {board}, [board], 0
    while frontier:
        if any(goal_met(b, goal) for b in frontier):
            return depth
        nxt = []
        for b in frontier:
            for a in range(len(MOVES)):
                c, legal = apply_action(b, a)
                if legal and c not in seen:
                    seen.add(c)
                    nxt.append(c)
        frontier, depth = nxt, depth + 1
    return None


def test_every_board_and_every_goal_of_up_to_two_constraints_with_three_blocks():
    boards = all_boards((1, 2, 4))
    singles = sorted({c for b in boards for c in adjacent_pairs(b)})
    goals = [(c,) for c in singles] + [(a, b) for i, a in enumerate(singles) for b in singles[i + 1 :]]
    assert len(singles) == 12
    for goal in goals:
        for board in boards:
            assert min_moves(board, goal) == forward_bfs_min_moves(board, goal), (board, goal)
