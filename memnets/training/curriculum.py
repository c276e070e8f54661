"""The curriculum: one callback for every task with lessons (DESIGN §8; Graves et al., Nature
2016, Methods "Curriculum learning": lessons of ED Tables 3-5, thresholds in "Optimization").

The task's data module owns the lessons and draws the episodes (with the paper's 10% from
earlier lessons); this callback decides when to move on. What it reads from the data module
(duck-typed, so ``tasks`` never imports ``memnets``): ``lessons``, ``lesson`` (0-based),
``set_lesson(i)``, ``next_round()`` (fresh validation episodes), ``pass_metric``,
``pass_error``, ``val_episodes``, ``test_map_splits`` and ``test_map_dataloader(name)``. Data
modules without ``lessons`` leave the callback idle.

Every training step logs ``curriculum/lesson`` (1-based). After each validation: if
``pass_metric`` <= ``pass_error`` the lesson is passed: it is recorded with the global step,
training episodes so far and the round's validation metrics, each test map is evaluated (like
the "Test" column of ED Tables 3-5) and the next lesson starts; the last lesson's pass ends the
run (``stop_after_last``). The lesson and the record travel in checkpoints, so a resumed run
continues its lesson. While a curriculum is running, early stopping on a perfect validation
score is switched off: a solved early lesson is not a solved task.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

log = logging.getLogger("memnets")
ROUNDING = 1e-3  # far above float32's error on a rate over a few hundred episodes, far below 1


def passes(error: float, pass_error: float, episodes: int) -> bool:
    """Whether a validation error rate over ``episodes`` passes: decided on totals (DESIGN §9),
    the summed error (wrong episodes, or a sum of per-episode fractions) <= ``pass_error`` x
    ``episodes`` up to float32 rounding, so 5 wrong of 50 passes a 10% threshold although the
    logged float32 rate is a hair above 0.1, and a sum of fractions is not rounded to a count."""
    return error * episodes <= pass_error * episodes + ROUNDING


def validation_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The round's scalar validation metrics (per-group ones aside): what the lesson was passed
    with, kept in its record (e.g. mini-SHRDLU's outcome shares, Fig. 5b)."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()
            if k.startswith("val/") and "/group/" not in k and v.numel() == 1}


class Curriculum(pl.Callback):
    """Advance the data module's lessons at its threshold; see the module docstring."""

    def __init__(self, test_maps: bool = True, stop_after_last: bool = True) -> None:
        self.test_maps, self.stop_after_last = test_maps, stop_after_last
        self.lesson: int | None = None  # 0-based, None until the run starts or a checkpoint loads
        self.passed: list[dict[str, Any]] = []
        self.datamodule = None

    @staticmethod
    def has_lessons(datamodule) -> bool:
        return datamodule is not None and hasattr(datamodule, "lessons")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        if not self.has_lessons(dm):
            return
        self.datamodule = dm
        if self.lesson is None:
            self.lesson = dm.lesson
        dm.set_lesson(self.lesson)
        for cb in trainer.callbacks:
            if isinstance(cb, EarlyStopping) and cb.stopping_threshold is not None:
                cb.stopping_threshold = None  # see the module docstring

    def state_dict(self) -> dict[str, Any]:
        return {"lesson": self.lesson, "passed": list(self.passed)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.lesson = state_dict["lesson"]
        self.passed = list(state_dict["passed"])
        if self.datamodule is not None and self.lesson is not None:
            self.datamodule.set_lesson(self.lesson)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.datamodule is not None:
            self.datamodule.set_lesson(self.lesson)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args) -> None:
        if self.datamodule is not None:
            pl_module.log("curriculum/lesson", float(self.lesson + 1))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # on_validation_end, not ..._epoch_end: the module logs this round's metrics in its own
        # epoch-end hook, which Lightning calls after the callbacks'. Checkpoints are saved
        # after this (Lightning runs checkpoint callbacks last), so they hold the new lesson.
        dm = self.datamodule
        if dm is None or trainer.sanity_checking:
            return
        error = trainer.callback_metrics.get(dm.pass_metric)
        dm.next_round()
        if error is not None and passes(float(error), dm.pass_error, dm.val_episodes):
            self.pass_lesson(trainer, pl_module, float(error))

    def pass_lesson(self, trainer: pl.Trainer, pl_module: pl.LightningModule, error: float) -> None:
        """Record the pass (and the test maps' metrics), then move to the next lesson."""
        dm = self.datamodule
        record: dict[str, Any] = {
            "lesson": self.lesson + 1,
            "step": trainer.global_step,
            "episodes": trainer.global_step * dm.batch_size,
            dm.pass_metric: error,
            **validation_metrics(trainer),
        }
        if self.test_maps and hasattr(pl_module, "evaluate"):
            for name in dm.test_map_splits:
                loader = dm.test_map_dataloader(name)
                # a fast dev run checks the wiring on one batch, as Lightning does for its loops
                metrics = pl_module.evaluate(islice(loader, 1) if trainer.fast_dev_run else loader)
                record.update({f"{name}/{k}": v for k, v in metrics.items()})
        self.passed.append(record)
        log.info("curriculum: lesson %d passed at step %d (%s = %.3f)", self.lesson + 1,
                 trainer.global_step, dm.pass_metric, error)
        if self.lesson + 1 < len(dm.lessons):
            self.lesson += 1
            dm.set_lesson(self.lesson)
        elif self.stop_after_last:
            trainer.should_stop = True

    def record(self) -> dict[str, Any] | None:
        """What results.json keeps: the lesson reached and each pass (None without lessons)."""
        if self.datamodule is None:
            return None
        return {"lesson": self.lesson + 1, "lessons": len(self.datamodule.lessons),
                "completed": any(p["lesson"] == len(self.datamodule.lessons) for p in self.passed),
                "passed": self.passed}
