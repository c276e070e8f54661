"""bAbI parser and tokeniser on hand-written text (no data needed)."""

from __future__ import annotations

import pytest

from tasks.babi.parse import (
    BabiFormatError,
    Question,
    Statement,
    answer_class,
    answer_words,
    parse_stories,
    sentence_tokens,
    task_file,
    word_tokens,
)

TWO_STORIES = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary? \tbathroom\t1\n"
    "1 The garden is west of the bathroom.\n"
    "2 The bedroom is north of the hallway.\n"
    "3 How do you go from the bathroom to the hallway?\ts,s\t1 2\n"
    "4 Mary went back to the bathroom.\n"
)


def test_ids_restart_per_story_and_lines_keep_their_fields():
    stories = parse_stories(TWO_STORIES, "x.txt")
    assert len(stories) == 2
    assert [len(s) for s in stories] == [3, 4]
    assert stories[0][0] == Statement("Mary moved to the bathroom.")
    assert stories[0][2] == Question("Where is Mary?", "bathroom", (1,))
    assert stories[1][2] == Question("How do you go from the bathroom to the hallway?", "s,s", (1, 2))
    assert isinstance(stories[1][3], Statement)  # a statement after a question, same story


def test_file_without_final_newline_parses_the_same():
    assert parse_stories(TWO_STORIES.rstrip("\n"), "x") == parse_stories(TWO_STORIES, "x")


def test_word_tokens_follow_the_dnc_protocol():
    # Graves et al. 2016, Methods: lower-case, numbers removed, '.' and '?' are tokens.
    assert word_tokens("Mary moved to the bathroom.") == [
        "mary",
        "moved",
        "to",
        "the",
        "bathroom",
        ".",
    ]
    assert word_tokens("Where is Mary? ") == ["where", "is", "mary", "?"]
    assert word_tokens("Room 12 is big.") == ["room", "is", "big", "."]
    assert sentence_tokens("Where is Mary?") == ["where", "is", "mary"]


def test_answers_split_into_words_or_stay_one_class():
    assert answer_words("n,w") == ["n", "w"]
    assert answer_words("Football,Apple") == ["football", "apple"]
    assert answer_words("bathroom") == ["bathroom"]
    assert answer_class("N,W") == "n,w"


def test_task_file_names():
    assert task_file(3, "10k", "train") == "en-10k/qa3_three-supporting-facts_train.txt"
    assert task_file(20, "1k", "test") == "en/qa20_agents-motivations_test.txt"
    with pytest.raises(ValueError, match="1..20"):
        task_file(21, "1k", "test")


GOOD = "1 Mary moved to the bathroom.\n2 Where is Mary? \tbathroom\t1\n"


@pytest.mark.parametrize(
    "text, lineno, expected",
    [
        ("Mary moved.\n", 1, "numeric id"),
        (GOOD + "3 John left.\n5 John came back.\n", 4, "id 1 (new story) or 4"),
        ("2 Mary moved.\n", 1, "id 1 (new story) or 1"),
        (GOOD + "3 Where is John?\tgarden\n", 3, "3 TAB fields"),
        (GOOD + "3 Where is John\tgarden\t1\n", 3, "end with '?'"),
        (GOOD + "3 Where is John?\t\t1\n", 3, "non-empty answer"),
        (GOOD + "3 Where is John?\tn,\t1\n", 3, "non-empty answer"),
        (GOOD + "3 Where is John?\tgarden\tone\n", 3, "supporting-fact ids"),
        (GOOD + "3 Where is John?\tgarden\t3\n", 3, "earlier lines 1..2"),
        (GOOD + "\n1 John left.\n", 3, "numeric id"),
        (GOOD + "3 \n", 3, "non-empty statement"),
    ],
)
def test_malformed_lines_name_file_line_and_expectation(text, lineno, expected):
    with pytest.raises(BabiFormatError, match="expected") as err:
        parse_stories(text, "qa9_test.txt")
    assert err.value.source == "qa9_test.txt"
    assert err.value.lineno == lineno
    assert expected in str(err.value)
    assert str(err.value).startswith(f"qa9_test.txt:{lineno}: expected")
