"""Time per training epoch of a run configuration, timed on its own batches (issue 17).

    python -m memnets.perf.epoch_time experiment=babi_dnc_joint trainer=gpu \\
        [--steps 30] [--warmup 5] [--threads N] [--json FILE]

The bAbI recipes for a GPU (``configs/experiment/babi_{dnc,ntm,lstm,entnet}*.yaml``) state what
an epoch costs; this is how that figure is measured. The run's data module, model, optimizer
and trainer settings (gradient clipping, precision, accelerator) are built as ``run.py`` builds
them, from the same Hydra overrides. Lightning then fits ``warmup + steps`` batches of the
shuffled training set with validation, logging and checkpoints off, and a callback times every
step (after synchronising the GPU, if any). Batches differ in length (bAbI stories run from
tens to hundreds of words), and an epoch is their sum, so the epoch estimate is the MEAN step
time times the number of batches an epoch has, ``len(train_dataloader())``; the median is
printed beside it. The warm-up steps (allocator, cuDNN, first-call costs) are not counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from memnets.training.results import cpu_model


@dataclass(frozen=True)
class EpochTime:
    """One measurement: seconds per step over ``steps`` timed batches, and the epoch they imply."""

    overrides: tuple[str, ...]
    device: str
    threads: int
    steps: int
    steps_per_epoch: int
    mean_s_per_step: float
    median_s_per_step: float
    min_s_per_step: float
    max_s_per_step: float

    @property
    def epoch_s(self) -> float:
        """Estimated seconds per epoch: mean step time x batches an epoch."""
        return self.mean_s_per_step * self.steps_per_epoch

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "epoch_s": self.epoch_s}

    def line(self) -> str:
        what = " ".join(self.overrides) or "(defaults)"
        return (f"{what} on {self.device}: {self.epoch_s / 3600:.2f} h an epoch "
                f"({self.steps_per_epoch} steps x mean {self.mean_s_per_step * 1e3:.0f} ms; "
                f"median {self.median_s_per_step * 1e3:.0f} ms, min {self.min_s_per_step * 1e3:.0f}, "
                f"max {self.max_s_per_step * 1e3:.0f}; {self.steps} timed steps)")


class StepTimer(pl.Callback):
    """Wall time of each training step after the first ``warmup`` (GPU work included)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.times: list[float] = []
        self._seen = 0
        self._start = 0.0

    @staticmethod
    def _sync(pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self._sync(pl_module)
        self._seen += 1
        if self._seen > self.warmup:
            self.times.append(time.perf_counter() - self._start)


def timing_trainer(cfg: DictConfig, timer: StepTimer, total_steps: int) -> pl.Trainer:
    """The run's trainer settings, cut to ``total_steps`` batches with nothing but training."""
    with open_dict(cfg):
        cfg.trainer.max_steps = total_steps
        cfg.trainer.max_epochs = -1
        cfg.trainer.max_time = None
        cfg.trainer.limit_val_batches = 0
        cfg.trainer.enable_progress_bar = False
    return instantiate(cfg.trainer, logger=False, callbacks=[timer], enable_checkpointing=False)


def measure(overrides: list[str], *, steps: int, warmup: int, threads: int) -> EpochTime:
    """Build the run of ``overrides`` as ``run.py`` would and time ``steps`` training steps."""
    import run  # the repository's run.py: its build() is the one every run goes through
    from memnets.sweep.validate import compose_run

    torch.set_num_threads(threads)
    cfg = compose_run(overrides)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.run_dir = str(Path("outputs") / "epoch_time")
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, lit = run.build(cfg)
    timer = StepTimer(warmup)
    trainer = timing_trainer(cfg, timer, warmup + steps)
    trainer.fit(lit, datamodule=datamodule)
    if len(timer.times) < steps:
        raise RuntimeError(f"only {len(timer.times)} of {steps} steps were timed: training "
                           f"stopped at step {trainer.global_step} of {warmup + steps}")
    root = trainer.strategy.root_device  # lit.device is the CPU again once fit has returned
    device = torch.cuda.get_device_name(root) if root.type == "cuda" else cpu_model() or platform.machine()
    return EpochTime(
        overrides=tuple(overrides), device=device, threads=threads, steps=len(timer.times),
        steps_per_epoch=len(datamodule.train_dataloader()),
        mean_s_per_step=statistics.fmean(timer.times),
        median_s_per_step=statistics.median(timer.times),
        min_s_per_step=min(timer.times), max_s_per_step=max(timer.times),
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="+", help="Hydra overrides of run.py, e.g. "
                   "experiment=babi_dnc_joint trainer=gpu")
    p.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, default=None, help="append the result to this JSON list")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    result = measure(args.overrides, steps=args.steps, warmup=args.warmup, threads=args.threads)
    print(result.line())
    if args.json is not None:
        rows = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps([*rows, result.as_dict()], indent=1) + "\n")


if __name__ == "__main__":
    main()
