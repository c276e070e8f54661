"""From parsed bAbI stories to step tensors, in the two granularities of :mod:`tasks.babi.datamodule`.

- ``word`` (DNC paper, Graves et al. 2016, Methods "bAbI task descriptions"): one token per step.
  Story words (with '.') are INPUT steps, question words (with '?') QUERY steps, then one '-' step
  per answer word (role ANSWER, target = that word's id). Inputs ``(T, 1)``.
- ``sentence`` (MemN2N, Sukhbaatar et al. 2015; EntNet, Henaff et al. 2017): one statement per
  INPUT step and one question per QUERY step, each as ``L`` word ids right-padded with PAD_ID,
  then ONE ANSWER step (inputs all PAD_ID) whose target is the whole answer as one class
  (``"n,w"`` is one class). Inputs ``(T, L)``.

Class ids are token ids of the same :class:`Vocabulary` (``num_classes == vocab_size``).
Each file's encoding is stored flat (all steps of all stories end to end, plus story offsets)
and cached on disk keyed by the file's SHA-256 and the encoding settings.
"""

from __future__ import annotations

import hashlib
import logging
import os
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from tasks.babi.parse import (
    ANSWER_MARK,
    QMARK,
    STOP,
    Question,
    Story,
    answer_class,
    answer_words,
    sentence_tokens,
    word_tokens,
)
from tasks.batch import IGNORE_INDEX, PAD_ID, Episode, Role

log = logging.getLogger(__name__)

PAD_TOKEN = "<pad>"
ENCODING_VERSION = 1  # bump when the encoding below changes: it is part of every cache key
GRANULARITIES = ("word", "sentence")
_DTYPES = {"b": torch.int8, "h": torch.int16, "q": torch.int64}


