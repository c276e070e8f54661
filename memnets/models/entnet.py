"""Recurrent Entity Network (EntNet), Henaff, Weston, Szlam, Bordes & LeCun, ICLR 2017
(arXiv:1612.03969), for sentence-granular tasks.

One step per sentence. The encoded sentence s_t = Σ_i f_i ∘ e_i (§2.1) of a statement (INPUT
step) updates a dynamic memory of N blocks h_j with keys w_j (§2.2):

    g_j ← σ(s_tᵀ h_j + s_tᵀ w_j)                        (eq. 2, gate)
    h̃_j ← φ(U h_j + V w_j + W s_t)                       (eq. 3, candidate)
    h_j ← h_j + g_j ∘ h̃_j                                (eq. 4, update)
    h_j ← h_j / ‖h_j‖                                     (eq. 5, normalisation)

A question (QUERY step) is encoded with its own position mask into q and writes nothing; every
step then answers from the most recent q (§2.3):

    p_j = softmax(qᵀ h_j),  u = Σ_j p_j h_j,  y = R φ(q + H u)

φ is a PReLU. Dimension letters: B batch, T steps, L words per sentence, d embedding,
N = num_blocks memory slots, O flat output width.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from memnets.models.base import IncompatibleTaskError, RecurrentMemoryNetwork
from memnets.ops.position_encoding import encode_sentences, position_encoding
from tasks.batch import PAD_ID, Role
from tasks.spec import TaskSpec

MASK_INITS = ("ones", "position", "normal")


class LastDimPReLU(nn.PReLU):
    """``nn.PReLU`` with one slope per unit of the last dimension, ``(..., d) -> (..., d)``
    (``nn.PReLU(d)`` alone takes dim 1, the block axis of ``(B, N, d)``, as the channels)."""

    def __init__(self, num_units: int, init: float) -> None:
        super().__init__(num_parameters=num_units, init=init)  # weight (d,) slopes

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view_as(x)


class EntNetState(NamedTuple):
    memory: Tensor  # (B, N, d) h_j
    query: Tensor  # (B, d) q, the most recent question's encoding (zeros before any)
    gate: Tensor  # (B, N) g_j of the last step (0 where the step wrote nothing); for traces
    attention: Tensor  # (B, N) p_j of the last step's output module; for traces


def entity_gate(s: Tensor, memory: Tensor, keys: Tensor, bias: Tensor | None = None) -> Tensor:
    """EntNet eq. 2, ``g_j = σ(sᵀh_j + sᵀw_j + b_j)``.

    The per-block bias b_j is not in the paper's eq. 2 but is in the authors' Torch code
    (facebookarchive/MemNN, EntNet-babi/entnet.lua, ``gate_bias``); None leaves it out.
    s (B, d), memory (B, N, d), keys (N, d), bias (N,) or None -> (B, N).
    """
    logits = torch.einsum("bd,bnd->bn", s, memory) + s @ keys.T  # (B, N)
    if bias is not None:
        logits = logits + bias
    return torch.sigmoid(logits)


def entity_update(memory: Tensor, gate: Tensor, candidate: Tensor, eps: float = 1e-8) -> Tensor:
    """EntNet eqs. 4-5, ``h_j ← (h_j + g_j h̃_j) / ‖h_j + g_j h̃_j‖``.

    memory (B, N, d), gate (B, N), candidate (B, N, d) -> (B, N, d), rows of unit norm
    (the norm is floored at eps).
    """
    h = memory + gate[..., None] * candidate  # (B, N, d)
    return h / h.norm(dim=-1, keepdim=True).clamp_min(eps)


def attention_readout(memory: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """EntNet §2.3, ``p_j = softmax(qᵀh_j)``, ``u = Σ_j p_j h_j``.

    memory (B, N, d), query (B, d) -> u (B, d), p (B, N).
    """
    p = torch.softmax(torch.einsum("bd,bnd->bn", query, memory), dim=-1)  # (B, N)
    return torch.einsum("bn,bnd->bd", p, memory), p


def initial_mask(kind: str, max_words: int, embed_dim: int, std: float) -> Tensor:
    """(L, d) start of a learned position mask f: ``"ones"`` (bag of words), ``"position"``
    (the MemN2N PE weights for a full sentence of L words) or ``"normal"`` (N(0, std), as the
    authors' Torch code leaves the statement mask)."""
    if kind not in MASK_INITS:
        raise ValueError(f"mask init {kind!r}; expected one of {MASK_INITS}")
    if kind == "position":
        return position_encoding(max_words, embed_dim)
    if kind == "normal":
        return torch.randn(max_words, embed_dim) * std
    return torch.ones(max_words, embed_dim)


class SentenceEncoder(nn.Module):
    """Multiplicative position-mask encoder (EntNet §2.1) for statements and questions.

    ``(B, T, L) tokens -> (B, T, 2d)``: ``[Σ_i f_i ∘ e_i, Σ_i f^q_i ∘ e_i]`` with one shared
    embedding e = E x (PAD embeds to 0) and separate learned masks f (statements) and f^q
    (questions), each (L, d), started as :func:`initial_mask` says.
    """

    def __init__(
        self,
        vocab_size: int,
        max_words: int,
        embed_dim: int,
        mask_init: str,
        story_mask_init: str | None = None,
        std: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        story_init = initial_mask(story_mask_init or mask_init, max_words, embed_dim, std)
        self.story_mask = nn.Parameter(story_init)  # (L, d) f_i
        self.query_mask = nn.Parameter(initial_mask(mask_init, max_words, embed_dim, std))  # (L, d) f^q_i
        self.out_features = 2 * embed_dim

    def forward(self, tokens: Tensor, role: Tensor) -> Tensor:
        e = self.embedding(tokens)  # (B, T, L, d)
        return torch.cat(
            [encode_sentences(e, self.story_mask), encode_sentences(e, self.query_mask)], dim=-1
        )  # (B, T, 2d)


class EntNet(RecurrentMemoryNetwork):
    """Recurrent Entity Network stepping over sentences (explicit :class:`EntNetState`).

    Args:
        spec: the task; needs token inputs.
        embed_dim: d (paper §5 bAbI: 100).
        num_blocks: N memory blocks (paper: 20).
        tied_keys: keys w_j are the (trained) embeddings of ``key_token_ids`` (the paper's
            "tied" variant, one entity word per block) instead of free parameters.
        key_token_ids: the N entity token ids for ``tied_keys``.
        mask_init: ``"ones"``, ``"position"`` or ``"normal"`` start for the learned position
            masks f_i (both masks, unless ``story_mask_init`` is given).
        story_mask_init: start of the statement mask alone; the authors' code fills only the
            question mask with ones and leaves the statement mask at N(0, init_std) (``"normal"``).
        init_std: σ of the N(0, σ) initialisation of the weights (paper: 0.1).
        prelu_init: initial PReLU slope (1.0 starts φ as the identity; the authors' code fills
            the slopes with 1).
        gate_bias: a learned bias b_j per block in the gate (authors' code, not eq. 2).
        candidate_bias: a bias on U h_j in the candidate (authors' code: ``nn.Linear`` with bias).
        prelu_per_unit: one PReLU with d slopes shared by the memory and the output module, as
            the authors' code has it, instead of two PReLUs with one slope each.
    """

    SUPPORTED_GRANULARITIES: ClassVar[frozenset[str]] = frozenset({"sentence"})

    def __init__(
        self,
        spec: TaskSpec,
        *,
        embed_dim: int = 100,
        num_blocks: int = 20,
        tied_keys: bool = False,
        key_token_ids: list[int] | None = None,
        mask_init: str = "ones",
        init_std: float = 0.1,
        prelu_init: float = 1.0,
        story_mask_init: str | None = None,
        gate_bias: bool = False,
        candidate_bias: bool = False,
        prelu_per_unit: bool = False,
    ) -> None:
        super().__init__(spec, input_encoding="onehot")
        if spec.input_kind != "tokens":
            raise IncompatibleTaskError(
                f"EntNet reads token sentences; the task has {spec.input_kind} inputs"
            )
        d = embed_dim
        self.embed_dim = d
        self.num_blocks = num_blocks
        self.encoder = SentenceEncoder(
            spec.vocab_size, spec.input_width, d, mask_init, story_mask_init, init_std
        )
        if tied_keys:
            ids = list(key_token_ids or [])
            if len(ids) != num_blocks or not all(0 < i < spec.vocab_size for i in ids):
                raise ValueError(
                    f"tied_keys needs key_token_ids: {num_blocks} entity token ids in "
                    f"[1, {spec.vocab_size}), got {key_token_ids}"
                )
            self.register_buffer("key_token_ids", torch.tensor(ids, dtype=torch.long))
            self.free_keys = None
        else:
            self.key_token_ids = None
            self.free_keys = nn.Parameter(torch.empty(num_blocks, d))  # (N, d) w_j
        self.gate_bias = nn.Parameter(torch.empty(num_blocks)) if gate_bias else None  # (N,) b_j
        self.U = nn.Linear(d, d, bias=candidate_bias)
        self.V = nn.Linear(d, d, bias=False)
        self.W = nn.Linear(d, d, bias=False)
        self.H = nn.Linear(d, d, bias=False)
        self.R = nn.Linear(d, spec.output_size, bias=False)
        if prelu_per_unit:
            self.phi_memory = LastDimPReLU(d, prelu_init)
            self.phi_output = self.phi_memory  # one module, shared as in the authors' code
        else:
            self.phi_memory = nn.PReLU(init=prelu_init)
            self.phi_output = nn.PReLU(init=prelu_init)
        for name, p in self.named_parameters():
            if "mask" not in name and "phi" not in name:
                nn.init.normal_(p, std=init_std)
        with torch.no_grad():
            self.encoder.embedding.weight[PAD_ID].zero_()

    def keys(self) -> Tensor:
        """(N, d) w_j: free parameters, or the embeddings of the entity words when tied."""
        if self.free_keys is not None:
            return self.free_keys
        return self.encoder.embedding(self.key_token_ids)

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> EntNetState:
        """Memory starts at the keys, h_j = w_j; no question yet (q = 0)."""
        keys = self.keys().to(device=device, dtype=dtype)
        zeros = torch.zeros(batch_size, self.num_blocks, dtype=dtype, device=device)
        return EntNetState(
            memory=keys.expand(batch_size, -1, -1),
            query=torch.zeros(batch_size, self.embed_dim, dtype=dtype, device=device),
            gate=zeros,
            attention=zeros,
        )

    def step(self, x_t: Tensor, role_t: Tensor, state: EntNetState) -> tuple[Tensor, EntNetState]:
        """x_t (B, 2d) = [statement encoding s, question encoding], role_t (B,) -> y (B, O)."""
        s, q_t = x_t.split(self.embed_dim, dim=-1)  # (B, d), (B, d)
        keys = self.keys()  # (N, d)
        gate = entity_gate(s, state.memory, keys, self.gate_bias)  # (B, N)
        candidate = self.phi_memory(
            self.U(state.memory) + self.V(keys)[None] + self.W(s)[:, None]
        )  # (B, N, d)
        written = entity_update(state.memory, gate, candidate)  # (B, N, d)
        is_input = role_t == Role.INPUT  # (B,)
        memory = torch.where(is_input[:, None, None], written, state.memory)
        query = torch.where((role_t == Role.QUERY)[:, None], q_t, state.query)  # (B, d)
        u, p = attention_readout(memory, query)  # (B, d), (B, N)
        y = self.R(self.phi_output(query + self.H(u)))  # (B, O)
        return y, EntNetState(memory, query, gate * is_input[:, None].to(gate.dtype), p)

    def trace_fields(self, state: EntNetState) -> dict[str, Tensor]:
        return {"gate": state.gate, "attention": state.attention}
