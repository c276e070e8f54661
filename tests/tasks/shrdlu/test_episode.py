"""Episodes of a lesson: seeded, inside the lesson's ranges, and with the planner's L."""

import numpy as np
import pytest

from tasks.shrdlu.board import (
    MOVES,
    PASS,
    Constraint,
    Relation,
    apply_action,
    goal_met,
    satisfied_count,
)
from tasks.shrdlu.episode import SLACK, ShrdluEpisode, check_episode, generate_episode, random_goal
from tasks.shrdlu.lessons import LESSONS, Lesson
from tasks.shrdlu.planner import min_moves

GOAL = (Constraint(1, Relation.ABOVE, 2),)  # from the board below: 1 onto 2, one move
HAND = ShrdluEpisode(((2,), (1,), ()), ((Constraint(2, Relation.LEFT_OF, 1),), GOAL), (3, 7), 1, 1, (2,))


def blocks_on(board):
    return sorted(b for column in board for b in column)


@pytest.mark.parametrize("index", range(len(LESSONS)))
def test_every_lesson_of_the_table_yields_episodes_inside_its_ranges(index):
    lesson, rng = LESSONS[index], np.random.default_rng(index)
    for _ in range(5):
        ep = generate_episode(lesson, rng, group=index)
        assert ep.group == index
        assert lesson.blocks[0] <= len(blocks_on(ep.board)) <= lesson.blocks[1]
        assert lesson.goals[0] <= len(ep.goals) <= lesson.goals[1]
        assert all(lesson.constraints[0] <= len(g) <= lesson.constraints[1] for g in ep.goals)
        assert lesson.moves[0] <= ep.min_moves <= lesson.moves[1]
        assert ep.min_moves == min_moves(ep.board, ep.cued_goal) == len(ep.moves)
        assert len(set(ep.letters)) == len(ep.goals) and 0 <= ep.cue < len(ep.goals)
        assert ep.budget == ep.min_moves + SLACK
        board = ep.board
        for a in ep.moves:
            board = apply_action(board, a)[0]
        assert goal_met(board, ep.cued_goal)


def test_goals_are_satisfiable_and_name_distinct_pairs():
    rng = np.random.default_rng(0)
    for _ in range(50):
        goal = random_goal((1, 3, 4, 5, 6), 5, rng)
        pairs = {frozenset((c.block, c.other)) for c in goal}
        assert len(pairs) == 5
        assert min_moves(((1, 3, 4), (5, 6), ()), goal) is not None


def test_same_seed_same_episode_other_seed_other_episode():
    lesson = LESSONS[12]
    a = generate_episode(lesson, np.random.default_rng(5))
    assert a == generate_episode(lesson, np.random.default_rng(5))
    assert a != generate_episode(lesson, np.random.default_rng(6))


def test_the_start_board_does_not_already_meet_the_cued_goal():
    rng = np.random.default_rng(1)
    for _ in range(30):
        ep = generate_episode(LESSONS[3], rng)
        assert satisfied_count(ep.board, ep.cued_goal) < len(ep.cued_goal)


def test_an_unreachable_moves_range_is_a_clear_error():
    # one constraint between 2 blocks never needs more than 2 moves (but the diameter is 4)
    with pytest.raises(ValueError, match="no episode with 'moves' in \\(4, 4\\)"):
        generate_episode(Lesson((2, 2), (1, 1), (1, 1), (4, 4)), np.random.default_rng(0))


def test_generated_episodes_pass_the_episode_check():
    rng = np.random.default_rng(2)
    for lesson in LESSONS[::5]:
        check_episode(generate_episode(lesson, rng))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"board": ((1, 1), (), ())}, "board"),
        ({"goals": ()}, "goals"),
        ({"letters": (0, 0)}, "letters"),
        ({"letters": (0, 10)}, "letters"),
        ({"cue": 2}, "cue"),
        ({"goals": ((Constraint(5, Relation.ABOVE, 1),), GOAL)}, "goals"),
        ({"min_moves": 3}, "min_moves"),
        ({"moves": (MOVES.index((2, 0)), 0)}, "moves"),
        ({"moves": (PASS,)}, "moves"),
    ],
)
def test_unplayable_episodes_are_refused_naming_the_field(change, field):
    check_episode(HAND)
    with pytest.raises(ValueError, match=f"episode.{field}"):
        check_episode(HAND._replace(**change))
