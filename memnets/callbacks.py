"""Lightning callbacks that keep a run recoverable."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl


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
