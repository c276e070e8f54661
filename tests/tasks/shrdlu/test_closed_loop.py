"""Mini-SHRDLU in the shared closed loop: reading episodes back, hand-made episodes played by
models whose moves the test controls, and the per-episode results (Fig. 5b)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memnets.training.closed_loop import run_closed_loop
from tasks.batch import IGNORE_INDEX, Role, collate
from tasks.shrdlu.board import MOVES, PASS, Constraint, Relation, satisfied_count
from tasks.shrdlu.closed_loop import ShrdluLoopEnv, ShrdluLoopTask, read_episode
from tasks.shrdlu.encoding import encode_episode
from tasks.shrdlu.episode import ShrdluEpisode, generate_episode
from tasks.shrdlu.lessons import LESSONS
from tasks.shrdlu.planner import optimal_actions, plan
from tests.tasks.shrdlu.fake_models import Scripted, always_pass, planner_move, scripted

# Block 1 alone in column 0, block 2 in column 1: "1 above 2" takes one move (0->1).
BOARD = ((1,), (2,), ())
GOAL = (Constraint(1, Relation.ABOVE, 2),)
OTHER = (Constraint(2, Relation.LEFT_OF, 1),)  # a second goal, not cued


def hand_episode() -> ShrdluEpisode:
    moves = plan(BOARD, GOAL)
    return ShrdluEpisode(BOARD, (OTHER, GOAL), (3, 7), 1, len(moves), moves)


def lesson_episodes(lesson: int, n: int, seed: int = 0) -> list[ShrdluEpisode]:
    rng = np.random.default_rng(seed)
    return [generate_episode(LESSONS[lesson - 1], rng, lesson - 1) for _ in range(n)]


def play(policy, episodes):
    batch = collate([encode_episode(ep, closed_loop=True) for ep in episodes])
    return batch, run_closed_loop(Scripted(policy), batch, ShrdluLoopTask(), beta=0.0)


@pytest.mark.parametrize("lesson", [1, 5, 12, 26])
def test_an_episode_reads_back_from_its_own_steps(lesson):
    for ep in lesson_episodes(lesson, 5):
        encoded = encode_episode(ep, closed_loop=True)
        back = read_episode(encoded.inputs, encoded.role)
        assert (back.board, back.goals, back.letters, back.cue) == (ep.board, ep.goals, ep.letters,
                                                                     ep.cue)
        assert back.min_moves == ep.min_moves


def test_closed_loop_episodes_have_the_moves_allowed_and_no_targets():
    ep = hand_episode()
    encoded = encode_episode(ep, closed_loop=True)
    assert int((encoded.role == Role.ANSWER).sum()) == ep.min_moves + 6 == 7
    assert not encoded.target_mask.any() and (encoded.target == IGNORE_INDEX).all()


def test_the_planners_moves_solve_every_episode_optimally():
    episodes = [hand_episode(), *lesson_episodes(4, 6)]
    batch, out = play(planner_move, episodes)
    assert out.results["solved_optimal"].tolist() == [1.0] * len(episodes)
    assert out.results["solved"].tolist() == [1.0] * len(episodes)
    assert out.results["incomplete"].tolist() == [0.0] * len(episodes)
    assert out.results["constraints_satisfied"].tolist() == [1.0] * len(episodes)
    # one target per move made, each an optimal move; none once the goal is met
    assert out.mask.sum(1).tolist() == [ep.min_moves for ep in episodes]
    assert out.target[0, out.mask[0], 0].tolist() == [MOVES.index((0, 1))]


def test_a_model_that_always_passes_leaves_every_episode_incomplete():
    episodes = [hand_episode(), *lesson_episodes(6, 6)]
    _, out = play(always_pass, episodes)
    assert out.results["incomplete"].tolist() == [1.0] * len(episodes)
    assert out.results["solved"].sum() == 0 and out.results["solved_optimal"].sum() == 0
    start = [satisfied_count(ep.board, ep.cued_goal) / len(ep.cued_goal) for ep in episodes]
    assert out.results["constraints_satisfied"].tolist() == pytest.approx(start)
    # the planner is asked at all L + 6 steps, since the goal is never met
    assert out.mask.sum(1).tolist() == [ep.min_moves + 6 for ep in episodes]


@pytest.mark.parametrize(("actions", "optimal", "solved"), [
    ([MOVES.index((0, 2)), MOVES.index((2, 1))], 0.0, 1.0),  # a detour: two moves for one
    ([MOVES.index((2, 0)), MOVES.index((0, 1))], 0.0, 1.0),  # an illegal move (empty column) first
    ([MOVES.index((1, 0))], 0.0, 0.0),  # 2 onto 1: the wrong way round, then passes
    ([MOVES.index((0, 1))], 1.0, 1.0),
])
def test_hand_made_episode_outcomes(actions, optimal, solved):
    _, out = play(scripted(actions), [hand_episode()])
    assert out.results["solved_optimal"].item() == optimal
    assert out.results["solved"].item() == solved
    assert out.results["incomplete"].item() == 1.0 - solved


def test_targets_follow_the_board_the_model_made():
    """After the detour 0->2 the optimal move is 2->1, not the planner's first move."""
    _, out = play(scripted([MOVES.index((0, 2))]), [hand_episode()])
    targets = out.target[0, out.mask[0], 0].tolist()
    assert targets[:2] == [MOVES.index((0, 1)), MOVES.index((2, 1))]


def test_an_invalid_action_id_costs_a_move_and_leaves_the_board():
    env = ShrdluLoopEnv(hand_episode())
    for bad in (99, -1, PASS + 1):
        env.apply(bad)
    assert env.state.board == BOARD and env.state.moves == 3
    assert env.expert(torch.zeros(1, 7)) in optimal_actions(BOARD, GOAL)
    assert env.result()["constraints_satisfied"] == 0.0


def test_the_model_chooses_among_the_seven_actions_only():
    env = ShrdluLoopEnv(hand_episode())
    log_probs = torch.full((1, 8), -5.0)
    log_probs[0, 7] = 0.0  # an extra (value) unit scores highest
    log_probs[0, 3] = -1.0
    assert env.choose(log_probs) == 3


def test_a_bad_beta_names_the_key():
    with pytest.raises(ValueError, match="task.dagger_beta"):
        ShrdluLoopTask(beta=1.5)
