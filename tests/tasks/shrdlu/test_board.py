"""Rules of the board: legal and illegal moves, pass, and the constraint checker on hand cases."""

import numpy as np
import pytest

from tasks.shrdlu.board import (
    MOVES,
    NUM_ACTIONS,
    PASS,
    Constraint,
    Relation,
    adjacent_pairs,
    all_boards,
    apply_action,
    check_board,
    goal_met,
    random_board,
    render,
    satisfied_count,
)

A, B, L, R = Relation.ABOVE, Relation.BELOW, Relation.LEFT_OF, Relation.RIGHT_OF
BOARD = ((1, 2, 3), (4,), ())  # column 0 full, column 2 empty


def test_seven_actions_six_moves_then_pass():
    assert NUM_ACTIONS == 7 and PASS == 6
    assert MOVES == ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))


def test_a_legal_move_takes_the_top_block_onto_the_other_column():
    assert apply_action(BOARD, MOVES.index((0, 2))) == (((1, 2), (4,), (3,)), True)
    assert apply_action(BOARD, MOVES.index((1, 2))) == (((1, 2, 3), (), (4,)), True)
    assert apply_action(BOARD, MOVES.index((0, 1))) == (((1, 2), (4, 3), ()), True)


@pytest.mark.parametrize("action", [MOVES.index((2, 0)), MOVES.index((2, 1)), MOVES.index((1, 0))])
def test_illegal_moves_leave_the_board_and_say_so(action):
    # from the empty column 2, or onto the full column 0
    assert apply_action(BOARD, action) == (BOARD, False)


@pytest.mark.parametrize("action", [-1, 7, 100])
def test_ids_outside_the_action_space_are_illegal_not_a_crash(action):
    assert apply_action(BOARD, action) == (BOARD, False)


def test_pass_is_legal_and_changes_nothing():
    assert apply_action(BOARD, PASS) == (BOARD, True)


def test_constraints_hold_only_for_direct_adjacency():
    board = ((1, 2, 3), (4, 5), (6,))
    assert goal_met(board, (Constraint(2, A, 1), Constraint(1, B, 2), Constraint(1, L, 4)))
    assert goal_met(board, (Constraint(5, R, 2), Constraint(4, L, 6), Constraint(6, R, 4)))
    assert not goal_met(board, (Constraint(3, A, 1),))  # above, but not directly
    assert not goal_met(board, (Constraint(1, L, 6),))  # same row, not adjacent columns
    assert not goal_met(board, (Constraint(2, L, 4),))  # adjacent columns, other heights
    assert not goal_met(board, (Constraint(4, L, 1),))  # wrong way round
    assert satisfied_count(board, (Constraint(2, A, 1), Constraint(3, A, 1), Constraint(5, A, 4))) == 2


def test_a_constraint_on_an_absent_block_never_holds():
    assert satisfied_count(((1,), (), ()), (Constraint(1, A, 5),)) == 0


def test_canonical_wording_swaps_below_and_right_of():
    assert Constraint(6, B, 2).canonical() == Constraint(2, A, 6)
    assert Constraint(6, R, 2).canonical() == Constraint(2, L, 6)
    assert str(Constraint(6, B, 2)) == "6 below 2"


def test_adjacent_pairs_lists_every_adjacency_once_and_they_all_hold():
    board = ((1, 2, 3), (4, 5), (6,))
    pairs = adjacent_pairs(board)
    assert set(pairs) == {
        Constraint(2, A, 1), Constraint(3, A, 2), Constraint(5, A, 4),
        Constraint(1, L, 4), Constraint(2, L, 5), Constraint(4, L, 6),
    }
    assert goal_met(board, tuple(pairs))


@pytest.mark.parametrize(("n", "count"), [(0, 1), (1, 3), (2, 12), (3, 60), (6, 7200)])
def test_state_space_sizes(n, count):
    boards = all_boards(tuple(range(1, n + 1)))
    assert len(boards) == len(set(boards)) == count
    for b in boards[:50]:
        check_board(b)


def test_random_board_is_seeded_and_holds_the_blocks():
    a = random_board((2, 4, 5), np.random.default_rng(1))
    assert a == random_board((2, 4, 5), np.random.default_rng(1))
    assert sorted(x for c in a for x in c) == [2, 4, 5]


@pytest.mark.parametrize("board", [((1, 2, 3, 4), (), ()), ((1,), (1,), ()), ((7,), (), ()), ((), ())])
def test_check_board_rejects_impossible_boards(board):
    with pytest.raises(ValueError, match="board"):
        check_board(board)


def test_render_draws_the_top_row_first():
    assert render(((1, 2), (3,), ())) == ". . .\n2 . .\n1 3 ."
