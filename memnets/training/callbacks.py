"""Lightning callbacks that keep a run recoverable."""

from __future__ import annotations

import logging
import math
import os
import signal
from pathlib import Path

import lightning.pytorch as pl
import torch

from memnets.training.checkpoints import RUN_ID_KEY
from memnets.training.lit_module import DivergedError
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


log = logging.getLogger("memnets")


class SkipNonFiniteGradients(pl.Callback):
    """A step whose gradient overflowed (a non-finite norm) updates nothing, as mixed-precision
    loss scaling does; ``max_in_a_row`` such steps in a row stop the run as diverged.

    Why: back-propagation through many memory steps can grow the gradient geometrically (the
    NTM's sharpening multiplies it by up to γ_t per step through w_{t-1}, Graves et al. 2014
    eq. 9). A norm that overflows float32 cannot be clipped: norm clipping scales by 10/inf = 0
    and 0 x inf is NaN, so one such batch used to turn every weight into NaN (the word-level
    NTM on bAbI at step 3,402: 2e12 at step 3,400, inf two steps later). Clipping still bounds
    every finite gradient; this only drops the batches that clipping cannot mend. The count is
    logged as ``train/skipped_steps`` (in ``results.json``) and kept in checkpoints.
    """

    def __init__(self, max_in_a_row: int = 20) -> None:
        self.max_in_a_row = max_in_a_row
        self.skipped = 0
        self.in_a_row = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads:
            return
        norm = float(torch.nn.utils.get_total_norm(grads))
        if math.isfinite(norm):
            self.in_a_row = 0
            return
        self.skipped += 1
        self.in_a_row += 1
        log.warning("step %d: gradient norm %s, the step updates nothing (%d skipped so far)",
                    trainer.global_step, norm, self.skipped)
        if self.in_a_row >= self.max_in_a_row:
            raise DivergedError(f"{self.in_a_row} steps in a row with a non-finite gradient at "
                                f"step {trainer.global_step}; the run stops and keeps its last "
                                "good checkpoint")
        for p in pl_module.parameters():
            p.grad = None  # the optimiser leaves a parameter without a gradient untouched

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.log("train/skipped_steps", float(self.skipped), on_step=True, on_epoch=False,
                      batch_size=1)

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped, "in_a_row": self.in_a_row}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))
        self.in_a_row = int(state_dict.get("in_a_row", 0))
