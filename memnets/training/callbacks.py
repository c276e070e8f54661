"""Lightning callbacks that keep a run recoverable."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning.pytorch as pl
import torch

from memnets.training.checkpoints import RUN_ID_KEY
from memnets.training.signals import RunInterrupted, StopRequest


class InterruptCheckpoint(pl.Callback):
    """On SIGINT (Ctrl-C) or SIGTERM, finish the current step, save ``interrupted.ckpt`` and stop
    with :class:`RunInterrupted`, so ``ckpt_path=<run dir>`` resumes at exactly that step.

    ``stop`` notes the signal (:class:`StopRequest`); ``run.py`` installs it for the whole run and
    this callback installs it again when fitting starts, over Lightning's own SIGTERM handler
    (which would only stop at the end of an epoch). A diverged run (NaN loss) saves nothing
    here: its last good checkpoint stays the newest.
    """

    def __init__(self, dirpath: str, stop: StopRequest | None = None) -> None:
        self.dirpath = Path(dirpath)
        self.stop = stop or StopRequest()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.stop.register()

    def _stop_if_asked(self, trainer: pl.Trainer) -> None:
        if self.stop.signal_name is None:
            return
        path = None
        if trainer.global_step > 0:
            path = self.dirpath / "interrupted.ckpt"
            trainer.save_checkpoint(path)
        raise RunInterrupted(self.stop.signal_name, trainer.global_step, path and str(path))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._stop_if_asked(trainer)  # a signal that came before training started

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_if_asked(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._stop_if_asked(trainer)


class RunIdentity(pl.Callback):
    """Put the run's id in every checkpoint, so a run resumed from one keeps its id."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[RUN_ID_KEY] = self.run_id


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
    """Fault injection: send this process ``signal`` (``SIGINT`` as Ctrl-C would, or ``SIGTERM`` as
    a scheduler would) just before training step ``at_step`` (``debug=interrupt``)."""

    def __init__(self, at_step: int = 5, signal: str = "SIGINT") -> None:
        self.at_step, self.signal = at_step, _signal_number(signal)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at_step:
            os.kill(os.getpid(), self.signal)


def _signal_number(name: str) -> int:
    try:
        return signal.Signals[name.upper()]
    except KeyError:
        raise ValueError(f"callbacks.inject_interrupt.signal={name!r}: use SIGINT or SIGTERM") from None
