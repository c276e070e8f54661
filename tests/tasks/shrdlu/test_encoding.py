"""An episode in the batch schema: INPUT constraints, a QUERY go-cue, ANSWER steps with the
planner's moves as targets and the board before each move as input."""

import numpy as np
import torch

from tasks.batch import IGNORE_INDEX, Role, collate, validate_batch
from tasks.shrdlu.board import MOVES, NUM_ACTIONS, Constraint, Relation, apply_action
from tasks.shrdlu.encoding import (
    FEATURES,
    OFFSETS,
    PARTS,
    act_step,
    constraint_step,
    encode_episode,
    shrdlu_spec,
)
from tasks.shrdlu.episode import ShrdluEpisode, generate_episode
from tasks.shrdlu.lessons import LESSONS

BOARD = ((2,), (1,), ())
GOAL = (Constraint(1, Relation.ABOVE, 2),)
OTHER = (Constraint(2, Relation.LEFT_OF, 1), Constraint(1, Relation.BELOW, 2))
EPISODE = ShrdluEpisode(BOARD, (OTHER, GOAL), (4, 0), 1, 1, (MOVES.index((1, 0)),), group=2)


def part(vec, name):
    return vec[OFFSETS[name] : OFFSETS[name] + PARTS[name]]


def test_layout_of_a_constraint_step():
    vec = constraint_step(BOARD, 3, Constraint(6, Relation.BELOW, 2))
    assert vec.shape == (FEATURES,) == (102,)
    assert np.flatnonzero(part(vec, "letter")).tolist() == [3]
    assert np.flatnonzero(part(vec, "block")).tolist() == [5]
    assert np.flatnonzero(part(vec, "relation")).tolist() == [int(Relation.BELOW)]
    assert np.flatnonzero(part(vec, "other")).tolist() == [1]
    assert np.flatnonzero(part(vec, "phase")).tolist() == [0]
    cells = part(vec, "board").reshape(9, 7)
    assert (cells.sum(1) == 1).all()  # every cell one-hot
    assert cells[0, 2] == 1 and cells[3, 1] == 1 and cells[1, 0] == 1  # 2 at (0,0), 1 at (1,0)


def test_hand_episode_roles_targets_and_inputs():
    ep = encode_episode(EPISODE)
    assert ep.role.tolist() == [Role.INPUT, Role.INPUT, Role.INPUT, Role.QUERY, Role.ANSWER]
    assert ep.target[:, 0].tolist() == [IGNORE_INDEX] * 4 + [MOVES.index((1, 0))]
    assert ep.target_mask.tolist() == [False] * 4 + [True]
    assert ep.group == 2
    letters = [np.flatnonzero(part(v, "letter")).tolist() for v in ep.inputs[:3].numpy()]
    assert letters == [[4], [4], [0]]  # goal E's two constraints, then goal A's
    assert np.flatnonzero(part(ep.inputs[3].numpy(), "cue")).tolist() == [0]  # the cue names A
    assert torch.equal(ep.inputs[4], torch.from_numpy(act_step(BOARD)))


def test_answer_inputs_follow_the_planner_moves():
    ep_raw = generate_episode(LESSONS[10], np.random.default_rng(3))
    ep = encode_episode(ep_raw)
    answers = ep.inputs[ep.role == Role.ANSWER]
    board = ep_raw.board
    for vec, move in zip(answers, ep_raw.moves, strict=True):
        assert torch.equal(vec, torch.from_numpy(act_step(board)))
        board = apply_action(board, move)[0]
    assert ep.target[ep.target_mask, 0].tolist() == list(ep_raw.moves)


def test_a_batch_of_episodes_is_valid_for_the_spec():
    spec = shrdlu_spec(LESSONS)
    assert spec.num_classes == NUM_ACTIONS and spec.input_width == FEATURES
    assert spec.group_names[0] == "lesson01" and len(spec.group_names) == 26
    rng = np.random.default_rng(0)
    episodes = [encode_episode(generate_episode(LESSONS[i], rng, group=i)) for i in (0, 7, 25)]
    validate_batch(collate(episodes), spec)
