"""The curriculum callback: advancing, holding, recording with test maps, stopping, resuming."""

from __future__ import annotations

from memnets.training.curriculum import passes
from run import train
from tests.conftest import compose_cfg

SMALL = ["model=lstm", "model.hidden_size=8", "task=graph_traversal", "task.val_size=4",
         "task.test_size=4", "trainer.val_check_interval=2", "memory_picture=false"]


def test_curriculum_advances_records_each_pass_and_resumes_at_its_lesson(make_cfg, tmp_path):
    record = train(make_cfg(*SMALL, "task.pass_error=1.0", "trainer.max_steps=6"))
    curriculum = record["curriculum"]
    assert curriculum["lesson"] == 4 and not curriculum["completed"]
    assert [(p["lesson"], p["step"], p["episodes"]) for p in curriculum["passed"]] == [
        (1, 2, 4), (2, 4, 8), (3, 6, 12)]
    assert all(0.0 <= p["test_underground/error"] <= 1.0 for p in curriculum["passed"])
    assert record["metrics"]["curriculum/lesson"] == 3.0  # logged at step 6, before its pass
    assert "test_underground/error" in record["metrics"]
    resumed = train(compose_cfg([*SMALL, "task.pass_error=1.0", "trainer.max_steps=10",
                                 f"ckpt_path={tmp_path / 'run'}"], run_dir=tmp_path / "resumed"))
    assert [p["lesson"] for p in resumed["curriculum"]["passed"]] == [1, 2, 3, 4, 5]
    assert resumed["curriculum"]["lesson"] == 6


def test_curriculum_holds_a_lesson_it_has_not_passed(make_cfg):
    record = train(make_cfg(*SMALL, "task.lesson=3", "task.pass_error=0.0", "trainer.max_steps=4"))
    assert record["curriculum"]["lesson"] == 3 and record["curriculum"]["passed"] == []
    assert record["data"]["final_lesson"] == 3


def test_passing_the_last_lesson_ends_the_run(make_cfg):
    record = train(make_cfg(*SMALL, "task.lesson=14", "task.pass_error=1.0", "trainer.max_steps=20"))
    assert record["status"] == "completed" and record["global_step"] == 2
    assert record["curriculum"]["completed"]


def test_a_lesson_passes_on_counts_not_on_a_rounded_rate():
    import torch

    rate = float(torch.tensor(5 / 50, dtype=torch.float32))  # as logged: 0.10000000149...
    assert rate > 0.1 and passes(rate, 0.1, 50)
    assert not passes(float(torch.tensor(6 / 50)), 0.1, 50)
    assert passes(0.2, 0.2, 50) and not passes(11 / 50, 0.2, 50)
