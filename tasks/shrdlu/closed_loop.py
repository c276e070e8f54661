"""Mini-SHRDLU as a closed-loop task: what the training code's loop
(``memnets.training.closed_loop.run_closed_loop``) asks at each action step.

The paper (Graves et al., Nature 2016, Methods "Mini-SHRDLU") trains by reinforcement; imitating
the planner and this loop are ours. At each ANSWER step the network sees the board the
environment holds (not the planner's), its chosen move is executed by the same pure rules as the
gymnasium environment (:func:`tasks.shrdlu.env.transition`, so an illegal or out-of-range action
id costs ``invalid_move_cost`` and leaves the board as it is, never an error), and the target is
an optimal move from that board (several: the one the network scores highest, so it is not
taught against an equally short solution). Once the goal is met or the ``L + 6`` moves are
spent the episode is over: no target, nothing executed. The network's move is the modal one over
the first :data:`~tasks.shrdlu.board.NUM_ACTIONS` output classes (any extra class, such as an
actor-critic value unit, is ignored).

The episode (board, goals, cue) is read back from its own constraint and go-cue steps, so the
loop needs nothing besides the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tasks.batch import Role
from tasks.shrdlu.board import COLUMNS, HEIGHT, MAX_BLOCKS, NUM_ACTIONS, Board, Constraint, Relation
from tasks.shrdlu.encoding import OFFSETS, PARTS, PHASES, act_step
from tasks.shrdlu.env import INVALID_MOVE_COST, EnvState, outcome, start, transition
from tasks.shrdlu.episode import ShrdluEpisode
from tasks.shrdlu.metrics import episode_results
from tasks.shrdlu.planner import optimal_actions, plan


def _part(x: Tensor, name: str) -> Tensor:
    return x[OFFSETS[name] : OFFSETS[name] + PARTS[name]]


def _index(x: Tensor, name: str) -> int:
    """The one-hot index of part ``name`` of step ``x`` (FEATURES,); ValueError if it is blank."""
    part = _part(x, name)
    if not bool(part.any()):
        raise ValueError(f"a mini-SHRDLU step has a blank {name!r} part")
    return int(part.argmax())


def decode_board(x: Tensor) -> Board:
    """The board shown in step ``x`` (FEATURES,)."""
    cells = _part(x, "board").reshape(COLUMNS, HEIGHT, MAX_BLOCKS + 1).argmax(-1)  # (3, 3)
    return tuple(tuple(int(b) for b in column if b > 0) for column in cells)


def read_episode(inputs: Tensor, role: Tensor) -> ShrdluEpisode:
    """The episode written in ``inputs`` (T, FEATURES) with ``role`` (T,): start board, goals by
    letter in presentation order, the cued goal; ``L`` and the plan from the planner."""
    goals: dict[int, list[Constraint]] = {}
    cue = None
    for x, r in zip(inputs, role.tolist(), strict=True):
        phase = PHASES[_index(x, "phase")]
        if r == Role.INPUT and phase == "constraint":
            goals.setdefault(_index(x, "letter"), []).append(Constraint(
                _index(x, "block") + 1, Relation(_index(x, "relation")), _index(x, "other") + 1))
        elif r == Role.QUERY and phase == "cue":
            cue = _index(x, "cue")
    if cue is None or cue not in goals:
        raise ValueError("a mini-SHRDLU episode needs a go-cue naming one of its goals")
    board = decode_board(inputs[0])
    letters = tuple(goals)
    moves = plan(board, tuple(goals[cue]))
    return ShrdluEpisode(board, tuple(tuple(g) for g in goals.values()), letters,
                         letters.index(cue), len(moves), moves)


class ShrdluLoopEnv:
    """One episode played in the loop: the environment's pure state, advanced by its rules."""

    def __init__(self, episode: ShrdluEpisode, invalid_move_cost: float = INVALID_MOVE_COST) -> None:
        self.episode, self.invalid_move_cost = episode, invalid_move_cost
        state = start(episode)
        # skip the instruction steps: the loop feeds those from the batch itself
        self.state: EnvState = state._replace(step=len(state.instructions))

    def observation(self) -> Tensor:
        """(FEATURES,) the board the next move is made on."""
        return torch.from_numpy(act_step(self.state.board))

    def expert(self, log_probs: Tensor) -> int | None:
        """An optimal move from the current board, the best-scored of several (log_probs (1, C));
        None once the episode is over."""
        if self.state.done:
            return None
        options = optimal_actions(self.state.board, self.episode.cued_goal)
        return max(options, key=lambda a: float(log_probs[0, a]))

    def choose(self, log_probs: Tensor) -> int:
        """The network's move: its modal action among the 7 (log_probs (1, C), C >= 7)."""
        return int(log_probs[0, :NUM_ACTIONS].argmax())

    def apply(self, action: int) -> None:
        """Execute ``action`` (any int: out of range or illegal costs, see the module doc)."""
        if not self.state.done:
            self.state = transition(self.state, int(action), self.invalid_move_cost).state

    def result(self) -> dict[str, float]:
        """:func:`tasks.shrdlu.metrics.episode_results` of the board reached."""
        return episode_results(outcome(self.state))


class ShrdluLoopTask:
    """The task side of the closed loop. ``beta``: None trains on the episode's own planner
    trajectory (teacher forcing); a number is the DAgger mixture (see the training code)."""

    def __init__(self, beta: float | None = None,
                 invalid_move_cost: float = INVALID_MOVE_COST) -> None:
        if beta is not None and not 0.0 <= beta <= 1.0:
            raise ValueError(f"task.dagger_beta={beta}: need null or 0 <= beta <= 1")
        self.beta, self.invalid_move_cost = beta, invalid_move_cost

    def start(self, inputs: Tensor, role: Tensor) -> ShrdluLoopEnv:
        return ShrdluLoopEnv(read_episode(inputs, role), self.invalid_move_cost)

    def target(self, action: int) -> Tensor:
        return torch.tensor([action], dtype=torch.long)
