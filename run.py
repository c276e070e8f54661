"""Train and test one memory network on one task: ``python run.py model=dnc task=copy``.

``train(cfg)`` is the whole run (tests call it directly); ``main`` is the Hydra entry point.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from memnets.models.base import (
    IncompatibleTaskError,
    RecurrentMemoryNetwork,
    check_compatible,
    granularity_for,
)
from memnets.training.actor_critic import ActorCriticModule, value_spec
from memnets.training.callbacks import InterruptCheckpoint, RunIdentity
from memnets.training.checkpoints import CHECKPOINT_DIR, AtomicCheckpointIO, resolve_resume
from memnets.training.lit_module import DivergedError, MemNetLitModule, count_parameters
from memnets.training.results import (
    code_version,
    earlier_segments,
    hardware_info,
    write_results,
)
from memnets.training.run_folder import (
    METRICS_LOG,
    claim,
    is_secondary_rank,
    keep_earlier_metrics,
    new_run_id,
    resumes_in_place,
    update_claim,
)
from memnets.training.runtime import (
    RunError,
    check_setting_types,
    one_line,
    register_resolvers,
    save_memory_trace,
)
from memnets.training.selection import best_checkpoint
from memnets.training.signals import RunInterrupted, StopRequest

log = logging.getLogger("memnets")
register_resolvers()


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule]:
    """The task's data module, then the model for the task's spec, inside the LightningModule
    (:class:`MemNetLitModule`, or :class:`ActorCriticModule` with ``training=rl``).

    ``task.granularity=auto`` is resolved here, from the task class's ``GRANULARITIES`` (its
    order of preference) and the model's, and written back into ``cfg`` for the results record.
    """
    model_cls = get_class(cfg.model._target_)
    task_cls = get_class(cfg.task._target_)
    check_setting_types(model_cls, _settings(cfg.model), "model")
    check_setting_types(task_cls, _settings(cfg.task), "task")
    try:
        if cfg.task.get("granularity") == "auto":
            with open_dict(cfg):
                cfg.task.granularity = granularity_for(model_cls, task_cls)
        datamodule = _construct(cfg, "task", lambda: instantiate(cfg.task))
        check_compatible(model_cls, datamodule.spec)
        _check_training(cfg, model_cls, datamodule)
        closed_loop = getattr(datamodule, "closed_loop", None)
        if closed_loop is not None and not issubclass(model_cls, RecurrentMemoryNetwork):
            raise IncompatibleTaskError(f"{model_cls.__name__} cannot step one input at a time, and "
                                        "this task answers in a closed loop; pick a recurrent model")
    except IncompatibleTaskError as err:
        raise RunError(f"model={_choice(cfg, 'model')} task={_choice(cfg, 'task')}: {err}") from None
    rl = _training_mode(cfg) == "rl"
    spec = value_spec(datamodule.spec) if rl else datamodule.spec
    # spec is passed after instantiation: Hydra would turn a dataclass argument into a DictConfig.
    model = _construct(cfg, "model", lambda: instantiate(cfg.model, _partial_=True)(spec=spec))
    optimizer = _checked_optimizer(cfg, model)
    if rl:
        datamodule.rollouts = True  # training batches are episodes to replay in the environment
        settings = {k: v for k, v in _settings(cfg.training).items() if k != "mode"}
        lit = _construct(cfg, "training", lambda: ActorCriticModule(
            model, optimizer, datamodule.make_env, closed_loop, actions=datamodule.spec.num_classes,
            test_split_names=datamodule.test_split_names, **settings))
        return datamodule, lit
    lit = MemNetLitModule(
        model,
        optimizer=optimizer,
        scheduler=_construct(cfg, "scheduler", lambda: instantiate(cfg.scheduler))
        if cfg.scheduler else None,
        scheduler_interval=cfg.scheduler_interval,
        test_split_names=datamodule.test_split_names,
        closed_loop=closed_loop,
    )
    return datamodule, lit


def _training_mode(cfg: DictConfig) -> str:
    """``imitation`` (supervised, the default) or ``rl`` (``training=rl``: actor-critic)."""
    return str(OmegaConf.select(cfg, "training.mode", default="imitation"))


def _check_training(cfg: DictConfig, model_cls: type, datamodule: pl.LightningDataModule) -> None:
    """Raise :class:`IncompatibleTaskError` unless ``training=rl`` has an environment to act in
    (the task's ``make_env``) and a model that steps."""
    if _training_mode(cfg) != "rl":
        return
    if not hasattr(datamodule, "make_env") or getattr(datamodule, "closed_loop", None) is None:
        raise IncompatibleTaskError("training=rl needs a task with an environment to act in "
                                    "(task=shrdlu); this one has none")
    if not issubclass(model_cls, RecurrentMemoryNetwork):
        raise IncompatibleTaskError(f"{model_cls.__name__} cannot step one observation at a time; "
                                    "training=rl needs a recurrent model")


def _settings(section: DictConfig) -> dict[str, Any]:
    return {k: v for k, v in OmegaConf.to_container(section, resolve=True).items()
            if not k.startswith("_")}


def _construct(cfg: DictConfig, group: str, make: Callable[[], Any]) -> Any:
    """``make()``; an error from a constructor (a bad setting) becomes a one-line :class:`RunError`
    naming the config group, with the constructor's own message."""
    try:
        return make()
    except RunError:
        raise
    except Exception as err:  # noqa: BLE001 - any constructor error is a settings error here
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ else err
        log.debug("building %s failed", group, exc_info=True)
        choice = _choice(cfg, group) if group in ("model", "task") else cfg[group].get("_target_")
        given = _overrides_of(group)
        hint = f" (your overrides there: {' '.join(given)})" if given else ""
        raise RunError(f"{group}={choice} could not be built: {one_line(cause)}{hint}") from err


def _overrides_of(group: str) -> list[str]:
    """The command-line overrides that set keys of ``group`` (``optimizer.lr=abc``)."""
    if not HydraConfig.initialized():
        return []
    overrides = HydraConfig.get().overrides.task or []
    return [o for o in overrides if o.lstrip("+~").startswith(f"{group}.")]


def _checked_optimizer(cfg: DictConfig, model: torch.nn.Module) -> Callable[..., Any]:
    """The optimizer factory, tried once on the model's parameters so a bad setting
    (``optimizer.lr=abc``) fails at start-up like any other, not inside the training loop."""
    factory = _construct(cfg, "optimizer", lambda: instantiate(cfg.optimizer))
    _construct(cfg, "optimizer", lambda: factory(model.parameters()))
    return factory


def _choice(cfg: DictConfig, group: str) -> str:
    """The config-group option chosen for ``group`` (e.g. ``dnc``), else the class path."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
    if choices is None and HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    return str((choices or {}).get(group) or cfg[group].get("_target_", group))


def _instantiate_dict(section: DictConfig | None) -> list[Any]:
    return [instantiate(c) for c in (section or {}).values() if c is not None]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test on every test split, write ``results.json``; returns the results record.

    Every run that claimed its folder leaves a record: ``completed``, ``diverged``,
    ``interrupted`` (SIGINT/SIGTERM: then :class:`RunInterrupted` is raised after the record is
    written) or ``failed`` (the error is raised again after the record is written).
    """
    run = RunState(run_dir=Path(cfg.run_dir), run_id=new_run_id(), start=time.time())
    in_place = resumes_in_place(run.run_dir, cfg.get("ckpt_path"))
    if in_place:  # its record is overwritten below: keep what it says the earlier segments took
        run.earlier = earlier_segments(run.run_dir)
    run.in_place = in_place
    if not is_secondary_rank(cfg.trainer):
        claim(run.run_dir, run.run_id, in_place=in_place)
    stop = StopRequest()
    with stop.installed():
        try:
            _fit_and_test(cfg, run, stop)
        except DivergedError as err:
            run.status, run.message = "diverged", str(err)
            log.error("run diverged: %s", err)
        except RunInterrupted as err:
            run.status, run.message, run.error = "interrupted", str(err), err
        except (KeyboardInterrupt, SystemExit):  # a second Ctrl-C (Lightning exits on it)
            run.error = RunInterrupted(stop.signal_name or "SIGINT", _step(run), None)
            run.status, run.message = "interrupted", f"{run.error} (stopped mid-step)"
        except Exception as err:  # noqa: BLE001 - recorded, then raised again
            message = str(err) if isinstance(err, RunError) else one_line(err)
            run.status, run.message, run.error = "failed", message, err
        finally:
            record = _record(cfg, run)
    if run.error is not None:
        raise run.error
    return record


@dataclass
class RunState:
    """What ``train`` knows so far; the record is built from it however far the run got."""

    run_dir: Path
    run_id: str
    start: float
    status: str = "completed"
    message: str | None = None
    error: BaseException | None = None
    resumed_from: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    trainer: pl.Trainer | None = None
    lit: MemNetLitModule | None = None
    datamodule: pl.LightningDataModule | None = None
    tested: str | None = None  # the checkpoint the tests loaded (None: the weights in memory)
    earlier: dict[str, Any] = field(default_factory=dict)  # run_id, wall_time_s, segments
    in_place: bool = False  # resumed in its own folder


def _fit_and_test(cfg: DictConfig, run: RunState, stop: StopRequest) -> None:
    resume = resolve_resume(cfg.ckpt_path)
    if resume is not None:
        run.resumed_from = resume.path
        run.run_id = resume.run_id or run.run_id
        if not is_secondary_rank(cfg.trainer):
            update_claim(run.run_dir, run.run_id)
            if run.in_place:  # the CSV logger would start its file afresh
                keep_earlier_metrics(run.run_dir, resume.global_step)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True)
    run.datamodule, run.lit = build(cfg)
    callbacks = _instantiate_dict(cfg.callbacks)
    interrupts = [c for c in callbacks if isinstance(c, InterruptCheckpoint)]
    if not interrupts:  # a signal must stop the run whatever the callbacks config says
        interrupts = [InterruptCheckpoint(str(run.run_dir / CHECKPOINT_DIR))]
        callbacks.append(interrupts[0])
    for callback in interrupts:
        callback.stop = stop
    run.trainer = _construct(cfg, "trainer", lambda: instantiate(
        cfg.trainer, logger=_instantiate_dict(cfg.logger) or False,
        callbacks=[*callbacks, RunIdentity(run.run_id)], plugins=[AtomicCheckpointIO()],
    ))
    run.trainer.fit(run.lit, datamodule=run.datamodule, ckpt_path=resume and resume.path)
    run.metrics.update(_final_metrics(run.trainer))
    if stop.signal_name is not None:  # came as fitting ended: save its end, skip the tests
        path = run.run_dir / CHECKPOINT_DIR / "interrupted.ckpt"
        run.trainer.save_checkpoint(path)
        raise RunInterrupted(stop.signal_name, run.trainer.global_step, str(path))
    # the model selected on validation (issue 17); a curriculum's validation error compares
    # different lessons, so a curriculum run is tested with its last weights
    run.tested = None if _curriculum_record(run.trainer) else best_checkpoint(run.trainer)
    run.trainer.test(run.lit, datamodule=run.datamodule, ckpt_path=run.tested, verbose=False)
    run.metrics.update(_final_metrics(run.trainer))


