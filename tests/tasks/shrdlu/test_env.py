"""The gymnasium environment: registration, check_env, seeding, the rules in the action phase,
rewards, the step limit and bad actions."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tasks.shrdlu  # noqa: F401  (registers the environment)
from tasks.shrdlu import ENV_ID
from tasks.shrdlu.board import MOVES, PASS, Constraint, Relation, satisfied_count
from tasks.shrdlu.encoding import encode_episode
from tasks.shrdlu.env import INVALID_MOVE_COST, MiniSHRDLUEnv
from tasks.shrdlu.episode import ShrdluEpisode
from tasks.shrdlu.metrics import Outcome

A = Relation.ABOVE
# one goal with one constraint: 1 on 2; from ((2, 3), (1,), ()) uncover 2 then move 1 onto it
EPISODE = ShrdluEpisode(((2, 3), (1,), ()), ((Constraint(1, A, 2),),), (0,), 0, 2, (1, 2))


def to_action_phase(env, episode=EPISODE):
    obs, info = env.reset(seed=0, options={"episode": episode})
    steps = 0
    while info["phase"] != "act":
        obs, reward, terminated, truncated, info = env.step(0)
        assert reward == 0 and not terminated and not truncated
        steps += 1
    return obs, info, steps


@pytest.mark.parametrize("lesson", [1, 26])
def test_check_env_passes(lesson):
    check_env(gymnasium.make(ENV_ID, lesson=lesson).unwrapped, skip_render_check=False)


def test_make_registers_the_spaces():
    env = gymnasium.make(ENV_ID)
    assert env.action_space == gymnasium.spaces.Discrete(7)
    assert env.observation_space.shape == (102,) and env.observation_space.dtype == np.float32


def test_reset_is_seeded():
    env = MiniSHRDLUEnv(lesson=12)
    a, _ = env.reset(seed=11)
    ep_a = env.state.episode
    b, _ = env.reset(seed=11)
    assert np.array_equal(a, b) and env.state.episode == ep_a
    env.reset(seed=12)
    assert env.state.episode != ep_a


def test_observations_are_the_imitation_inputs_when_following_the_planner():
    env = MiniSHRDLUEnv(lesson=9)
    obs, info = env.reset(seed=4)
    episode, seen = env.state.episode, [obs]
    expected = encode_episode(episode)
    n_instructions = len(expected.role) - len(episode.moves)
    actions = [PASS] * n_instructions + list(episode.moves)
    total = 0.0
    for k, a in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(a)
        total += reward
        if k < len(actions) - 1:
            seen.append(obs)
            assert not terminated
    assert terminated and not truncated
    assert np.array_equal(np.stack(seen), expected.inputs.numpy())
    outcome = info["outcome"]
    assert outcome == Outcome(episode.min_moves, episode.min_moves, outcome.constraints, outcome.constraints)
    assert info["is_success"]
    assert total == outcome.constraints - satisfied_count(episode.board, episode.cued_goal)


def test_rewards_count_constraint_changes_and_illegal_moves():
    env = MiniSHRDLUEnv()
    obs, info, steps = to_action_phase(env)
    assert steps == 2 and info["moves"] == 0 and info["budget"] == 8
    _, r, te, tr, info = env.step(MOVES.index((2, 0)))  # from the empty column: illegal
    assert r == pytest.approx(-INVALID_MOVE_COST) and not info["legal"] and info["moves"] == 1
    _, r, te, tr, info = env.step(PASS)
    assert r == 0 and info["legal"] and info["moves"] == 2
    _, r, te, tr, info = env.step(MOVES.index((0, 2)))  # uncover 2
    assert r == 0 and not te
    _, r, te, tr, info = env.step(MOVES.index((1, 0)))  # 1 onto 2: goal met
    assert r == 1 and te and not tr
    assert info["outcome"] == Outcome(min_moves=2, moves=4, satisfied=1, constraints=1)


def test_undoing_a_constraint_costs_one():
    goal = (Constraint(2, Relation.LEFT_OF, 1), Constraint(3, A, 2))  # the first holds at the start
    undo = ShrdluEpisode(((2,), (1,), (3,)), (goal,), (0,), 0, 1, (MOVES.index((2, 0)),))
    env = MiniSHRDLUEnv()
    _, info, _ = to_action_phase(env, undo)
    assert info["satisfied"] == 1
    _, r, terminated, _, info = env.step(MOVES.index((1, 2)))  # 1 onto 3: 2 no longer left of 1
    assert r == -1 and info["satisfied"] == 0 and not terminated


def test_the_step_limit_truncates_after_l_plus_6_moves():
    env = MiniSHRDLUEnv()
    to_action_phase(env)
    for k in range(8):
        _, r, terminated, truncated, info = env.step(PASS)
        assert not terminated and truncated == (k == 7)
    assert info["outcome"] == Outcome(min_moves=2, moves=8, satisfied=0, constraints=1)
    assert not info["is_success"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(PASS)


@pytest.mark.parametrize("bad", [7, -1, 10**6, np.int64(9), np.array([12])])
def test_out_of_range_ids_cost_an_illegal_move_and_the_run_goes_on(bad):
    env = MiniSHRDLUEnv()
    _, _, _ = to_action_phase(env)
    board = env.state.board
    _, r, terminated, truncated, info = env.step(bad)
    assert r == pytest.approx(-INVALID_MOVE_COST) and not info["legal"]
    assert env.state.board == board and info["moves"] == 1
    env.step(MOVES.index((0, 2)))
    _, r, terminated, _, _ = env.step(MOVES.index((1, 0)))
    assert terminated and r == 1


@pytest.mark.parametrize("bad", [1.5, "3", None, np.array([1, 2]), True])
def test_non_integer_actions_are_a_clear_error(bad):
    env = MiniSHRDLUEnv()
    to_action_phase(env)
    with pytest.raises(TypeError, match="one integer id"):
        env.step(bad)


def test_actions_in_the_instruction_phase_are_ignored():
    env = MiniSHRDLUEnv()
    env.reset(options={"episode": EPISODE})
    _, r, _, _, info = env.step(99)  # out of range, but nothing is being moved yet
    assert r == 0 and info["phase"] == "cue" and env.state.board == EPISODE.board


def test_step_before_reset_and_bad_lessons_are_errors():
    with pytest.raises(RuntimeError, match="reset"):
        MiniSHRDLUEnv().step(0)
    with pytest.raises(ValueError, match="lesson=27"):
        MiniSHRDLUEnv(lesson=27)
    env = MiniSHRDLUEnv(lesson=26)
    env.reset(seed=0, options={"lesson": 1})
    assert env.group == 0 and len(env.state.episode.goals) == 1


def test_render_ansi():
    env = MiniSHRDLUEnv(render_mode="ansi")
    env.reset(options={"episode": EPISODE})
    assert env.render() == ". . .\n3 . .\n2 1 ."


def test_a_vector_of_environments_runs_through_episode_ends():
    envs = gymnasium.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", lesson=2)
    obs, _ = envs.reset(seed=1)
    ends = 0
    for _ in range(60):
        obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert obs.shape == (3, 102) and reward.shape == (3,)
        ends += int((terminated | truncated).sum())
    assert ends > 0
    envs.close()


def test_an_unplayable_episode_handed_to_reset_is_refused():
    with pytest.raises(ValueError, match="episode.min_moves"):
        MiniSHRDLUEnv().reset(options={"episode": EPISODE._replace(min_moves=1, moves=(1,))})
