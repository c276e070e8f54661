"""Which weights a run is tested with: the model selected on validation.

The papers report the network chosen by validation error (Graves et al. 2016, Methods: "the
best network ... selected on the validation set"; Sukhbaatar et al. 2015 and Henaff et al. 2017
likewise pick by validation), so testing loads the checkpoint that the monitoring
``ModelCheckpoint`` kept, not the weights the last step left behind.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    """Path of the best-by-validation checkpoint (the first ``ModelCheckpoint`` with a
    ``monitor`` that saved one), or None when there is none (e.g. ``fast_dev_run``, no validation
    yet): the caller then tests the weights in memory and should say so."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor:
            path = callback.best_model_path
            if path and Path(path).is_file():
                return path
    return None