def _step(run: RunState) -> int:
    return run.trainer.global_step if run.trainer is not None else 0


def _wall_time(run: RunState) -> dict[str, Any]:
    """``wall_time_s`` and ``segments`` of the whole run: this process's time plus that of the
    earlier segments recorded in the same folder by the same run (a resume in place)."""
    own = time.time() - run.start
    earlier = run.earlier if run.earlier.get("run_id") == run.run_id else {}
    return {"wall_time_s": round(own + float(earlier.get("wall_time_s") or 0.0), 2),
            "segments": int(earlier.get("segments") or 1) + 1 if earlier else 1}


def _record(cfg: DictConfig, run: RunState) -> dict[str, Any]:
    """Build ``results.json`` from however far the run got, and write it (rank zero only)."""
    if run.trainer is not None and run.status != "failed":
        run.metrics.update(_final_metrics(run.trainer))
    csv = run.run_dir / METRICS_LOG
    record = {
        "status": run.status,
        "message": run.message,
        "run_id": run.run_id,
        "resumed_from": run.resumed_from,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": _choice(cfg, "model"),
        "task": _choice(cfg, "task"),
        "seed": cfg.seed,
        "metrics": run.metrics,
        "optimized_metric": cfg.optimized_metric,
        "objective": run.metrics.get(cfg.optimized_metric),
        "n_params": count_parameters(run.lit.model) if run.lit is not None else None,
        "global_step": _step(run),
        # epochs begun (the budget column of reports)
        "epochs": run.trainer.current_epoch if run.trainer is not None else 0,
        # a run resumed in its own folder counts the segments before this one (same run_id)
        **_wall_time(run),
        "hardware": hardware_info(),
        "code_version": code_version(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "data": run.datamodule.record() if hasattr(run.datamodule, "record") else {},
        "curriculum": _curriculum_record(run.trainer) if run.trainer is not None else None,
        "checkpoint_dir": "checkpoints",
        "tested_checkpoint": run.tested,  # None: tested with the weights in memory
        "metrics_csv": METRICS_LOG.as_posix() if csv.exists() else None,
    }
    if run.trainer.is_global_zero if run.trainer is not None else not is_secondary_rank(cfg.trainer):
        if run.status == "completed" and cfg.memory_picture:
            record["memory_picture"] = save_memory_trace(run.lit.model, run.datamodule, run.run_dir)
        path = write_results(run.run_dir, record)
        log.info("status %s; results in %s", run.status, path)
    return record


def _curriculum_record(trainer: pl.Trainer) -> dict[str, Any] | None:
    """The curriculum callback's record (lesson reached, step of each pass), if it ran one."""
    records = [cb.record() for cb in trainer.callbacks if hasattr(cb, "record")]
    return next((r for r in records if r is not None), None)


def _final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Exit codes: 0 completed, 2 bad inputs (one line on stderr), 3 diverged, 130 SIGINT,
    143 SIGTERM, 1 any other failure; every run that claimed its folder has a results.json."""
    torch.set_float32_matmul_precision("high")
    try:
        record = train(cfg)
    except RunError as err:
        log.error("%s", err)
        sys.exit(2)
    except RunInterrupted as err:
        log.warning("interrupted (%s): results.json has status 'interrupted'; resume with "
                    "ckpt_path=%s", err, cfg.run_dir)
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001
        log.exception("run failed: %s (results.json has status 'failed')", one_line(err))
        sys.exit(1)
    if record["status"] == "diverged":
        sys.exit(3)
    objective = record["objective"]
    return None if objective is None else float(objective)


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    main()
