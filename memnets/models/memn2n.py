"""End-To-End Memory Network (MemN2N), Sukhbaatar, Szlam, Weston & Fergus, NeurIPS 2015
(arXiv:1503.08895), for sentence-granular tasks.

Every step of an episode is one sentence. For each step t the model answers the most recent
QUERY step q(t) <= t from a memory of the most recent ``memory_size`` INPUT steps s <= t, with
K hops of soft attention (§2.1-2.2):

    m_i = Σ_j l_j ∘ A^k x_ij + T_A^k(i)      input memory   (§2.1 eq. 1 with PE §4.1 and TE §4.1)
    c_i = Σ_j l_j ∘ C^k x_ij + T_C^k(i)      output memory
    p_i = softmax(u^kᵀ m_i)                  (eq. 1)
    o^k = Σ_i p_i c_i                        (eq. 2)
    u^{k+1} = u^k + o^k   | H u^k + o^k      (§2.2, adjacent | layer-wise tying)
    u^{k+1} = ReLU(u^{k+1})                  (optional: Table 1's "PE LS RN*" model, see below)
    â = softmax(W u^{K+1})                   (eq. 3; W (o^K + u^K) = W u^{K+1})

i counts memories from the most recent one (i = 1 is the last sentence before the question), so
T_A(i) is "how long ago". All answer steps of a batch are computed at once: attention is a
(B, R, T) matrix over (answer step, memory step) pairs, masked causally to each step's window.
R = T in evaluation (every step answers); in training R is the number of scored steps
(``target_mask``), the only rows the loss reads, so a batch of one question per example with
T steps of story costs R = 1 row of attention per example instead of T.

Dimension letters: B batch, T steps, L words per sentence, d embedding, S = memory_size.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from memnets.models.base import IncompatibleTaskError, MemoryNetwork, ModelOutput
from memnets.models.layers import reshape_logits
from memnets.ops.position_encoding import (
    code_position_weights,
    code_time_word_weights,
    encode_sentences,
    sentence_position_weights,
)
from tasks.batch import PAD_ID, Batch, Role
from tasks.spec import TaskSpec

WEIGHT_TYING = ("adjacent", "layerwise")
NONLINEARITIES = (None, "relu")
SENTENCE_ENCODINGS = ("position", "position_code", "bow")


class MemN2N(MemoryNetwork):
    """MemN2N over sentence steps, K hops, memory of the last ``memory_size`` statements.

    Args:
        spec: the task; needs token inputs and token targets.
        embed_dim: d, the embedding width (paper §4: 20 on bAbI).
        hops: K, the number of memory hops (paper: 3).
        memory_size: S, how many of the most recent statements are in memory (paper: 50).
        weight_tying: ``"adjacent"`` (A^{k+1} = C^k, B = A^1, W = C^Kᵀ when the classes are
            the vocabulary) or ``"layerwise"`` (one A and one C for all hops plus a linear H
            between hops, §2.2).
        encoding: ``"position"`` (PE, §4.1, J = each sentence's length), ``"position_code"``
            (PE as the authors' code has it, one J for all sentences: ``code_position_weights``)
            or ``"bow"`` (bag of words).
        temporal_encoding: add the learned T_A(i), T_C(i) rows by memory age (TE, §4.1).
        random_noise: RN (§4.1: empty memories added at random to the stories): during
            training each statement has this probability of an empty memory inserted just
            before it. The empty memory shifts the age of every older memory by one and is a
            memory like the others: zero content, so m_i = T_A(i) and c_i = T_C(i), and it takes
            its share of the attention (that is how RN regularises T_A). 0 disables it.
        noise_memories: ``True`` (the paper's RN, above) or ``False``, RN as the authors' code
            has it (MemN2N-babi-matlab train.m: each statement's time index is drawn with blanks
            left in the sequence): a blank still makes every older memory one older, but it is
            not a memory and takes no attention. The blanks are drawn as above either way (the
            code draws 0 to 10% of a story's length, rounded up, at random places), and a blank
            can push the oldest statement out of the S memories, where the code keeps S
            statements and clamps their time index at S.
        time_word_weight: scale T_A(i), T_C(i) by the PE weight of the time word, as the
            authors' code does (it writes the time index as a last word of each sentence:
            ``code_time_word_weights``). Needs ``encoding="position_code"``, the PE it belongs to.
        init_std: σ of the N(0, σ) initialisation of every weight (paper: 0.1).
        nonlinearity: ``None`` (the linear model of §2) or ``"relu"``: ReLU on the internal
            state u after each hop. With ``embed_dim=100`` this is the paper's starred "PE LS
            RN*" model (Table 1 footnote: d = 100 and a ReLU after each hop, after Peng et al.'s
            Neural Reasoner; the model that brings tasks 17 and 19 down), whose 10k per-task
            column is the 4.2% mean, 3 failed that the DNC and EntNet papers quote (read from
            the paper's Table 1 and its footnote as we recall them and as a re-implementation's
            notes give them; the stored references hold only the quoted column).

    Mutable flag: ``softmax_enabled`` is the one piece of mutable configuration a model may
    carry. Linear start (LS, §4.2) sets it to False for the first epochs so that the memory
    layers use the raw scores ``p_i = u^kᵀ m_i``; :class:`memnets.training.linear_start.LinearStart`
    flips it back. It changes no parameter, but it is saved with the weights (``state_dict``'s
    extra state): a checkpoint taken during LS is a linear model, and loading it (the
    best-validation checkpoint that runs are tested with) must restore the mode it was validated
    in, not the mode the run ended in.
    """

    SUPPORTED_GRANULARITIES: ClassVar[frozenset[str]] = frozenset({"sentence"})

    def __init__(
        self,
        spec: TaskSpec,
        *,
        embed_dim: int = 20,
        hops: int = 3,
        memory_size: int = 50,
        weight_tying: str = "adjacent",
        encoding: str = "position",
        temporal_encoding: bool = True,
        random_noise: float = 0.1,
        init_std: float = 0.1,
        nonlinearity: str | None = None,
        noise_memories: bool = True,
        time_word_weight: bool = False,
    ) -> None:
        super().__init__(spec)
        if spec.input_kind != "tokens" or spec.target_kind != "tokens":
            raise IncompatibleTaskError(
                "MemN2N reads token sentences and predicts token classes; the task has "
                f"{spec.input_kind} inputs and {spec.target_kind} targets"
            )
        if weight_tying not in WEIGHT_TYING:
            raise ValueError(f"weight_tying={weight_tying!r}; expected one of {WEIGHT_TYING}")
        if encoding not in SENTENCE_ENCODINGS:
            raise ValueError(f"encoding={encoding!r}; expected one of {SENTENCE_ENCODINGS}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity={nonlinearity!r}; expected one of {NONLINEARITIES}")
        if time_word_weight and encoding != "position_code":
            raise ValueError(
                f"time_word_weight=True belongs to the authors' code PE; got encoding={encoding!r}, "
                "set encoding=position_code or time_word_weight=False"
            )
        if hops < 1 or memory_size < 1 or embed_dim < 1:
            raise ValueError("hops, memory_size and embed_dim must be >= 1")
        if not 0.0 <= random_noise < 1.0:
            raise ValueError(f"random_noise={random_noise} must be in [0, 1)")
        self.embed_dim = embed_dim
        self.hops = hops
        self.memory_size = memory_size
        self.weight_tying = weight_tying
        self.encoding = encoding
        self.temporal_encoding = temporal_encoding
        self.random_noise = random_noise
        self.nonlinearity = nonlinearity
        self.noise_memories = noise_memories
        self.time_word_weight = time_word_weight
        self.softmax_enabled = True  # toggled by the LinearStart callback (LS, §4.2)

        V, d = spec.vocab_size, embed_dim
        # adjacent: E_0..E_K with A^k = E_{k-1}, C^k = E_k, B = E_0; layer-wise: A, C, B.
        n_emb = hops + 1 if weight_tying == "adjacent" else 3
        self.embeddings = nn.ModuleList(nn.Embedding(V, d) for _ in range(n_emb))
        n_time = hops + 1 if weight_tying == "adjacent" else 2
        self.temporal = nn.ParameterList(
            nn.Parameter(torch.empty(memory_size, d)) for _ in range(n_time if temporal_encoding else 0)
        )
        self.H = nn.Linear(d, d, bias=False) if weight_tying == "layerwise" else None
        tie_output = weight_tying == "adjacent" and spec.output_size == V
        self.W = None if tie_output else nn.Linear(d, spec.output_size, bias=False)
        for p in self.parameters():
            nn.init.normal_(p, std=init_std)

    # --- which matrix plays which role in hop k (1-based), paper §2.2 ---------------------------
    def get_extra_state(self) -> dict[str, bool]:
        return {"softmax_enabled": self.softmax_enabled}

    def set_extra_state(self, state: dict[str, bool]) -> None:
        self.softmax_enabled = bool(state["softmax_enabled"])

    def _A(self, k: int) -> nn.Embedding:
        return self.embeddings[k - 1] if self.weight_tying == "adjacent" else self.embeddings[0]

    def _C(self, k: int) -> nn.Embedding:
        return self.embeddings[k] if self.weight_tying == "adjacent" else self.embeddings[1]

    def _B(self) -> nn.Embedding:
        return self.embeddings[0] if self.weight_tying == "adjacent" else self.embeddings[2]

    def _T_A(self, k: int) -> Tensor:
        return self.temporal[k - 1] if self.weight_tying == "adjacent" else self.temporal[0]

    def _T_C(self, k: int) -> Tensor:
        return self.temporal[k] if self.weight_tying == "adjacent" else self.temporal[1]

    def _answer(self, u: Tensor) -> Tensor:
        """W u: (B, T, d) -> (B, T, O); adjacent tying uses W = C^Kᵀ (eq. 3)."""
        if self.W is None:
            return u @ self._C(self.hops).weight.T
        return self.W(u)

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, batch: Batch, *, trace: bool = False) -> ModelOutput:
        tokens, role = batch.inputs, batch.role  # (B, T, L), (B, T)
        dtype = self._B().weight.dtype
        word_mask = tokens != PAD_ID  # (B, T, L)
        if self.encoding == "position":
            l_weights = sentence_position_weights(word_mask, self.embed_dim, dtype=dtype)  # (B,T,L,d)
        elif self.encoding == "position_code":
            l_weights = code_position_weights(word_mask, self.embed_dim, dtype=dtype)  # (B,T,L,d)
        else:
            l_weights = word_mask[..., None].to(dtype)  # (B, T, L, 1)

        T = tokens.shape[1]
        rows = None if trace or not self.training else scored_rows(batch.target_mask)  # (B, R)
        is_input = role == Role.INPUT  # (B, T)
        empties = self._noise(is_input)  # (B, T) or None: RN, training only
        ages = memory_ages(is_input, empties, rows)  # (B, R, T) age of memory s at step t
        window = memory_window(is_input, ages, self.memory_size, rows)  # (B, R, M) bool, M = T
        empty_slots = empties is not None and self.noise_memories  # RN blanks that are memories
        if empty_slots:  # M = 2T slots: the T steps, then the empty memory before each
            e_ages = ages + 1  # (B, R, T): an empty is one older than the statement after it
            e_window = memory_window(empties.bool(), e_ages, self.memory_size, rows)
            window = torch.cat([window, e_window], 2)  # (B, R, M)
            ages = torch.cat([ages, e_ages], 2)  # (B, R, M)
        age_idx = ages.clamp(0, self.memory_size - 1)  # (B, R, M) T_A row per pair
        time_scale = (  # (d,) the time word's PE weight, or 1
            code_time_word_weights(tokens.shape[-1], self.embed_dim, dtype=dtype, device=tokens.device)
            if self.time_word_weight else 1.0
        )

        u = gather_query(encode_sentences(self._B()(tokens), l_weights), role)  # (B, T, d)
        if rows is not None:
            u = torch.gather(u, 1, rows[..., None].expand(-1, -1, u.shape[-1]))  # (B, R, d)
        attention: list[Tensor] = []
        for k in range(1, self.hops + 1):
            m = encode_sentences(self._A(k)(tokens), l_weights)  # (B, T, d) memory side
            c = encode_sentences(self._C(k)(tokens), l_weights)  # (B, T, d)
            scores = u @ m.transpose(1, 2)  # (B, R, T): u_tᵀ m_s
            if empty_slots:  # an empty memory has no content: u_tᵀ 0 = 0, only T_A, T_C
                scores = torch.cat([scores, torch.zeros_like(scores)], 2)  # (B, R, M)
            if self.temporal_encoding:
                T_A = self._T_A(k) * time_scale  # (S, d)
                scores = scores + torch.gather(u @ T_A.T, 2, age_idx)  # + u_tᵀ T_A(age)
            p = attend(scores, window, softmax=self.softmax_enabled)  # (B, R, M)
            o = p[..., :T] @ c  # (B, R, d): Σ_s p_ts c_s (empty memories add no content)
            if self.temporal_encoding:
                p_by_age = torch.zeros(
                    *p.shape[:2], self.memory_size, dtype=p.dtype, device=p.device
                ).scatter_add(2, age_idx, p)  # (B, R, S)
                o = o + p_by_age @ (self._T_C(k) * time_scale)  # + Σ_s p_ts T_C(age)
            u = (self.H(u) if self.H is not None else u) + o  # (B, R, d)
            if self.nonlinearity == "relu":
                u = torch.relu(u)
            attention.append(p[..., :T])  # (B, T, T) when traced: the statements' share
        y = self._answer(u)  # (B, R, O)
        if rows is not None:  # unscored steps get zero logits; the loss never reads them
            y = y.new_zeros(*rows.shape[:1], T, y.shape[-1]).scatter(
                1, rows[..., None].expand(-1, -1, y.shape[-1]), y
            )  # (B, T, O)
        aux = {"hop_attention": torch.stack(attention, dim=2)} if trace else {}  # (B, T, K, T)
        return ModelOutput(reshape_logits(y, self.spec), aux)

    def _noise(self, is_input: Tensor) -> Tensor | None:
        """RN: (B, T) 0/1 empty memories inserted before each statement, training only."""
        if not (self.training and self.random_noise > 0):
            return None
        draws = torch.rand(is_input.shape, device=is_input.device) < self.random_noise
        return (draws & is_input).long()


def scored_rows(target_mask: Tensor) -> Tensor:
    """(B, R) step indices that hold each example's scored steps first, in step order, where
    R is the most scored steps any example of the batch has (at least 1). A row past an
    example's own count is another, unscored step of it: every index is distinct within its
    example, so outputs scattered back to these steps never collide.

    target_mask (B, T) bool -> (B, R) long.
    """
    R = max(int(target_mask.sum(1).max()), 1)  # one host sync a batch
    order = torch.argsort((~target_mask).to(torch.int8), dim=1, stable=True)  # (B, T)
    return order[:, :R]


def memory_ages(is_input: Tensor, empties: Tensor | None = None, rows: Tensor | None = None) -> Tensor:
    """Age of memory s seen from step t: how many memories are more recent than s at t.

    is_input: (B, T) bool, statements; empties: (B, T) long, empty memories inserted just
    before each statement (RN), or None; rows: (B, R) the steps t to compute, or None for all
    (R = T). Returns (B, R, T) long ``age[b, r, s]`` = number of statements (plus empties) at
    steps s < v <= t = rows[b, r]; age 0 is the most recent memory, i.e. the paper's i = 1
    (§4.1, sentences indexed in reverse order). Only meaningful where s <= t.
    """
    count = is_input.long() + (empties if empties is not None else 0)  # (B, T)
    c = torch.cumsum(count, dim=1)  # (B, T) inclusive
    c_t = c if rows is None else torch.gather(c, 1, rows)  # (B, R)
    return c_t[:, :, None] - c[:, None, :]  # (B, R, T)


def memory_window(is_input: Tensor, ages: Tensor, memory_size: int, rows: Tensor | None = None) -> Tensor:
    """(B, R, T) bool: memory s is visible from step t iff s is a statement, s <= t and
    age < memory_size (the most recent ``memory_size`` memories, §4.2 "the most recent 50").
    rows: (B, R) the steps t, or None for every step (R = T)."""
    T = is_input.shape[1]
    steps = torch.arange(T, device=is_input.device)  # (T,)
    t = steps.expand(is_input.shape) if rows is None else rows  # (B, R)
    causal = steps[None, None, :] <= t[:, :, None]  # (B, R, T) s <= t
    return causal & is_input[:, None, :] & (ages < memory_size)


def gather_query(sentences: Tensor, role: Tensor) -> Tensor:
    """u for every step: the encoding of the most recent QUERY step <= t, zeros before any.

    sentences (B, T, d), role (B, T) -> (B, T, d).
    """
    T = role.shape[1]
    steps = torch.arange(T, device=role.device).expand_as(role)  # (B, T)
    last_q = torch.where(role == Role.QUERY, steps, -1).cummax(dim=1).values  # (B, T)
    u = torch.gather(sentences, 1, last_q.clamp(min=0)[..., None].expand_as(sentences))
    return u * (last_q >= 0)[..., None].to(u.dtype)


def attend(scores: Tensor, mask: Tensor, *, softmax: bool = True) -> Tensor:
    """p over the last axis, zero outside ``mask``: (B, T, T) scores -> (B, T, T) weights.

    ``softmax=True`` is MemN2N eq. 1 restricted to the window (a step with an empty window
    gets all-zero weights); ``softmax=False`` is the linear-start variant p = scores (§4.2).
    """
    if not softmax:
        return scores * mask.to(scores.dtype)
    masked = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(masked, dim=-1) * mask.to(scores.dtype)
