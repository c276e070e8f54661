"""task=shrdlu end to end: imitation and actor-critic runs, the curriculum (record, resume),
refused pairings, and a short learning check against a random policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from run import RunError, train
from tasks.shrdlu.closed_loop import ShrdluLoopTask
from tasks.shrdlu.datamodule import ShrdluDataModule
from tasks.shrdlu.metrics import RESULT_NAMES
from tests.conftest import REPO, compose_cfg

SMALL = ["model=lstm", "model.hidden_size=8", "task=shrdlu", "task.batch_size=4", "task.val_size=4",
         "task.test_size=4", "trainer.val_check_interval=2", "memory_picture=false", "logger=none"]


def outcome_metrics(record: dict, stage: str = "test") -> dict:
    return {name: record["metrics"][f"{stage}/{name}"] for name in RESULT_NAMES}


@pytest.mark.parametrize("training", [[], ["training=rl"]])
def test_the_curriculum_advances_records_the_outcomes_and_resumes_at_its_lesson(training, tmp_path):
    record = train(compose_cfg([*SMALL, *training, "task.pass_error=1.0", "trainer.max_steps=4"],
                               run_dir=tmp_path / "run"))
    curriculum = record["curriculum"]
    assert curriculum["lesson"] == 3 and [p["lesson"] for p in curriculum["passed"]] == [1, 2]
    assert all(0.0 <= p[f"val/{name}"] <= 1.0 for p in curriculum["passed"] for name in RESULT_NAMES)
    assert record["data"]["final_lesson"] == 3
    resumed = train(compose_cfg([*SMALL, *training, "task.pass_error=0.0", "trainer.max_steps=6",
                                 f"ckpt_path={tmp_path / 'run'}"], run_dir=tmp_path / "resumed"))
    assert resumed["curriculum"]["lesson"] == 3  # resumed at lesson 3, held there (never passes)
    assert [p["lesson"] for p in resumed["curriculum"]["passed"]] == [1, 2]
    assert resumed["global_step"] == 6


def test_an_rl_run_logs_return_and_constraints_and_tests_in_closed_loop(make_cfg):
    record = train(make_cfg(*SMALL, "training=rl", "trainer.max_steps=2"))
    assert record["status"] == "completed"
    assert {"rl/return", "rl/constraints_satisfied", "curriculum/lesson"} <= set(record["metrics"])
    shares = outcome_metrics(record)
    assert shares["solved"] + shares["incomplete"] == pytest.approx(1.0)
    assert shares["solved_optimal"] <= shares["solved"]


@pytest.mark.parametrize(("overrides", "says"), [
    (["model=memn2n", "task=shrdlu"], "model=memn2n task=shrdlu"),
    (["model=dnc", "task=copy", "training=rl"], "training=rl needs a task with an environment"),
])
def test_pairs_that_cannot_work_are_refused_in_one_line(overrides, says, make_cfg):
    with pytest.raises(RunError, match=says):
        train(make_cfg(*overrides, "trainer.max_steps=1"))


@pytest.mark.parametrize(("key", "value", "says"), [
    ("lessons", "[{blocks: [2, 7], constraints: [1, 1], goals: [1, 1], moves: [1, 1]}]", "'blocks'"),
    ("lessons", "[{blocks: [2, 2], constraints: [2, 2], goals: [1, 1], moves: [1, 1]}]",
     "'constraints'"),
    ("lesson", "27", "task.lesson=27"),
    ("dagger_beta", "2.0", "task.dagger_beta"),
])
def test_impossible_lessons_and_settings_name_the_key(key, value, says, make_cfg):
    with pytest.raises(RunError, match=says):
        train(make_cfg(*SMALL, f"task.{key}={value}", "trainer.max_steps=1"))


@pytest.mark.parametrize("overrides", [["model=dnc"], ["model=lstm"], ["model=dnc", "training=rl"]])
def test_the_issues_five_step_runs_complete_from_the_command_line(overrides, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "run.py", *overrides, "task=shrdlu",
                           "trainer.max_steps=5", f"hydra.run.dir={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"] == "completed" and record["curriculum"]["lesson"] == 1
    assert all(0.0 <= v <= 1.0 for v in outcome_metrics(record).values())


def test_a_refused_pair_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "run.py", "model=dnc", "task=copy", "training=rl",
                           f"hydra.run.dir={tmp_path}"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert "training=rl needs a task with an environment" in proc.stdout + proc.stderr


def random_policy_share(seed: int = 0) -> float:
    """Constraints satisfied by uniformly random moves on the learning test's test episodes."""
    dm, rng = ShrdluDataModule(seed=seed), np.random.default_rng(1)
    shares = []
    for ep in dm.dataset("test"):
        env = ShrdluLoopTask().start(ep.inputs, ep.role)
        while not env.state.done:
            env.apply(int(rng.integers(7)))
        shares.append(env.result()["constraints_satisfied"])
    return float(np.mean(shares))


def test_imitation_on_lesson_one_beats_a_random_policy(make_cfg):
    record = train(make_cfg("model=lstm", "model.hidden_size=64", "task=shrdlu",
                            "task.pass_error=0.0", "optimizer.lr=3e-3", "trainer.max_steps=250",
                            "trainer.val_check_interval=1000", "memory_picture=false",
                            "logger=none"))
    learned = record["metrics"]["test/constraints_satisfied"]
    baseline = random_policy_share()
    print(f"imitation {learned:.3f} vs random {baseline:.3f}")
    assert learned > baseline + 0.1, (learned, baseline)
