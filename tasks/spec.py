"""What a task promises a model before training starts (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass

INPUT_KINDS = ("tokens", "features")
TARGET_KINDS = ("tokens", "bits")
GRANULARITIES = ("step", "word", "sentence")


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a task, so ``instantiate(cfg.model, spec=dm.spec)`` works.

    input_kind / input_width: ``"tokens"`` with L token ids per step, or ``"features"`` with D
        floats per step.
    target_kind / target_width: ``"tokens"`` with K class ids per step (logits ``(B, T, K, C)``),
        or ``"bits"`` with D_out independent bits per step (logits ``(B, T, D_out)``).
    vocab_size: number of input token ids including PAD_ID=0 (0 for feature inputs).
    num_classes: C, the number of answer classes (0 for bit targets).
    granularity: ``"step"`` (algorithmic tasks), ``"word"`` (one word per step, DNC bAbI
        protocol) or ``"sentence"`` (one sentence per step, MemN2N/EntNet protocol).
    group_names: one name per subtask id in ``Batch.group``.
    """

    input_kind: str
    input_width: int
    target_kind: str
    target_width: int
    vocab_size: int
    num_classes: int
    granularity: str
    group_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"TaskSpec.input_kind={self.input_kind!r}; expected one of {INPUT_KINDS}")
        if self.target_kind not in TARGET_KINDS:
            raise ValueError(
                f"TaskSpec.target_kind={self.target_kind!r}; expected one of {TARGET_KINDS}"
            )
        if self.granularity not in GRANULARITIES:
            raise ValueError(
                f"TaskSpec.granularity={self.granularity!r}; expected one of {GRANULARITIES}"
            )
        if self.input_kind == "tokens" and self.vocab_size < 2:
            raise ValueError("token inputs need vocab_size >= 2 (PAD_ID=0 plus real tokens)")
        if self.target_kind == "tokens" and self.num_classes < 2:
            raise ValueError("token targets need num_classes >= 2")

    @property
    def output_size(self) -> int:
        """Width of the flat per-step output a model emits: D_out, or K * C for token targets."""
        if self.target_kind == "bits":
            return self.target_width
        return self.target_width * self.num_classes
