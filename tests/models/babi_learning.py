"""The update step the sentence-model learning tests share. The bAbI learning checks run the
shipped recipes through run.train instead (tests/tasks/babi/test_train.py)."""

from __future__ import annotations

import torch
from torch import nn


def answer_step(model: nn.Module, batch, opt: torch.optim.Optimizer) -> None:
    """One update on the answer steps: cross-entropy, gradient norm clipped at 40, Adam step."""
    logits = model(batch).logits[..., 0, :][batch.target_mask]
    loss = nn.functional.cross_entropy(logits, batch.target[..., 0][batch.target_mask])
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 40.0)
    opt.step()
