"""Lightning callbacks that keep a run recoverable."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch


class InterruptCheckpoint(pl.Callback):
    """On Ctrl-C, save ``interrupted.ckpt`` so ``ckpt_path=<run dir>`` can resume the run.

    A diverged run (NaN loss) saves nothing here: its last good checkpoint stays the newest.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.global_step > 0:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(self.dirpath / "interrupted.ckpt")


class InjectNaN(pl.Callback):
    """Fault injection for checking divergence handling: poison one parameter with NaN just
    before training step ``at_step`` (``debug=diverge``). Never part of a real run."""

    def __init__(self, at_step: int = 5) -> None:
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at_step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))


class InjectInterrupt(pl.Callback):
    """Fault injection: raise ``KeyboardInterrupt`` (as Ctrl-C would) at step ``at_step``."""

    def __init__(self, at_step: int = 5) -> None:
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at_step:
            raise KeyboardInterrupt
