"""Mini-SHRDLU episode metrics, as pure functions of an :class:`Outcome` (Graves et al., Nature
2016, Fig. 5b and Methods "Mini-SHRDLU").

The paper's: an episode is solved *perfectly* when the goal is met in the minimum number of moves
``L``, *successfully* when it is met within the ``L + 6`` moves allowed, and is *incomplete*
otherwise; a lesson is passed when 85% of the cued goals' constraints are satisfied, averaged over
160 episodes. Ours: every step of the action phase counts as a move (passes and illegal moves
too), and the constraints are counted on the board the episode ends with.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

from tasks.shrdlu.episode import SLACK
from tasks.shrdlu.lessons import LESSON_EPISODES, LESSON_THRESHOLD


class Outcome(NamedTuple):
    """How one episode ended: ``L``, the moves used, and the cued goal's constraints satisfied on
    the final board out of its total."""

    min_moves: int
    moves: int
    satisfied: int
    constraints: int

    @property
    def goal_met(self) -> bool:
        return self.satisfied == self.constraints


def solved_optimal(o: Outcome) -> bool:
    """The goal was met in ``L`` moves (Fig. 5b "perfect")."""
    return o.goal_met and o.moves <= o.min_moves


def solved(o: Outcome, slack: int = SLACK) -> bool:
    """The goal was met within the ``L + slack`` moves allowed (optimal solutions included)."""
    return o.goal_met and o.moves <= o.min_moves + slack


def incomplete(o: Outcome, slack: int = SLACK) -> bool:
    """The goal was not met within the moves allowed (Fig. 5b "incomplete")."""
    return not solved(o, slack)


def constraints_satisfied(o: Outcome) -> float:
    """Fraction of the cued goal's constraints that hold at the end (the lesson criterion)."""
    return o.satisfied / o.constraints


def category(o: Outcome, slack: int = SLACK) -> str:
    """Fig. 5b's three disjoint outcomes: ``"optimal"``, ``"suboptimal"`` or ``"incomplete"``."""
    if solved_optimal(o):
        return "optimal"
    return "suboptimal" if solved(o, slack) else "incomplete"


def lesson_passed(outcomes: Sequence[Outcome], threshold: float = LESSON_THRESHOLD) -> bool:
    """Whether the mean :func:`constraints_satisfied` reaches ``threshold`` (85%, the paper's).
    Raises ``ValueError`` on fewer than ``LESSON_EPISODES`` (160) outcomes."""
    if len(outcomes) < LESSON_EPISODES:
        raise ValueError(f"a lesson is judged on {LESSON_EPISODES} episodes, got {len(outcomes)}")
    mean = sum(Fraction(o.satisfied, o.constraints) for o in outcomes) / len(outcomes)
    return mean >= Fraction(str(threshold))  # exact: no rounding decides the boundary


# What an episode reports, logged per lesson and on test (Fig. 5b's outcomes and the criterion).
RESULT_NAMES = ("solved_optimal", "solved", "incomplete", "constraints_satisfied")


def episode_results(o: Outcome, slack: int = SLACK) -> dict[str, float]:
    """The four per-episode results of :data:`RESULT_NAMES`: 0/1 for the outcomes, the fraction
    of constraints met for ``constraints_satisfied``; their means over episodes are the shares."""
    return {
        "solved_optimal": float(solved_optimal(o)),
        "solved": float(solved(o, slack)),
        "incomplete": float(incomplete(o, slack)),
        "constraints_satisfied": constraints_satisfied(o),
    }
