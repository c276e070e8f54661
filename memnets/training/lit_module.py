"""One LightningModule that trains any memory core on any task (DESIGN §1.1).

Loss and metrics are chosen by ``spec.target_kind``, never by the model or the task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from memnets.models.base import MemoryNetwork
from memnets.training.closed_loop import ClosedLoopTask, result_metrics, run_closed_loop
from memnets.training.metrics import GroupedErrors, masked_loss
from tasks.batch import Batch


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; the run stops and is marked ``diverged``."""


class MemNetLitModule(pl.LightningModule):
    """Masked loss, grouped error metrics, optimiser and LR schedule from ``_partial_`` configs.

    Metric keys: ``{stage}/loss``, ``{stage}/error``, ``{stage}/step_acc``, ``{stage}/bit_errors``
    (bit targets), ``{stage}/mean_group_error``, ``{stage}/failed_groups`` and
    ``{stage}/group/{name}/{metric}``; stage is ``train``, ``val`` or a test split name.

    ``closed_loop``: a task that answers in a loop (``memnets.training.closed_loop``); its
    episodes are stepped through ``run_closed_loop`` (DAgger mixture in training only; a task
    whose ``beta`` is None trains on its episodes' own targets instead), the metrics count the
    expert's targets, and each episode result ``name`` is logged as ``{stage}/{name}`` (its mean)
    and ``{stage}/{name}_error`` (1 - mean: for true/false results the share where it is false).
    """

    def __init__(
        self,
        model: MemoryNetwork,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., object] | None = None,
        scheduler_interval: str = "epoch",
        test_split_names: Sequence[str] = ("test",),
        closed_loop: ClosedLoopTask | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = model.spec
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.test_split_names = tuple(test_split_names)
        self.eval_metrics = nn.ModuleDict(
            {stage: GroupedErrors(self.spec) for stage in ("val", *self.test_split_names)}
        )
        self.train_metrics = GroupedErrors(self.spec)
        self.closed_loop = closed_loop

    def forward(self, batch: Batch, *, trace: bool = False):
        return self.model(batch, trace=trace)

    def _outputs(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """logits, target, mask and per-episode results (closed loop only) of one batch."""
        teacher_forced = self.training and self.closed_loop is not None and self.closed_loop.beta is None
        if self.closed_loop is None or teacher_forced:
            return self.model(batch).logits, batch.target, batch.target_mask, {}
        beta = self.closed_loop.beta if self.training else 0.0
        out = run_closed_loop(self.model, batch, self.closed_loop, beta=beta)
        return out.logits, out.target, out.mask, out.results

    def _shared_step(self, batch: Batch, metrics: GroupedErrors, stage: str) -> Tensor:
        logits, target, mask, results = self._outputs(batch)
        loss = masked_loss(logits, target, mask, self.spec.target_kind)
        metrics.update(logits.detach(), target, mask, batch.group)
        for key, value in result_metrics(results).items():
            self.log(f"{stage}/{key}", value, on_step=stage == "train", on_epoch=stage != "train",
                     batch_size=batch.batch_size, add_dataloader_idx=False)
        return loss

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Error metrics (and closed-loop result errors) over ``batches``, in eval mode, outside
        the trainer's loops: what the curriculum reports on a test map after each lesson."""
        metrics = GroupedErrors(self.spec).to(self.device)
        sums: dict[str, float] = {}
        episodes = 0
        was_training = self.training
        self.eval()
        for batch in batches:
            batch = batch.to(self.device)
            logits, target, mask, results = self._outputs(batch)
            metrics.update(logits, target, mask, batch.group)
            for name, value in results.items():
                sums[name] = sums.get(name, 0.0) + float(value.float().sum())
            episodes += batch.batch_size
        self.train(was_training)
        out = {k: float(v) for k, v in metrics.compute().items() if "/" not in k}
        for name, total in sums.items():
            out[name] = total / max(episodes, 1)
            out[f"{name}_error"] = 1.0 - out[name]
        return out

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._shared_step(batch, self.train_metrics, "train")
        finite = bool(torch.isfinite(loss))
        # all ranks of a DDP run decide together: a rank that stopped alone would leave the
        # others waiting in the gradient all-reduce, and only rank 0 writes the record
        if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            what = loss.item() if not finite else "not finite on another rank"
            raise DivergedError(f"training loss is {what} at step {self.global_step}; the run "
                                "stops and keeps its last good checkpoint")
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.batch_size)
        if (batch_idx + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self._log_metrics("train", self.train_metrics, prog_bar_keys=("error",))
        return loss

    def on_train_epoch_end(self) -> None:
        self.train_metrics.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self._shared_step(batch, self.eval_metrics["val"], "val")
        self.log("val/loss", loss, batch_size=batch.batch_size, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.eval_metrics["val"], prog_bar_keys=("error",))

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        stage = self.test_split_names[dataloader_idx]
        loss = self._shared_step(batch, self.eval_metrics[stage], stage)
        self.log(
            f"{stage}/loss", loss, batch_size=batch.batch_size, sync_dist=True,
            add_dataloader_idx=False,
        )

    def on_test_epoch_end(self) -> None:
        for stage in self.test_split_names:
            self._log_metrics(stage, self.eval_metrics[stage])

    def _log_metrics(
        self, stage: str, metrics: GroupedErrors, prog_bar_keys: Sequence[str] = ()
    ) -> None:
        if not metrics.update_called:
            return
        values = metrics.compute()
        for key, value in values.items():
            self.log(
                f"{stage}/{key}", value, prog_bar=key in prog_bar_keys,
                add_dataloader_idx=False, sync_dist=stage != "train",  # equal on every rank
            )
        metrics.reset()

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
