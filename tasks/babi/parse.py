"""Parser and tokeniser for the bAbI QA tasks v1.2 format (Weston et al. 2015, arXiv:1502.05698).

The format, one entry per line::

    <id> <statement>
    <id> <question>?<space><TAB><answer><TAB><space-separated supporting-fact ids>

The id restarts at 1 at the start of each story and otherwise counts up by one. Answers of
tasks 8 (lists/sets) and 19 (path finding) may be comma lists such as ``n,w``.

Both granularities of :mod:`tasks.babi.datamodule` start from :func:`parse_stories`; a malformed line raises
:class:`BabiFormatError` naming the file, the line number and what was expected.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The 20 task file stems of tasks_1-20_v1-2/{en,en-10k}/qa<N>_<name>_{train,test}.txt.
TASK_NAMES: dict[int, str] = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}
SIZE_FOLDERS = {"1k": "en", "10k": "en-10k"}
SPLITS = ("train", "test")

# DNC paper (Graves et al. 2016, Methods, bAbI): words plus the three symbols '.', '?', '-'.
STOP, QMARK, ANSWER_MARK = ".", "?", "-"
_WORD_TOKEN = re.compile(r"[^\W\d_]+|[.?]")
_NUMBER = re.compile(r"\d+")


class BabiFormatError(ValueError):
    """A bAbI file breaks the format; the message names file, line number and expectation."""

    def __init__(self, source: str, lineno: int, expected: str, line: str) -> None:
        super().__init__(f"{source}:{lineno}: expected {expected}; got {line!r}")
        self.source, self.lineno, self.expected = source, lineno, expected


def decode(data: bytes, source: str) -> str:
    """A bAbI file's bytes as text (the files are ASCII, so UTF-8); bytes that are not UTF-8
    raise :class:`BabiFormatError` naming the file and the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data.count(b"\n", 0, err.start) + 1
        line = data.split(b"\n")[lineno - 1].decode("utf-8", errors="replace")
        raise BabiFormatError(
            source, lineno, f"UTF-8 text (byte {data[err.start]:#04x} at offset {err.start} is not)", line
        ) from None


class Statement(NamedTuple):
    text: str  # e.g. "Mary moved to the bathroom."


class Question(NamedTuple):
    text: str  # e.g. "Where is Mary?"
    answer: str  # raw answer, e.g. "bathroom" or "n,w"
    supporting: tuple[int, ...]  # 1-based ids of the supporting statements in the story


Line = Statement | Question
Story = tuple[Line, ...]


def task_file(task: int, size: str, split: str) -> str:
    """Path of one data file inside ``tasks_1-20_v1-2/``, e.g. ``en-10k/qa3_..._train.txt``."""
    if task not in TASK_NAMES:
        raise ValueError(f"bAbI task {task!r} does not exist; expected one of 1..20")
    if size not in SIZE_FOLDERS:
        raise ValueError(f"bAbI size {size!r}; expected one of {tuple(SIZE_FOLDERS)}")
    if split not in SPLITS:
        raise ValueError(f"bAbI split {split!r}; expected one of {SPLITS}")
    return f"{SIZE_FOLDERS[size]}/qa{task}_{TASK_NAMES[task]}_{split}.txt"


def _parse_body(body: str, source: str, lineno: int, raw: str) -> Line:
    """The part of a line after ``'<id> '``: a statement, or a question with TAB fields."""
    if "\t" not in body:
        if not body.strip():
            raise BabiFormatError(source, lineno, "a non-empty statement after the id", raw)
        return Statement(body.strip())
    fields = body.split("\t")
    if len(fields) != 3:
        raise BabiFormatError(source, lineno, "'<id> <question>?\\t<answer>\\t<ids>' (3 TAB fields)", raw)
    text, answer, ids = fields[0].strip(), fields[1].strip(), fields[2].split()
    if not text.endswith("?"):
        raise BabiFormatError(source, lineno, "the question text to end with '?'", raw)
    if not answer or any(not part.strip() for part in answer.split(",")):
        raise BabiFormatError(source, lineno, "a non-empty answer (comma list allowed)", raw)
    if not ids or not all(i.isdigit() and int(i) > 0 for i in ids):
        raise BabiFormatError(source, lineno, "space-separated supporting-fact ids >= 1", raw)
    return Question(text, answer, tuple(int(i) for i in ids))


def parse_stories(text: str, source: str = "<string>") -> list[Story]:
    """Split one bAbI file's text into stories.

    Args:
        text: the whole file, UTF-8 decoded.
        source: file name used in error messages.
    Returns:
        stories in file order; each story is a tuple of :class:`Statement` / :class:`Question`
        in line order (line id ``k`` of the story is ``story[k - 1]``). Equal lines are one
        shared object (bAbI repeats its sentences), which keeps parsing fast.
    Raises:
        BabiFormatError: on the first malformed line.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the empty remainder after the final newline
    stories: list[Story] = []
    current: list[Line] = []
    memo: dict[str, Line] = {}
    for lineno, raw in enumerate(lines, start=1):
        head, sep, body = raw.partition(" ")
        if not (sep and head.isdigit()):
            raise BabiFormatError(source, lineno, "a line '<id> <text>' with a numeric id", raw)
        line = memo.get(body)
        if line is None:
            line = memo[body] = _parse_body(body, source, lineno, raw)
        line_id = int(head)
        if line_id == 1:
            if current:
                stories.append(tuple(current))
            current = []
        elif line_id != len(current) + 1:
            raise BabiFormatError(source, lineno, f"id 1 (new story) or {len(current) + 1} (next line)", raw)
        if type(line) is Question and max(line.supporting) > len(current):
            raise BabiFormatError(
                source, lineno, f"supporting-fact ids of earlier lines 1..{len(current)}", raw
            )
        current.append(line)
    if current:
        stories.append(tuple(current))
    return stories


def word_tokens(text: str) -> list[str]:
    """DNC-paper tokenisation (Graves et al. 2016, Methods): lower-case, numbers removed,
    words and the symbols '.' and '?' as separate tokens.

    ``"Mary moved to the bathroom."`` -> ``["mary", "moved", "to", "the", "bathroom", "."]``.
    """
    return _WORD_TOKEN.findall(_NUMBER.sub(" ", text.lower()))


def sentence_tokens(text: str) -> list[str]:
    """Sentence-granularity tokens: the words of :func:`word_tokens` without '.' and '?'
    (the role of the step says whether it is a statement or a question)."""
    return [t for t in word_tokens(text) if t not in (STOP, QMARK)]


def answer_words(answer: str) -> list[str]:
    """The words of an answer, one '-' step each in word mode: ``"n,w"`` -> ``["n", "w"]``."""
    return [w.strip().lower() for w in answer.split(",")]


def answer_class(answer: str) -> str:
    """The single class of an answer in sentence mode (MemN2N/EntNet): ``"N, W"`` -> ``"n,w"``."""
    return ",".join(answer_words(answer))
