"""Train and test one memory network on one task: ``python run.py model=dnc task=copy``.

``train(cfg)`` is the whole run (tests call it directly); ``main`` is the Hydra entry point.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from memnets.models.base import IncompatibleTaskError, check_compatible, choose_granularity
from memnets.training.lit_module import DivergedError, MemNetLitModule, count_parameters
from memnets.training.results import code_version, hardware_info, write_results
from memnets.training.runtime import register_resolvers, resolve_ckpt_path, save_memory_trace
from memnets.training.selection import best_checkpoint

log = logging.getLogger("memnets")
register_resolvers()


class RunError(RuntimeError):
    """A problem with the run's inputs; the message says what to change."""


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, MemNetLitModule]:
    """The task's data module, then the model for the task's spec, inside the LightningModule.

    ``task.granularity=auto`` is resolved here, from the task class's ``GRANULARITIES`` (its
    order of preference) and the model's, and written back into ``cfg`` for the results record.
    """
    model_cls = get_class(cfg.model._target_)
    try:
        if cfg.task.get("granularity") == "auto":
            offered = tuple(getattr(get_class(cfg.task._target_), "GRANULARITIES", ()))
            with open_dict(cfg):
                cfg.task.granularity = choose_granularity(model_cls, offered)
        datamodule = instantiate(cfg.task)
        check_compatible(model_cls, datamodule.spec)
    except IncompatibleTaskError as err:
        raise RunError(f"model={_choice(cfg, 'model')} task={_choice(cfg, 'task')}: {err}") from None
    # spec is passed after instantiation: Hydra would turn a dataclass argument into a DictConfig.
    model = instantiate(cfg.model, _partial_=True)(spec=datamodule.spec)
    lit = MemNetLitModule(
        model,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.scheduler else None,
        scheduler_interval=cfg.scheduler_interval,
        test_split_names=datamodule.test_split_names,
    )
    return datamodule, lit


def _choice(cfg: DictConfig, group: str) -> str:
    """The config-group option chosen for ``group`` (e.g. ``dnc``), else the class path."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
    if choices is None and HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    return str((choices or {}).get(group) or cfg[group].get("_target_", group))


def _instantiate_dict(section: DictConfig | None) -> list[Any]:
    return [instantiate(c) for c in (section or {}).values() if c is not None]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test on every test split, write ``results.json``; returns the results record."""
    start = time.time()
    run_dir = Path(cfg.run_dir)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, lit = build(cfg)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, logger=_instantiate_dict(cfg.logger) or False,
        callbacks=_instantiate_dict(cfg.callbacks),
    )
    status, message, tested = "completed", None, None
    metrics: dict[str, float] = {}
    try:
        trainer.fit(lit, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.ckpt_path))
        metrics.update(_final_metrics(trainer))
        if trainer.interrupted:
            status = "interrupted"
        else:
            tested = best_checkpoint(trainer)  # the model selected on validation (issue 17)
            trainer.test(lit, datamodule=datamodule, ckpt_path=tested, verbose=False)
            metrics.update(_final_metrics(trainer))
    except DivergedError as err:
        status, message = "diverged", str(err)
        metrics.update(_final_metrics(trainer))
        log.error("run diverged: %s", err)
    except (KeyboardInterrupt, SystemExit):
        status, message = "interrupted", "stopped by the user (Ctrl-C)"
    record = {
        "status": status,
        "message": message,
        "model": _choice(cfg, "model"),
        "task": _choice(cfg, "task"),
        "seed": cfg.seed,
        "metrics": metrics,
        "optimized_metric": cfg.optimized_metric,
        "objective": metrics.get(cfg.optimized_metric),
        "n_params": count_parameters(lit.model),
        "global_step": trainer.global_step,
        "epochs": trainer.current_epoch,  # epochs begun (the budget column of reports)
        "wall_time_s": round(time.time() - start, 2),
        "hardware": hardware_info(),
        "code_version": code_version(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "data": datamodule.record() if hasattr(datamodule, "record") else {},
        "checkpoint_dir": "checkpoints",
        "tested_checkpoint": tested,  # None: tested with the weights in memory
        "metrics_csv": "csv/metrics.csv" if (run_dir / "csv/metrics.csv").exists() else None,
    }
    if trainer.is_global_zero:
        if status == "completed" and cfg.memory_picture:
            record["memory_picture"] = save_memory_trace(lit.model, datamodule, run_dir)
        path = write_results(run_dir, record)
        log.info("status %s; results in %s", status, path)
    if status == "interrupted":
        raise KeyboardInterrupt
    return record


def _final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    torch.set_float32_matmul_precision("high")
    try:
        record = train(cfg)
    except (RunError, InstantiationException, FileNotFoundError) as err:
        log.error("%s", err)
        sys.exit(2)
    except KeyboardInterrupt:
        log.warning("interrupted: results.json has status 'interrupted'; resume with "
                    "ckpt_path=%s", cfg.run_dir)
        sys.exit(130)
    if record["status"] == "diverged":
        sys.exit(3)
    objective = record["objective"]
    return None if objective is None else float(objective)


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    main()
