"""run.train end to end: every compatible pair runs; results.json tells what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import get_class, instantiate

from memnets.training.signals import RunInterrupted
from run import build, train
from tests.conftest import MODEL_NAMES, REPO, TASK_NAMES, compose_cfg

SHORT = ["trainer.max_steps=30", "trainer.val_check_interval=10", "task.val_size=32",
         "task.test_size=32"]


def compatible_pairs() -> list[tuple[str, str]]:
    """Every model x generated task whose granularity the model reads. Tasks that read real data
    (a ``data_dir`` setting) are run for every model by their own tests with that data."""
    pairs = []
    for task in TASK_NAMES:
        task_cfg = compose_cfg([f"task={task}"]).task
        if "data_dir" in task_cfg:
            continue
        for model in MODEL_NAMES:
            cls = get_class(compose_cfg([f"model={model}"]).model._target_)
            granularity = task_cfg.get("granularity", "step")
            if granularity in cls.SUPPORTED_GRANULARITIES:
                pairs.append((model, task))
    return pairs


@pytest.mark.parametrize("model, task", compatible_pairs())
def test_fast_dev_run_every_compatible_pair(model, task, make_cfg):
    record = train(make_cfg(f"model={model}", f"task={task}", "debug=fdr"))
    assert record["status"] == "completed"
    assert record["global_step"] == 1


def test_completed_run_writes_results_checkpoint_and_metrics(make_cfg, tmp_path):
    cfg = make_cfg("model=lstm", "task=copy", *SHORT)
    record = train(cfg)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "completed" and record["global_step"] == 30
    # the recorded test metrics are the tested checkpoint's: evaluate it again, independently
    datamodule, lit = build(cfg)
    lit.load_state_dict(torch.load(saved["tested_checkpoint"], weights_only=False)["state_dict"])
    again = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    again.test(lit, datamodule=datamodule, verbose=False)
    keys = [f"{split}/{m}" for split in ("test", "test_2x", "test_4x")
            for m in ("error", "bit_errors", "loss")] + ["test_2x/group/len11-20/error"]
    for key in keys:
        assert saved["metrics"][key] == pytest.approx(float(again.callback_metrics[key]), abs=1e-6)
    # after 30 steps an LSTM copies no sequence perfectly, and longer sequences cost more bits
    assert saved["metrics"]["test/error"] > 0.5
    assert saved["metrics"]["test_4x/bit_errors"] > saved["metrics"]["test/bit_errors"] > 0
    assert saved["n_params"] == sum(p.numel() for p in instantiate(
        cfg.model, _partial_=True)(spec=instantiate(cfg.task).spec).parameters())
    assert saved["config"]["model"]["_target_"] == "memnets.models.lstm.LSTMBaseline"
    assert saved["model"] == "lstm" and saved["task"] == "copy"
    assert saved["wall_time_s"] > 0 and saved["hardware"]["torch"] == torch.__version__
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()


def test_nan_loss_stops_as_diverged_and_keeps_the_last_good_checkpoint(make_cfg, tmp_path):
    cfg = make_cfg("model=lstm", "task=copy", "debug=diverge", "callbacks.inject_nan.at_step=25",
                   *SHORT)
    record = train(cfg)
    assert record["status"] == "diverged" and "nan" in record["message"].lower()
    assert record["global_step"] == 25
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "diverged"
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 20  # the validation before the NaN
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_nan_loss_on_another_rank_stops_this_one_as_diverged(make_cfg, monkeypatch):
    """DDP ranks decide together (reduce_boolean_decision, all=True): a rank whose own loss is
    finite stops as diverged when another rank's is not, instead of waiting in an all-reduce
    the stopped rank never joins. Here the strategy answers as if another rank saw NaN at 25."""
    real = pl.strategies.SingleDeviceStrategy.reduce_boolean_decision

    def another_rank_nan(self, decision, all=True):
        return real(self, decision, all) and self.lightning_module.global_step != 25

    monkeypatch.setattr(pl.strategies.SingleDeviceStrategy, "reduce_boolean_decision",
                        another_rank_nan)
    record = train(make_cfg("model=lstm", "task=copy", *SHORT))
    assert record["status"] == "diverged" and "another rank" in record["message"]
    assert record["global_step"] == 25


RESUME = ["model=lstm", "task=copy", "task.train_size=160", "trainer.max_steps=30",
          "trainer.val_check_interval=10", "task.val_size=32", "task.test_size=32",
          "memory_picture=false"]  # 10 batches an epoch: step 15 is mid-epoch 1


def _weights(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_saves_the_current_step_and_resuming_matches_an_unbroken_run(signal_name, tmp_path):
    """SIGINT (Ctrl-C) and SIGTERM (a scheduler) both stop after the current step with a checkpoint
    of it; the resumed run continues mid-epoch, data position included, and ends with the same
    weights and test metrics as a run that never stopped."""
    unbroken = train(compose_cfg(RESUME, run_dir=tmp_path / "unbroken"))
    stopped_dir = tmp_path / "stopped"
    with pytest.raises(RunInterrupted) as stop:
        train(compose_cfg([*RESUME, "debug=interrupt", "callbacks.inject_interrupt.at_step=15",
                           f"callbacks.inject_interrupt.signal={signal_name}"], run_dir=stopped_dir))
    assert stop.value.exit_code == {"SIGINT": 130, "SIGTERM": 143}[signal_name]
    saved = json.loads((stopped_dir / "results.json").read_text())
    assert saved["status"] == "interrupted" and signal_name in saved["message"]
    assert saved["global_step"] == 16  # step 15 finished, then the stop
    ckpt = torch.load(stopped_dir / "checkpoints" / "interrupted.ckpt", weights_only=False)
    assert ckpt["global_step"] == 16
    resumed = train(compose_cfg([*RESUME, f"ckpt_path={stopped_dir}"], run_dir=tmp_path / "resumed"))
    assert resumed["status"] == "completed" and resumed["global_step"] == 30
    assert resumed["run_id"] == saved["run_id"] != unbroken["run_id"]
    assert resumed["resumed_from"].endswith("interrupted.ckpt")
    for key in ("test/loss", "test/error", "test_2x/loss", "val/loss"):
        assert resumed["metrics"][key] == unbroken["metrics"][key], key
    a, b = _weights(tmp_path / "unbroken"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_lstm_learns_short_copies(make_cfg):
    record = train(make_cfg(
        "model=lstm", "task=copy", "task.bits=4", "task.max_length=5", "task.test_size=256",
        "trainer.max_steps=2000", "trainer.val_check_interval=500", "optimizer.lr=5e-3",
        "logger=none", "memory_picture=false",
    ))
    assert record["status"] == "completed"
    assert record["metrics"]["test/bit_errors"] < 0.25, record["metrics"]


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "run.py", "model=lstm", "task=copy", "trainer=ddp", "trainer.devices=2",
         "trainer.accelerator=cpu", *SHORT, "logger=none", f"hydra.run.dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"] == "completed"
    assert record["config"]["trainer"]["strategy"] == "ddp"
    assert "world_size=2" in proc.stderr + proc.stdout or "MEMBER: 2/2" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_wandb_logger_works_offline_without_an_account(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    record = train(make_cfg("model=lstm", "task=copy", "logger=wandb", *SHORT))
    assert record["status"] == "completed"
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def dnc_extension_overrides() -> list[str]:
    from memnets.models.layers import CONTROLLERS
    from memnets.ops.allocation import ALLOCATION_MODES
    from memnets.ops.content import DISTANCES

    return ([f"model.distance={d}" for d in DISTANCES]
            + [f"model.allocation={a}" for a in ALLOCATION_MODES]
            + [f"model.controller={c}" for c in CONTROLLERS]
            + ["model.sparse_link_k=8"])


@pytest.mark.parametrize("override", dnc_extension_overrides())
def test_dnc_extension_switches_train_through_run(override, make_cfg):
    """Every distance, allocation mode, controller and the sparse link trains via run.py's path
    (finite loss)."""
    record = train(make_cfg("model=dnc", "task=copy", override, "trainer.max_steps=3",
                            "trainer.val_check_interval=3", "task.val_size=16", "task.test_size=16",
                            "logger=none"))
    assert record["status"] == "completed" and record["global_step"] == 3
    assert record["metrics"]["test/loss"] == record["metrics"]["test/loss"]  # not NaN


class SpoilWeightsAtEnd(pl.Callback):
    """Ruins the weights after the last validation, so only the saved best checkpoint is good."""

    def on_train_end(self, trainer, pl_module) -> None:
        with torch.no_grad():
            for p in pl_module.parameters():
                p.add_(50.0)


def test_testing_uses_the_best_validation_checkpoint_not_the_last_weights(make_cfg, tmp_path):
    """Issue 17, defect 3: papers report the model selected on validation."""
    cfg = make_cfg("model=lstm", "task=copy", *SHORT,
                   "+callbacks.spoil._target_=tests.training.test_train.SpoilWeightsAtEnd")
    record = train(cfg)
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert record["status"] == "completed" and best.is_file()
    # weights shifted by +50 saturate every logit (BCE far above log 2); the checkpoint's do not
    assert record["metrics"]["test/loss"] < 1.0
    assert record["tested_checkpoint"] == str(best)