class BabiVocabularyError(KeyError):
    """A token is not in the vocabulary, or a checkpoint's vocabulary differs from the data's."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class Vocabulary:
    """Token strings; the id of a token is its position. ``tokens[0]`` is PAD (PAD_ID=0),
    the rest sorted, so the same data always gives the same ids."""

    tokens: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[PAD_ID] != PAD_TOKEN:
            raise ValueError(f"a Vocabulary starts with {PAD_TOKEN!r} at id {PAD_ID}")
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str, where: str = "") -> int:
        try:
            return self.index[token]
        except KeyError:
            raise BabiVocabularyError(
                f"token {token!r}{' in ' + where if where else ''} is not in the bAbI vocabulary "
                f"({len(self)} tokens built from all 20 tasks)"
            ) from None

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:16]


def build_vocabulary(stories: Iterable[Story], granularity: str) -> Vocabulary:
    """PAD + sorted set of every input token and answer class of ``stories``.

    word: words, the answer words and the symbols '.', '?', '-' (the DNC paper's lexicon of
    156 words + 3 symbols on en-10k). sentence: words and whole answers (``"n,w"``).
    """
    _check_granularity(granularity)
    words: set[str] = {STOP, QMARK, ANSWER_MARK} if granularity == "word" else set()
    tokenise = word_tokens if granularity == "word" else sentence_tokens
    for line in {line for story in stories for line in story}:  # bAbI repeats its lines
        words.update(tokenise(line.text))
        if isinstance(line, Question):
            if granularity == "word":
                words.update(answer_words(line.answer))
            else:
                words.add(answer_class(line.answer))
    words.discard(PAD_TOKEN)
    return Vocabulary((PAD_TOKEN, *sorted(words)))


def sentence_width(stories: Iterable[Story]) -> int:
    """L for sentence granularity: the most words in one statement or question."""
    texts = {line.text for story in stories for line in story}
    return max((len(sentence_tokens(text)) for text in texts), default=1)


class EncodedStories(NamedTuple):
    """All steps of several stories end to end; story ``i`` is steps ``offsets[i]:offsets[i+1]``."""

    inputs: Tensor  # (S, L) int16 token ids
    role: Tensor  # (S,) int8 Role
    target: Tensor  # (S,) int16 class id, IGNORE_INDEX where no answer is due
    offsets: Tensor  # (n_stories + 1,) int64

    @property
    def lengths(self) -> Tensor:  # (n_stories,)
        return self.offsets[1:] - self.offsets[:-1]


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"bAbI granularity {granularity!r}; expected one of {GRANULARITIES}")


def encode_stories(
    stories: Sequence[Story], vocab: Vocabulary, granularity: str, width: int, source: str = ""
) -> EncodedStories:
    """Tensorise ``stories`` (see module docstring for the two layouts); ``width`` is L."""
    _check_granularity(granularity)
    word = granularity == "word"
    if word and width != 1:
        raise ValueError("word granularity has width 1")
    memo: dict[str, list[int]] = {}  # line text -> step inputs, flat (bAbI repeats its sentences)

    def line_ids(text: str) -> list[int]:
        ids = memo.get(text)
        if ids is None:
            tokens = word_tokens(text) if word else sentence_tokens(text)
            if not word and len(tokens) > width:
                raise ValueError(f"{source}: sentence {text!r} has {len(tokens)} words > L={width}")
            ids = [vocab.id(t, source) for t in tokens]
            memo[text] = ids if word else ids + [PAD_ID] * (width - len(ids))
        return memo[text]

    dash = vocab.id(ANSWER_MARK) if word else PAD_ID
    INPUT, QUERY, ANSWER = int(Role.INPUT), int(Role.QUERY), int(Role.ANSWER)
    inputs: list[int] = []
    role: list[int] = []
    target: list[int] = []
    offsets = [0]
    for story in stories:
        for line in story:
            ids = line_ids(line.text)
            n = len(ids) // width
            inputs += ids
            if isinstance(line, Question):
                role += [QUERY] * n
                target += [IGNORE_INDEX] * n
                if word:
                    answers = [vocab.id(w, source) for w in answer_words(line.answer)]
                else:
                    answers = [vocab.id(answer_class(line.answer), source)]
                inputs += [dash] * (width * len(answers))
                role += [ANSWER] * len(answers)
                target += answers
            else:
                role += [INPUT] * n
                target += [IGNORE_INDEX] * n
        offsets.append(len(role))
    return EncodedStories(
        _tensor("h", inputs).view(-1, width),
        _tensor("b", role),
        _tensor("h", target),
        _tensor("q", offsets),
    )


def _tensor(typecode: str, values: list[int]) -> Tensor:
    """A 1-D tensor from a list of ints, via :mod:`array` (much faster than ``torch.tensor``)."""
    buffer = array(typecode, values)
    if not values:
        return torch.zeros(0, dtype=_DTYPES[typecode])
    return torch.frombuffer(bytearray(buffer), dtype=_DTYPES[typecode])


# The two re-packing functions below work in numpy: they run once per setup() on millions of
# steps, where torch's multi-threaded kernels stall on a busy machine (measured 10x slower).


def concat_encoded(parts: Sequence[EncodedStories]) -> EncodedStories:
    """One :class:`EncodedStories` holding the stories of ``parts`` in order."""
    starts = np.cumsum([0] + [len(p.role) for p in parts[:-1]])
    offsets = [parts[0].offsets[:1].numpy()]
    offsets += [p.offsets[1:].numpy() + s for p, s in zip(parts, starts, strict=True)]
    return EncodedStories(
        *(torch.from_numpy(np.concatenate([p[k].numpy() for p in parts])) for k in range(3)),
        torch.from_numpy(np.concatenate(offsets)),
    )


def select_stories(enc: EncodedStories, keep: Tensor) -> EncodedStories:
    """The stories where ``keep`` (n_stories,) bool is true, in their order, re-packed."""
    keep_np = keep.numpy()
    lengths = enc.lengths.numpy()  # (n,)
    step_keep = np.repeat(keep_np, lengths)  # (S,) bool
    offsets = np.concatenate([[0], np.cumsum(lengths[keep_np])])  # (n' + 1,)
    return EncodedStories(
        *(torch.from_numpy(enc[k].numpy()[step_keep]) for k in range(3)),
        torch.from_numpy(offsets.astype(np.int64)),
    )


def cached_encode(
    data: bytes,
    parse,  # bytes -> list[Story]; only called on a cache miss
    vocab: Vocabulary,
    granularity: str,
    width: int,
    cache_dir: Path | None,
    source: str = "",
) -> EncodedStories:
    """:func:`encode_stories` of one file, cached under ``cache_dir`` keyed by the file's content
    and the settings (granularity, L, vocabulary, :data:`ENCODING_VERSION`)."""
    key = hashlib.sha256(
        f"{ENCODING_VERSION}|{granularity}|{width}|{vocab.fingerprint}|".encode() + data
    ).hexdigest()[:32]
    path = cache_dir / f"{key}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            return EncodedStories(**torch.load(path, weights_only=True))
        except Exception as err:  # a truncated/corrupt cache entry: rebuild it
            log.warning("ignoring unreadable bAbI cache file %s (%s)", path, err)
    enc = encode_stories(parse(data), vocab, granularity, width, source)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save(enc._asdict(), tmp)
            tmp.replace(path)
        except OSError as err:
            log.warning("could not write bAbI cache %s (%s); continuing without", path, err)
    return enc


class BabiStories(Dataset):
    """A map-style dataset of whole stories as :class:`tasks.batch.Episode` (one per story)."""

    def __init__(self, enc: EncodedStories, group: Tensor) -> None:
        if len(group) != len(enc.offsets) - 1:
            raise ValueError("one group id per story is needed")
        self.enc, self.group = enc, group  # group: (n_stories,) int64

    def __len__(self) -> int:
        return len(self.group)

    @property
    def lengths(self) -> Tensor:  # (n_stories,) steps per story
        return self.enc.lengths

    def __getitem__(self, i: int) -> Episode:
        a, b = int(self.enc.offsets[i]), int(self.enc.offsets[i + 1])
        role = self.enc.role[a:b].long()  # (T,)
        return Episode(
            inputs=self.enc.inputs[a:b].long(),  # (T, L)
            role=role,
            target=self.enc.target[a:b].long().unsqueeze(-1),  # (T, 1)
            target_mask=role == Role.ANSWER,  # (T,)
            group=int(self.group[i]),
        )


def question_spans(enc: EncodedStories) -> tuple[Tensor, Tensor, Tensor]:
    """Where every question's answer lies: (story index, first answer step, end) per question,
    steps counted from the story's start and ``end`` one past its last answer step. (n_q,) each."""
    role = enc.role.numpy()
    is_answer = role == int(Role.ANSWER)
    story = np.repeat(np.arange(len(enc.offsets) - 1), enc.lengths.numpy())  # (S,)
    prev = np.concatenate([[False], is_answer[:-1]]) & (story == np.roll(story, 1))
    nxt = np.concatenate([is_answer[1:], [False]]) & (story == np.roll(story, -1))
    starts, ends = np.flatnonzero(is_answer & ~prev), np.flatnonzero(is_answer & ~nxt) + 1
    base = enc.offsets.numpy()[story[starts]]
    return (torch.from_numpy(story[starts].astype(np.int64)),
            torch.from_numpy(starts - base), torch.from_numpy(ends - base))


class BabiQuestions(Dataset):
    """One item per question: its story up to that question's answer, with only that answer as
    target. The unit of MemN2N's training batches (Sukhbaatar et al. 2015, §4.2: a batch is 32
    questions, each with the sentences before it as memory) and of EntNet's (Henaff et al. 2017),
    so that a batch holds the same number of questions whatever a task's questions per story."""

    def __init__(self, stories: BabiStories) -> None:
        self.stories = stories
        self.story, self.start, self.end = question_spans(stories.enc)

    def __len__(self) -> int:
        return len(self.story)

    @property
    def lengths(self) -> Tensor:  # (n_questions,) steps per item
        return self.end

    @property
    def group(self) -> Tensor:  # (n_questions,) the group of each question's story
        return self.stories.group[self.story]

    def __getitem__(self, i: int) -> Episode:
        whole = self.stories[int(self.story[i])]
        start, end = int(self.start[i]), int(self.end[i])
        mask = torch.zeros(end, dtype=torch.bool)
        mask[start:] = True
        target = whole.target[:end].masked_fill(~mask[:, None], IGNORE_INDEX)
        return Episode(whole.inputs[:end], whole.role[:end], target, mask, whole.group)
