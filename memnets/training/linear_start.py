"""Linear start (LS) for MemN2N as a Lightning callback.

Sukhbaatar et al. 2015 (arXiv:1503.08895) §4.2: "we explored commencing training with the
softmax in each memory layer removed, making the model entirely linear except for the final
softmax for answer prediction. When the validation loss stopped decreasing, the softmax layers
were re-inserted and training recommenced."

The callback flips the ``softmax_enabled`` flag of every submodule that has one (the one piece of
mutable configuration a model may carry, see :class:`memnets.models.memn2n.MemN2N`). Softmax comes
back after the first validation whose loss (``monitor``) did not improve on the best so far, or at
the end of epoch ``max_epochs``, whichever is first; with ``monitor=None`` LS lasts exactly
``max_epochs`` epochs, as in the authors' bAbI code (20 linear epochs; facebook/MemNN,
MemN2N-babi-matlab, as ported by vinhkhuc/MemN2N-babi-python ``config.py``). The softmax goes back
in at the next training batch, not at once: a checkpoint saved after that validation (the best one,
or the epoch's) then holds the linear mode its weights were validated in, which MemN2N keeps with
its weights, so testing the best checkpoint tests the model that was selected. The learning rate is
the recipe's, not this callback's: the authors' code runs LS and the rest of training at 0.005 where
the paper's text says 0.01 (``experiment=babi_memn2n_10k`` does the same).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

FLAG = "softmax_enabled"


def set_softmax(module: Any, enabled: bool) -> int:
    """Set ``softmax_enabled`` on every submodule that has it; returns how many were set."""
    n = 0
    for sub in module.modules():
        if hasattr(sub, FLAG):
            setattr(sub, FLAG, enabled)
            n += 1
    return n


class LinearStart(L.Callback):
    """Train with linear (softmax-free) memory attention until validation loss stalls.

    Args:
        max_epochs: the most epochs spent linear (a cap for runs without validation).
        monitor: the logged validation loss to watch; if it is never logged, only
            ``max_epochs`` ends LS. ``None``: watch nothing, LS is ``max_epochs`` epochs long.
    """

    def __init__(self, max_epochs: int = 20, monitor: str | None = "val/loss") -> None:
        if max_epochs < 0:
            raise ValueError(f"max_epochs={max_epochs} must be >= 0")
        self.max_epochs = max_epochs
        self.monitor = monitor
        self.active = max_epochs > 0
        self.best: float | None = None
        self.ended_epoch: int | None = None
        self.warned = False
        self.pending = False  # LS has ended; the softmax goes back in at the next batch

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if set_softmax(pl_module, not self.active) == 0:
            raise ValueError(
                f"LinearStart needs a model with a '{FLAG}' flag (e.g. MemN2N); "
                f"{type(pl_module).__name__} has none. Remove the callback for this model."
            )

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if self.pending:
            self.pending = False
            set_softmax(pl_module, True)
            rank_zero_info(f"LinearStart: softmax re-inserted (LS ended in epoch {self.ended_epoch})")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After each real validation (metrics aggregated): end LS if the loss did not improve."""
        if not self.active or trainer.sanity_checking or self.monitor is None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if not self.warned:
                rank_zero_warn(f"LinearStart: '{self.monitor}' not logged; LS ends at max_epochs")
                self.warned = True
            return
        value = float(value)
        stalled = self.best is not None and value >= self.best
        self.best = value if self.best is None else min(self.best, value)
        if stalled:
            self._end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and trainer.current_epoch + 1 >= self.max_epochs:
            self._end(trainer, pl_module)

    def _end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active = False
        self.ended_epoch = trainer.current_epoch + 1
        self.pending = True

    def state_dict(self) -> dict[str, Any]:
        return {"active": self.active, "best": self.best, "ended_epoch": self.ended_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.active = state_dict["active"]
        self.best = state_dict["best"]
        self.ended_epoch = state_dict["ended_epoch"]
