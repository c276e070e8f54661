"""The graph tasks' step encoding (Graves et al., Nature 2016, Methods "Graph tasks"; ED Table 2).

The paper's choices: a step is one triple (source, edge, destination); each label 0..999 is three
decimal digits, each digit a 10-way one-hot, so a triple is 90 inputs and a blank label is all
zeros; two more input flags make 92; the target is a triple again, nine 10-way softmaxes
(``TaskSpec`` target_kind="tokens", K=9, C=10).

Our choices (the paper does not say what the two flags mean): flag 90 marks query steps, flag 91
marks answer steps; a step with both flags and a blank triple is the termination pattern that
ends an answer. Digits are written most significant first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

LABELS = 1000  # labels run 0..999
DIGITS = 3  # decimal digits per label
BASE = 10  # C, classes per digit
LABEL_WIDTH = DIGITS * BASE  # 30 one-hot inputs per label
TRIPLE_WIDTH = 3 * LABEL_WIDTH  # 90
QUERY_FLAG = TRIPLE_WIDTH  # 90
ANSWER_FLAG = TRIPLE_WIDTH + 1  # 91
INPUT_WIDTH = TRIPLE_WIDTH + 2  # 92
TARGET_WIDTH = 3 * DIGITS  # K = 9

Triple = tuple[int | None, int | None, int | None]  # None: a blank label


def label_digits(label: int) -> list[int]:
    """0..999 -> its three decimal digits, most significant first (e.g. 42 -> [0, 4, 2])."""
    if not 0 <= label < LABELS:
        raise ValueError(f"graph label {label} is outside 0..{LABELS - 1}")
    return [(label // BASE ** (DIGITS - 1 - i)) % BASE for i in range(DIGITS)]


def encode_triple(triple: Triple, *, query: bool = False, answer: bool = False) -> Tensor:
    """(source, edge, destination) with None for blanks -> the 92-wide input vector (float)."""
    x = torch.zeros(INPUT_WIDTH)
    for slot, label in enumerate(triple):
        if label is None:
            continue
        for d, digit in enumerate(label_digits(label)):
            x[slot * LABEL_WIDTH + d * BASE + digit] = 1.0
    x[QUERY_FLAG] = float(query)
    x[ANSWER_FLAG] = float(answer)
    return x


def decode_triple(x: Tensor) -> Triple:
    """The inverse of :func:`encode_triple` on its first 90 inputs: (92,) -> triple (None: blank).

    Raises ``ValueError`` if a label has some but not all of its digits set.
    """
    out: list[int | None] = []
    for slot in range(3):
        block = x[slot * LABEL_WIDTH : (slot + 1) * LABEL_WIDTH].reshape(DIGITS, BASE)  # (3, 10)
        on = block.sum(-1)  # (3,)
        if bool((on == 0).all()):
            out.append(None)
            continue
        if not bool((on == 1).all()):
            raise ValueError(f"triple slot {slot} is not three one-hot digits: {block.tolist()}")
        digits = block.argmax(-1).tolist()
        out.append(int(digits[0]) * 100 + int(digits[1]) * 10 + int(digits[2]))
    return out[0], out[1], out[2]


def triple_target(triple: Sequence[int]) -> Tensor:
    """A complete triple -> its target, nine digit classes (9,) long."""
    return torch.tensor([d for label in triple for d in label_digits(int(label))], dtype=torch.long)


def target_triple(digits: Sequence[int]) -> tuple[int, int, int]:
    """Nine digit classes (a target or an argmax) -> the triple they spell."""
    d = [int(v) for v in digits]
    if len(d) != TARGET_WIDTH:
        raise ValueError(f"a triple target has {TARGET_WIDTH} digits, got {len(d)}")
    return tuple(d[i] * 100 + d[i + 1] * 10 + d[i + 2] for i in range(0, TARGET_WIDTH, DIGITS))


def triple_log_prob(log_probs: Tensor, triple: Sequence[int]) -> Tensor:
    """The summed digit log-probabilities of ``triple`` (the paper's loss sums them):
    log_probs (9, 10) -> scalar."""
    index = triple_target(triple).to(log_probs.device)  # (9,)
    return log_probs.gather(-1, index[:, None]).sum()
