"""Fig. 5b's outcomes and the lesson criterion on hand cases."""

import pytest

from tasks.shrdlu.metrics import (
    Outcome,
    category,
    constraints_satisfied,
    incomplete,
    lesson_passed,
    solved,
    solved_optimal,
)


@pytest.mark.parametrize(
    ("outcome", "optimal", "ok", "kind"),
    [
        (Outcome(min_moves=3, moves=3, satisfied=2, constraints=2), True, True, "optimal"),
        (Outcome(min_moves=3, moves=4, satisfied=2, constraints=2), False, True, "suboptimal"),
        (Outcome(min_moves=3, moves=9, satisfied=2, constraints=2), False, True, "suboptimal"),
        (Outcome(min_moves=3, moves=10, satisfied=2, constraints=2), False, False, "incomplete"),
        (Outcome(min_moves=3, moves=3, satisfied=1, constraints=2), False, False, "incomplete"),
    ],
)
def test_outcome_kinds(outcome, optimal, ok, kind):
    assert solved_optimal(outcome) is optimal
    assert solved(outcome) is ok
    assert incomplete(outcome) is (not ok)
    assert category(outcome) == kind


def test_constraints_satisfied_and_the_lesson_criterion():
    assert constraints_satisfied(Outcome(4, 10, 3, 4)) == 0.75
    good, bad = Outcome(2, 2, 1, 1), Outcome(2, 8, 0, 1)
    assert lesson_passed([good] * 136 + [bad] * 24)  # 136 / 160 = 0.85
    assert not lesson_passed([good] * 135 + [bad] * 25)
    with pytest.raises(ValueError, match="160 episodes"):
        lesson_passed([good] * 159)
