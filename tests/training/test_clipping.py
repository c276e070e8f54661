"""Per-matrix gradient clipping (the MemN2N authors' Weight.update rule) on hand-computed cases."""

import pytest
import torch
from torch import nn

from memnets.training.clipping import ClipGradPerMatrix, clip_per_matrix_


def _param(grad: torch.Tensor) -> nn.Parameter:
    p = nn.Parameter(torch.zeros_like(grad))
    p.grad = grad.clone()
    return p


def test_spectral_rule_scales_by_the_largest_singular_value():
    # diag(3, 4): σ_max = 4, ‖G‖_F = 5. Clipped to 2 by σ_max: G · 2/4.
    p = _param(torch.diag(torch.tensor([3.0, 4.0])))
    clip_per_matrix_([p], max_norm=2.0, norm="spectral")
    torch.testing.assert_close(p.grad, torch.diag(torch.tensor([1.5, 2.0])))


def test_frobenius_rule_scales_by_the_frobenius_norm():
    p = _param(torch.diag(torch.tensor([3.0, 4.0])))
    clip_per_matrix_([p], max_norm=2.0, norm="frobenius")
    torch.testing.assert_close(p.grad, torch.diag(torch.tensor([1.2, 1.6])))


def test_each_matrix_is_clipped_on_its_own():
    # Global clipping at 4 would scale both by 4/‖(G1, G2)‖ = 4/5: G1 shrinks too. Per matrix,
    # G1 (σ = 3) is under the bound and stays as it is; only G2 (σ = 4 > 3.5) shrinks.
    g1, g2 = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0], [4.0]])
    p1, p2 = _param(g1), _param(g2)
    clip_per_matrix_([p1, p2], max_norm=3.5)
    torch.testing.assert_close(p1.grad, g1)
    torch.testing.assert_close(p2.grad, g2 * 3.5 / 4.0)


def test_a_vector_gradient_uses_its_length_and_a_small_one_is_untouched():
    p = _param(torch.tensor([6.0, 8.0]))  # length 10
    q = _param(torch.tensor([[0.1, 0.0], [0.0, 0.2]]))
    clip_per_matrix_([p, q], max_norm=5.0)
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(q.grad, torch.tensor([[0.1, 0.0], [0.0, 0.2]]))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="norm="):
        ClipGradPerMatrix(1.0, norm="nuclear")
    with pytest.raises(ValueError, match="max_norm"):
        ClipGradPerMatrix(0.0)


def test_the_callback_refuses_to_compound_with_lightnings_clip_before_training():
    class Trainer:
        gradient_clip_val = 1.0

    with pytest.raises(ValueError, match="gradient_clip_val=null"):
        ClipGradPerMatrix(1.0).on_fit_start(Trainer(), nn.Linear(2, 2))


def test_in_a_fit_the_step_taken_is_the_clipped_gradient():
    """One SGD step (lr 1) of a Lightning fit moves W by exactly the per-matrix clipped
    gradient: the callback runs before the optimiser step, not after it."""
    import lightning.pytorch as pl

    class One(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.W = nn.Parameter(torch.zeros(2, 2))

        def training_step(self, batch, batch_idx):
            # loss = <W, diag(3, 4)>: dL/dW = diag(3, 4), σ_max 4
            return (self.W * torch.diag(torch.tensor([3.0, 4.0]))).sum()

        def train_dataloader(self):
            return [torch.zeros(1)]

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1.0)

    module = One()
    trainer = pl.Trainer(max_steps=1, callbacks=[ClipGradPerMatrix(2.0)], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(module)
    torch.testing.assert_close(module.W.detach(), -torch.diag(torch.tensor([1.5, 2.0])))
