"""Mini-SHRDLU as a ``gymnasium.Env`` (Graves et al., Nature 2016, Methods "Mini-SHRDLU"; DESIGN §8).

An episode runs in two phases. Instruction phase: one observation per constraint of every goal,
then the go-cue naming one goal; actions taken there are ignored (reward 0, no cost, whatever the
id). Action phase: each action id in ``0..6`` moves a top block (see
:data:`tasks.shrdlu.board.MOVES`) or passes, and counts as one of the ``L + 6`` moves allowed (the
paper's budget).

Reward, per action step (ours; the paper gives "constraints satisfied minus a small invalid-move
cost" with a penalty for undoing the goal): the change in the number of the cued goal's
constraints that hold, minus ``invalid_move_cost`` (default 0.1, ours) for an illegal move. An
episode's return is therefore (satisfied at the end - satisfied at the start - cost x illegal
moves), and undoing a constraint costs 1.

Ends (ours): ``terminated`` when the cued goal is met, ``truncated`` when the ``L + 6`` moves are
spent; ``info["outcome"]`` then holds the :class:`tasks.shrdlu.metrics.Outcome`.

Bad actions: an integer id outside ``0..6`` (numpy or 0-d/1-element arrays accepted) is an
illegal move (board unchanged, the cost, ``info["legal"] = False``); a non-integer action raises
``TypeError``; stepping before ``reset`` or after the end raises ``RuntimeError``.

The environment's state is one :class:`EnvState`, advanced by the pure function :func:`transition`;
the class only holds the current state and the seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import gymnasium
import numpy as np
from gymnasium import spaces

from tasks.batch import Role
from tasks.shrdlu.board import NUM_ACTIONS, Board, apply_action, render, satisfied_count
from tasks.shrdlu.encoding import FEATURES, act_step, instruction_steps
from tasks.shrdlu.episode import ShrdluEpisode, check_episode, generate_episode
from tasks.shrdlu.lessons import LESSONS, Lesson
from tasks.shrdlu.metrics import Outcome, episode_results

INVALID_MOVE_COST = 0.1
FINAL_LESSON = len(LESSONS)  # the default: the whole task
PHASE_ROLES = {"constraint": int(Role.INPUT), "cue": int(Role.QUERY), "act": int(Role.ANSWER)}


class EnvState(NamedTuple):
    """Where an episode stands: ``step`` counts every observation answered so far, ``board`` the
    current board, ``moves`` the action steps taken, ``done`` whether it has ended."""

    episode: ShrdluEpisode
    instructions: tuple[np.ndarray, ...]
    step: int
    board: Board
    moves: int
    done: bool = False

    @property
    def acting(self) -> bool:
        """Whether the current observation asks for a move (the action phase)."""
        return self.step >= len(self.instructions)

    @property
    def phase(self) -> str:
        """``constraint``, ``cue`` or ``act``: the kind of the current observation."""
        last_instruction = len(self.instructions) - 1  # the go-cue
        if self.step < last_instruction:
            return "constraint"
        return "cue" if self.step == last_instruction else "act"


class Transition(NamedTuple):
    """One step's result; ``legal`` is whether the move was (``True`` outside the action phase)."""

    state: EnvState
    reward: float
    terminated: bool
    truncated: bool
    legal: bool


def start(episode: ShrdluEpisode) -> EnvState:
    """The state before the first observation of ``episode``."""
    return EnvState(episode, tuple(instruction_steps(episode)), 0, episode.board, 0)


def observe(state: EnvState) -> np.ndarray:
    """(FEATURES,) float32 observation at ``state`` (the same vector as the imitation input)."""
    return state.instructions[state.step].copy() if not state.acting else act_step(state.board)


def outcome(state: EnvState) -> Outcome:
    """The episode's :class:`Outcome` so far: L, moves used, the cued goal's constraints met."""
    goal = state.episode.cued_goal
    return Outcome(state.episode.min_moves, state.moves, satisfied_count(state.board, goal), len(goal))


