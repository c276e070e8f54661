"""Every run leaves a truthful record: its own folder, ``failed`` with the error for a crash,
one clean line and exit code 2 for a bad setting, checkpoints that a full disk cannot truncate."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from memnets.training import checkpoints
from memnets.training.checkpoints import AtomicCheckpointIO, resolve_resume
from memnets.training.lit_module import MemNetLitModule
from memnets.training.run_folder import CLAIM_FILE, RANK_VARIABLES, claim, is_secondary_rank
from memnets.training.runtime import RunError, run_stamp
from memnets.training.signals import RunInterrupted
from run import train
from tests.conftest import REPO

TINY = ["model=lstm", "task=copy", "trainer.max_steps=20", "trainer.val_check_interval=10",
        "task.val_size=16", "task.test_size=16", "logger=none", "memory_picture=false"]


def run_py(*overrides: str, cwd: Path, wait: bool = True):
    cmd = [sys.executable, str(REPO / "run.py"), *overrides]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


# ---------------------------------------------------------------- case 1: run folders

def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    procs = [run_py(*TINY, "trainer.max_steps=2", cwd=tmp_path, wait=False) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        # the folder check ran on the default dir (it used to fail to resolve it)
        assert "HydraConfig was not set" not in err
    folders = sorted((tmp_path / "outputs" / "copy" / "lstm").iterdir())
    assert len(folders) == 2, folders
    ids = {json.loads((f / "results.json").read_text())["run_id"] for f in folders}
    assert len(ids) == 2
    assert run_stamp() != run_stamp()  # same millisecond still differs (random suffix)


def test_a_run_refuses_a_folder_that_holds_another_run(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    before = json.dumps({"status": "completed", "run_id": "earlier-run"})
    (taken / "results.json").write_text(before)
    code, output = run_py(*TINY, f"hydra.run.dir={taken}", cwd=tmp_path)
    assert code == 2
    assert f"run folder {taken} is taken by run earlier-run" in output
    assert sorted(p.name for p in taken.iterdir()) == ["results.json"]  # nothing written there
    assert (taken / "results.json").read_text() == before


def test_a_run_refuses_a_taken_folder_named_with_hydra_interpolations(tmp_path):
    """``hydra.run.dir`` may use ``${hydra:...}`` like the default does; the folder check must
    resolve it before Hydra writes its files there (it used to raise "HydraConfig was not set",
    which Hydra logs as a warning, and go on into the other run's folder)."""
    taken = tmp_path / "runs" / "copy"
    taken.mkdir(parents=True)
    (taken / "results.json").write_text(json.dumps({"status": "completed", "run_id": "earlier"}))
    code, output = run_py(*TINY, f"hydra.run.dir={tmp_path}/runs/${{hydra:runtime.choices.task}}",
                          cwd=tmp_path)
    assert code == 2 and f"run folder {taken} is taken by run earlier" in output
    assert sorted(p.name for p in taken.iterdir()) == ["results.json"]  # no .hydra/, no log


def test_the_claim_is_exclusive(tmp_path):
    claim(tmp_path / "run", "first")
    with pytest.raises(RunError, match="taken by run first"):
        claim(tmp_path / "run", "second")
    assert json.loads((tmp_path / "run" / CLAIM_FILE).read_text())["run_id"] == "first"


# ---------------------------------------------------------------- case 2: signals

def test_sigterm_ends_run_py_with_exit_143_an_interrupted_record_and_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    code, output = run_py(*TINY, "debug=interrupt", "callbacks.inject_interrupt.signal=SIGTERM",
                          f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert code == 143, output[-2000:]
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "interrupted"
    assert record["message"].startswith("stopped by SIGTERM at step 6; checkpoint ")
    assert torch.load(run_dir / "checkpoints" / "interrupted.ckpt",
                      weights_only=False)["global_step"] == 6
    assert f"resume with ckpt_path={run_dir}" in output


def test_a_run_resumed_in_its_own_folder_keeps_the_folder_and_its_id(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        train(make_cfg(*TINY, "debug=interrupt", "~callbacks.interrupt"))  # works without it
    first = json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "checkpoints" / "interrupted.ckpt").is_file()
    record = train(make_cfg(*TINY, f"ckpt_path={run_dir}"))
    assert record["status"] == "completed" and record["run_id"] == first["run_id"]
    # the budget is the whole run's: the first segment's time is counted, not overwritten
    assert first["segments"] == 1 and record["segments"] == 2
    assert record["wall_time_s"] > first["wall_time_s"] > 0
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    with pytest.raises(RunError, match="is taken by run"):  # a new run may not write there
        train(make_cfg(*TINY))


def test_a_run_resumed_in_its_own_folder_keeps_its_learning_curve(make_cfg, tmp_path):
    """Lightning's CSV logger starts its file afresh: the rows logged before the stop are kept
    in csv/metrics.until-<step>.csv and the reports read both segments as one curve."""
    from reports.collect import read_metrics_log

    run_dir = tmp_path / "run"
    logged = [o if o != "logger=none" else "logger=csv" for o in TINY]
    logged += ["trainer.log_every_n_steps=1"]
    with pytest.raises(RunInterrupted):
        train(make_cfg(*logged, "debug=interrupt"))
    first = pd.read_csv(run_dir / "csv" / "metrics.csv")
    stopped = int(torch.load(run_dir / "checkpoints" / "interrupted.ckpt",
                             weights_only=False)["global_step"])
    assert first["step"].min() < stopped
    train(make_cfg(*logged, f"ckpt_path={run_dir}"))
    (kept,) = (run_dir / "csv").glob("metrics.until-*.csv")
    assert pd.read_csv(kept)["step"].max() < stopped
    both = read_metrics_log(run_dir)
    steps = both.dropna(subset=["train/loss"])["step"]
    assert steps.min() == first["step"].min() and steps.max() >= 19  # 20 steps in all
    assert steps.is_unique  # no step twice, though the second segment redid none or some


def test_a_wall_clock_budget_travels_in_the_checkpoint(make_cfg, tmp_path):
    """trainer.max_time (the word-level bAbI budget) survives a stop: Lightning's Timer state,
    the training time spent so far, is in the checkpoint a resumed run starts from."""
    with pytest.raises(RunInterrupted):
        train(make_cfg(*TINY, "debug=interrupt", "trainer.max_time=00:01:00:00"))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "interrupted.ckpt", weights_only=False)
    (timer,) = [v for k, v in ckpt["callbacks"].items() if k.startswith("Timer")]
    assert 0 < timer["time_elapsed"]["train"] < 3600


def test_only_rank_zero_of_a_multi_process_run_claims_the_folder(monkeypatch):
    ddp, single = {"strategy": "ddp", "devices": 2}, {"devices": 1}
    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not is_secondary_rank(ddp)
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert not is_secondary_rank(ddp)
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP child shares rank 0's folder (the slow DDP test)
    assert is_secondary_rank(ddp)
    assert not is_secondary_rank(single)  # e.g. Slurm task 1 of independent one-process runs


# ---------------------------------------------------------------- case 5: failures

def test_a_bad_setting_is_one_clean_line_exit_2_and_a_failed_record(tmp_path):
    run_dir = tmp_path / "run"
    code, output = run_py("model=dnc", "model.memory_size=abc", f"hydra.run.dir={run_dir}",
                          cwd=tmp_path)
    assert code == 2, output[-2000:]
    assert "Traceback" not in output
    line = "model.memory_size='abc': DNC takes int here"
    assert line in output
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "failed" and line in record["message"]


@pytest.mark.parametrize("overrides, says", [
    (["model=dnc", "model.memory_size=-4"], "model=dnc could not be built: ValueError: memory_size"),
    (["model.hidden_size=-4"], "model=lstm could not be built: ValueError: hidden_size must be"),
    (["task.batch_size=0"], "task=copy could not be built: ValueError: task.batch_size must be >= 1"),
    (["optimizer.lr=abc"], "(your overrides there: optimizer.lr=abc)"),
    (["trainer.max_steps=abc"], "trainer=lightning.pytorch.Trainer could not be built: TypeError"),
])
def test_constructor_errors_are_run_errors_with_a_failed_record(overrides, says, make_cfg,
                                                                 tmp_path):
    with pytest.raises(RunError) as err:
        train(make_cfg(*TINY, *overrides))
    assert says in str(err.value)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"] == "failed" and says in record["message"]
    assert "\n" not in record["message"]


def test_a_crash_while_training_is_recorded_as_failed_then_raised(make_cfg, tmp_path, monkeypatch):
    def boom(self, batch, batch_idx):
        if self.global_step == 3:
            raise ZeroDivisionError("a bug at step 3")
        return original(self, batch, batch_idx)

    original = MemNetLitModule.training_step
    monkeypatch.setattr(MemNetLitModule, "training_step", boom)
    with pytest.raises(ZeroDivisionError):
        train(make_cfg(*TINY))
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"] == "failed"
    assert record["message"] == "ZeroDivisionError: a bug at step 3"
    assert record["global_step"] == 3 and record["run_id"]


# ---------------------------------------------------------------- case 6: full disk

def test_a_full_disk_leaves_the_previous_checkpoint_whole(make_cfg, tmp_path, monkeypatch):
    """The save at step 20 fails as on a full disk: the run is ``failed`` with the error, and
    last.ckpt is still the whole step-10 file (no truncated file, no temporary left over)."""
    real_write, calls = checkpoints.atomic_write_bytes, []

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    def write(path, data):  # the step-10 saves (best, last) pass; the next one meets a full disk
        calls.append(path)
        if len(calls) <= 2:
            return real_write(path, data)
        with monkeypatch.context() as patch:
            patch.setattr(checkpoints.os, "fsync", no_space)
            return real_write(path, data)

    monkeypatch.setattr(checkpoints, "atomic_write_bytes", write)
    with pytest.raises(OSError):
        train(make_cfg(*TINY))
    run_dir = tmp_path / "run"
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "failed" and "No space left on device" in record["message"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 10
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_resume_skips_a_truncated_checkpoint_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "run" / "checkpoints"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {}, "global_step": 10}, folder / "best.ckpt")
    io.save_checkpoint({"state_dict": {}, "global_step": 20}, folder / "last.ckpt")
    whole = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(whole[: len(whole) // 2])  # as an old, non-atomic write left it
    os.utime(folder / "best.ckpt", (1, 1))  # last.ckpt is the newest file
    with caplog.at_level(logging.WARNING, logger="memnets"):
        point = resolve_resume(str(tmp_path / "run"))
    assert point.path == str(folder / "best.ckpt") and point.global_step == 10
    assert "skipping unreadable checkpoint" in caplog.text and "last.ckpt" in caplog.text
    with pytest.raises(RunError, match="is unreadable"):
        resolve_resume(str(folder / "last.ckpt"))


def test_code_version_outside_git_comes_from_the_environment(tmp_path, monkeypatch):
    """A copy of the tree without .git records the commit its maker names, else None."""
    from memnets.training.results import code_version

    monkeypatch.delenv("MEMNETS_CODE_VERSION", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_version(tmp_path) is None
    monkeypatch.setenv("MEMNETS_CODE_VERSION", "0123abc")
    assert code_version(tmp_path) == "0123abc"


def test_code_version_inside_git_ignores_the_environment(monkeypatch):
    from memnets.training.results import code_version

    monkeypatch.setenv("MEMNETS_CODE_VERSION", "0123abc")
    version = code_version()
    assert version is not None and not version.startswith("0123abc")


def test_cpu_model_is_read_from_cpuinfo_and_absent_without_it(tmp_path):
    from memnets.training.results import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert cpu_model(info) == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "missing") is None
