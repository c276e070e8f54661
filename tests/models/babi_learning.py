"""The learning check the bAbI models share: train on bAbI task 1 (1k, sentence steps) with
Adam, then count wrong answers over the 1000 test questions. Real data only (needs_data)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from tasks.spec import TaskSpec


def answer_step(model: nn.Module, batch, opt: torch.optim.Optimizer) -> None:
    """One update on the answer steps: cross-entropy, gradient norm clipped at 40, Adam step."""
    logits = model(batch).logits[..., 0, :][batch.target_mask]
    loss = nn.functional.cross_entropy(logits, batch.target[..., 0][batch.target_mask])
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 40.0)
    opt.step()


def babi_task1_test_error(
    make_model: Callable[[TaskSpec], nn.Module], *, epochs: int, lr: float, batch_size: int = 8
) -> float:
    """Fraction of wrong answers on the task 1 (1k) test file after ``epochs`` of training.

    Adam at ``lr``, batches of ``batch_size`` stories, cross-entropy over answer steps, gradient
    norm clipped at 40 (both papers' value), seed 0 for the model and the batch order.
    """
    from tasks.babi.datamodule import BabiDataModule
    from tests.tasks.babi.conftest import HOW_TO_GET, _find_babi_dir

    data_dir = _find_babi_dir()
    if data_dir is None:
        pytest.skip(HOW_TO_GET)
    dm = BabiDataModule(
        data_dir=str(data_dir), size="1k", tasks=[1], joint=False, granularity="sentence",
        batch_size=batch_size, seed=0, cache_dir="",
    )  # fmt: skip
    dm.setup("fit")
    torch.manual_seed(0)
    model = make_model(dm.spec)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in dm.train_dataloader():
            answer_step(model, batch, opt)
    dm.setup("test")
    model.eval()
    wrong = total = 0
    with torch.no_grad():
        for batch in dm.test_dataloader()[0]:
            pred = model(batch).logits[..., 0, :].argmax(-1)
            wrong += ((pred != batch.target[..., 0]) & batch.target_mask).sum().item()
            total += batch.target_mask.sum().item()
    assert total == 1000, total  # the 1k test file has 1000 questions
    return wrong / total
