"""A step whose gradient overflows updates nothing (SkipNonFiniteGradients); without it, norm
clipping turns such a gradient into NaN weights (the word-level NTM's divergence on bAbI)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from memnets.training.callbacks import SkipNonFiniteGradients
from memnets.training.lit_module import DivergedError


class Toy(pl.LightningModule):
    """w starts at (0, 1). Steps listed in ``bad`` take loss sqrt(w_0 - w_0) + w_1, computed as
    sqrt(w_0 - stop_gradient(w_0)): 0 + w_1, finite, with an infinite gradient; the others
    (w - 2)² summed, with gradient 2 (w - 2)."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0, 1.0]))
        self.bad = bad
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(self.w.detach().clone())
        if self.global_step in self.bad:
            return torch.sqrt(self.w[0] - self.w[0].detach()) + self.w[1]
        return ((self.w - 2.0) ** 2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(8, 1), batch_size=1)


def fit(module: Toy, callbacks: list, steps: int) -> None:
    trainer = pl.Trainer(max_steps=steps, gradient_clip_val=10.0, callbacks=callbacks,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module)


def test_clipping_alone_turns_an_infinite_gradient_into_nan_weights():
    module = Toy(bad={1})
    fit(module, [], steps=3)
    assert torch.isnan(module.w).all()


def test_the_overflowing_step_is_skipped_and_the_others_train():
    module, skip = Toy(bad={1}), SkipNonFiniteGradients()
    fit(module, [skip], steps=4)
    w0, w1, w2, w3 = module.seen
    torch.testing.assert_close(w1, w0 - 0.1 * 2 * (w0 - 2.0))  # step 0: an SGD step
    torch.testing.assert_close(w2, w1)  # step 1 (inf gradient): nothing moved
    torch.testing.assert_close(w3, w2 - 0.1 * 2 * (w2 - 2.0))  # step 2 trains again
    assert skip.skipped == 1 and skip.in_a_row == 0
    assert skip.state_dict() == {"skipped": 1, "in_a_row": 0}


def test_too_many_in_a_row_stop_the_run_as_diverged():
    module = Toy(bad={1, 2, 3})
    with pytest.raises(DivergedError, match="3 steps in a row"):
        fit(module, [SkipNonFiniteGradients(max_in_a_row=3)], steps=6)
    assert torch.isfinite(module.w).all()
