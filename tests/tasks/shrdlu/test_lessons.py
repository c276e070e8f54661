"""The lesson table is valid data, and an impossible lesson is refused naming the key."""

import pytest

from tasks.shrdlu.lessons import LESSONS, Lesson, lessons_from_config, max_adjacent_pairs

GOOD = {"blocks": [3, 4], "constraints": [1, 2], "goals": [1, 3], "moves": [1, 4]}


def test_our_table_has_26_lessons_that_never_shrink():
    assert len(LESSONS) == 26  # as many as the paper's ED Table 6
    assert LESSONS[0] == Lesson((2, 2), (1, 1), (1, 1), (1, 1))
    for before, after in zip(LESSONS, LESSONS[1:], strict=False):
        for key in ("blocks", "constraints", "goals", "moves"):
            low_high = zip(getattr(after, key), getattr(before, key), strict=True)
            assert all(a >= b for a, b in low_high), (key, before, after)
    assert len({lesson.name for lesson in LESSONS}) == 26


def test_max_adjacent_pairs():
    assert [max_adjacent_pairs(n) for n in range(2, 7)] == [1, 2, 4, 5, 7]


def test_a_config_row_becomes_a_lesson():
    assert lessons_from_config([GOOD]) == (Lesson((3, 4), (1, 2), (1, 3), (1, 4)),)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("blocks", [7, 7], r"lesson 1: key 'blocks'.*at most 6 blocks"),
        ("blocks", [1, 3], r"key 'blocks'"),
        ("constraints", [1, 3], r"key 'constraints': up to 3 .* 3 blocks form at most 2"),
        ("constraints", [1, 7], r"key 'constraints'"),
        ("goals", [1, 11], r"key 'goals'"),
        ("goals", [3, 1], r"key 'goals': inverted range \(3, 1\)"),
        ("moves", [4, 2], r"key 'moves': inverted range"),
        ("moves", [0, 2], r"key 'moves'"),
        ("moves", [9, 9], r"key 'moves'.* 8, the most moves"),
    ],
)
def test_impossible_lessons_name_the_lesson_and_the_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        lessons_from_config([GOOD, {**GOOD, key: value}][-1:])
    with pytest.raises(ValueError, match="lesson 2"):
        lessons_from_config([GOOD, {**GOOD, key: value}])


def test_missing_keys_and_empty_tables_are_refused():
    with pytest.raises(ValueError, match="lesson 1: keys"):
        lessons_from_config([{k: v for k, v in GOOD.items() if k != "moves"}])
    with pytest.raises(ValueError, match="empty"):
        lessons_from_config([])
    with pytest.raises(ValueError, match="key 'blocks': expected a"):
        Lesson((2, 3, 4), (1, 1), (1, 1), (1, 1))