def info(state: EnvState, legal: bool = True) -> dict[str, Any]:
    """The ``info`` dict: phase and its batch-schema ``role`` (a learner acts where it is
    ``Role.ANSWER``), legality of the last action, moves, budget, L, constraints met; at the end
    also ``outcome``, ``is_success`` (the goal was met) and ``results``
    (:func:`tasks.shrdlu.metrics.episode_results`)."""
    ep = state.episode
    found = {
        "phase": state.phase,
        "role": PHASE_ROLES[state.phase],
        "legal": legal,
        "moves": state.moves,
        "budget": ep.budget,
        "min_moves": ep.min_moves,
        "satisfied": satisfied_count(state.board, ep.cued_goal),
        "constraints": len(ep.cued_goal),
    }
    if state.done:
        found["outcome"] = outcome(state)
        found["is_success"] = found["outcome"].goal_met
        found["results"] = episode_results(found["outcome"])
    return found


def transition(state: EnvState, action: int, invalid_move_cost: float) -> Transition:
    """What ``action`` (an int, any value) does at ``state``; see the module docstring for the
    rules. ``legal`` is ``True`` in the instruction phase, where the action is ignored."""
    if not state.acting:
        return Transition(state._replace(step=state.step + 1), 0.0, False, False, True)
    goal = state.episode.cued_goal
    board, legal = apply_action(state.board, action)
    before, after = satisfied_count(state.board, goal), satisfied_count(board, goal)
    reward = after - before - (0.0 if legal else invalid_move_cost)
    moves = state.moves + 1
    terminated = after == len(goal)
    truncated = not terminated and moves >= state.episode.budget
    nxt = state._replace(step=state.step + 1, board=board, moves=moves, done=terminated or truncated)
    return Transition(nxt, float(reward), terminated, truncated, legal)


def action_id(action: Any) -> int:
    """The integer in ``action`` (int, numpy integer, or an array holding one); ``TypeError`` else."""
    arr = np.asarray(action)
    if arr.size != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"a mini-SHRDLU action is one integer id in 0..{NUM_ACTIONS - 1}, got {action!r}")
    return int(arr.reshape(()))


def resolve_lesson(lesson: int | Lesson) -> tuple[Lesson, int]:
    """``(lesson, group id)`` from a 1-based index into :data:`LESSONS` or a :class:`Lesson` (group
    0 if it is not in the table)."""
    if isinstance(lesson, Lesson):
        return lesson, LESSONS.index(lesson) if lesson in LESSONS else 0
    if not 1 <= int(lesson) <= len(LESSONS):
        raise ValueError(f"lesson={lesson}: expected 1..{len(LESSONS)} or a Lesson")
    return LESSONS[int(lesson) - 1], int(lesson) - 1


class MiniSHRDLUEnv(gymnasium.Env):
    """Mini-SHRDLU for RL libraries: ``gymnasium.make("memnets/MiniSHRDLU-v0", lesson=1)``.

    lesson: 1-based index into :data:`tasks.shrdlu.lessons.LESSONS` (default: the last, the full
        task) or a :class:`Lesson`; ``reset(options={"lesson": ...})`` switches it, and
        ``reset(options={"episode": ShrdluEpisode})`` replays a given episode (checked first:
        ``ValueError`` naming the field if it is not playable).
    invalid_move_cost: subtracted from the reward of an illegal move (ours: 0.1).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        lesson: int | Lesson = FINAL_LESSON,
        invalid_move_cost: float = INVALID_MOVE_COST,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r}; only 'ansi' is supported")
        self.lesson, self.group = resolve_lesson(lesson)
        self.invalid_move_cost = float(invalid_move_cost)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(FEATURES,), dtype=np.float32)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.state: EnvState | None = None

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        if "lesson" in options:
            self.lesson, self.group = resolve_lesson(options["lesson"])
        episode = options.get("episode")
        if episode is None:
            episode = generate_episode(self.lesson, self.np_random, self.group)
        else:
            check_episode(episode)
        self.state = start(episode)
        return observe(self.state), info(self.state)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.state is None or self.state.done:
            raise RuntimeError("the episode is over (or never began): call reset() first")
        t = transition(self.state, action_id(action), self.invalid_move_cost)
        self.state = t.state
        return observe(t.state), t.reward, t.terminated, t.truncated, info(t.state, t.legal)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.state is None:
            return None
        return render(self.state.board)
