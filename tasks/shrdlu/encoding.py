"""Mini-SHRDLU steps as feature vectors, and an episode in the batch schema (DESIGN §3, §8).

The paper (Graves et al., Nature 2016, Methods "Mini-SHRDLU") presents the goals one constraint
per step, then a go-cue naming one goal, then lets the agent act. The layout of a step's vector is
ours (the paper's exact input encoding is not reproduced); every part is one-hot, and the
environment's observation is the same vector, so imitation and RL see identical inputs:

============  =====  ==================================================================
part          width  meaning
============  =====  ==================================================================
board         63     9 cells (column-major, bottom up) x 7 (empty, block 1..6)
letter        10     goal letter A..J of a constraint step
block         6      first block of a constraint step
relation      4      above, below, left_of, right_of
other         6      second block of a constraint step
cue           10     goal letter named by the go-cue
phase         3      constraint, go-cue, action
============  =====  ==================================================================

The board is shown at every step, not only when acting (ours): the paper decodes the first
action from memory at goal-write time (Fig. 4d), which needs the start board to be known then.

:func:`encode_episode` gives the imitation episode: one ``INPUT`` step per constraint, one
``QUERY`` step (the go-cue), then one ``ANSWER`` step per planner move, whose input is the board
before the move and whose target is the move id (one class of :data:`NUM_ACTIONS`).
"""

from __future__ import annotations

import numpy as np
import torch

from tasks.batch import IGNORE_INDEX, Episode, Role
from tasks.shrdlu.board import (
    COLUMNS,
    HEIGHT,
    MAX_BLOCKS,
    NUM_ACTIONS,
    Board,
    Constraint,
    Relation,
    apply_action,
)
from tasks.shrdlu.episode import ShrdluEpisode
from tasks.shrdlu.lessons import MAX_GOALS, Lesson
from tasks.spec import TaskSpec

PHASES = ("constraint", "cue", "act")
PARTS = {
    "board": COLUMNS * HEIGHT * (MAX_BLOCKS + 1),
    "letter": MAX_GOALS,
    "block": MAX_BLOCKS,
    "relation": len(Relation),
    "other": MAX_BLOCKS,
    "cue": MAX_GOALS,
    "phase": len(PHASES),
}
OFFSETS = dict(zip(PARTS, np.cumsum([0, *PARTS.values()])[:-1].tolist(), strict=True))
FEATURES = sum(PARTS.values())  # 102


def _one_hot(vec: np.ndarray, part: str, index: int) -> None:
    vec[OFFSETS[part] + index] = 1.0


def encode_board(board: Board, vec: np.ndarray) -> None:
    """Write the board's one-hot cells into ``vec`` (``FEATURES`` floats)."""
    for c in range(COLUMNS):
        for h in range(HEIGHT):
            block = board[c][h] if h < len(board[c]) else 0
            _one_hot(vec, "board", (c * HEIGHT + h) * (MAX_BLOCKS + 1) + block)


def constraint_step(board: Board, letter: int, constraint: Constraint) -> np.ndarray:
    """(FEATURES,) float32: goal ``letter`` gets ``constraint``; the board is shown too."""
    vec = np.zeros(FEATURES, dtype=np.float32)
    encode_board(board, vec)
    _one_hot(vec, "letter", letter)
    _one_hot(vec, "block", constraint.block - 1)
    _one_hot(vec, "relation", int(constraint.relation))
    _one_hot(vec, "other", constraint.other - 1)
    _one_hot(vec, "phase", PHASES.index("constraint"))
    return vec


def cue_step(board: Board, letter: int) -> np.ndarray:
    """(FEATURES,) float32: the go-cue names goal ``letter``."""
    vec = np.zeros(FEATURES, dtype=np.float32)
    encode_board(board, vec)
    _one_hot(vec, "cue", letter)
    _one_hot(vec, "phase", PHASES.index("cue"))
    return vec


def act_step(board: Board) -> np.ndarray:
    """(FEATURES,) float32: the board the agent acts on."""
    vec = np.zeros(FEATURES, dtype=np.float32)
    encode_board(board, vec)
    _one_hot(vec, "phase", PHASES.index("act"))
    return vec


def instruction_steps(ep: ShrdluEpisode) -> list[np.ndarray]:
    """The constraint steps then the go-cue step of ``ep``: what comes before any action."""
    steps = [constraint_step(ep.board, letter, c) for letter, c in ep.instructions()]
    return [*steps, cue_step(ep.board, ep.letters[ep.cue])]


def encode_episode(ep: ShrdluEpisode, closed_loop: bool = False) -> Episode:
    """The imitation episode: constraints (INPUT), go-cue (QUERY), planner moves (ANSWER; the input
    is the board before the move, the target its id). ``group`` is the episode's lesson id.

    ``closed_loop``: the episode a closed loop plays instead: ``L + 6`` ANSWER steps (the moves
    allowed), inputs the boards along the planner's path (the last one repeated), no targets; the
    loop replaces each input by the environment's board and takes targets from the planner."""
    steps, board = instruction_steps(ep), ep.board
    n_in = len(steps)
    n_answer = ep.budget if closed_loop else len(ep.moves)
    for i in range(n_answer):
        steps.append(act_step(board))
        if i < len(ep.moves):
            board = apply_action(board, ep.moves[i])[0]
    role = torch.tensor([Role.INPUT] * (n_in - 1) + [Role.QUERY] + [Role.ANSWER] * n_answer)
    target = torch.full((len(steps), 1), IGNORE_INDEX, dtype=torch.long)
    if not closed_loop:
        target[n_in:, 0] = torch.tensor(ep.moves, dtype=torch.long)
    return Episode(
        inputs=torch.from_numpy(np.stack(steps)),
        role=role.long(),
        target=target,
        target_mask=(role == Role.ANSWER) & (target[:, 0] != IGNORE_INDEX),
        group=ep.group,
    )


def shrdlu_spec(lessons: tuple[Lesson, ...]) -> TaskSpec:
    """Feature steps in; one action class of ``NUM_ACTIONS`` out per step; a group per lesson."""
    return TaskSpec(
        input_kind="features",
        input_width=FEATURES,
        target_kind="tokens",
        target_width=1,
        vocab_size=0,
        num_classes=NUM_ACTIONS,
        granularity="step",
        group_names=tuple(f"lesson{i + 1:02d}" for i in range(len(lessons))),
    )
