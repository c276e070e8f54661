"""reports.shrdlu: Fig. 5a/5b-like lesson and outcome reports from hand-made shrdlu run folders."""

from __future__ import annotations

import json

import pytest

from reports.__main__ import main
from reports.curriculum import write_curriculum
from reports.shrdlu import outcome_table, shrdlu_runs, summary_table, write_shrdlu


def val_shares(lesson, step, optimal, solved, satisfied):
    return {"lesson": lesson, "step": step, "episodes": 16 * step,
            "val/constraints_satisfied_error": 1 - satisfied, "val/solved_optimal": optimal,
            "val/solved": solved, "val/incomplete": 1 - solved,
            "val/constraints_satisfied": satisfied}


def write_run(folder, model, seed, passed, reached, step, test, rl=False):
    folder.mkdir(parents=True)
    config = {"task": {"batch_size": 16, "lesson": 1}, "model": {"hidden_size": 64}}
    if rl:
        config["training"] = {"mode": "rl", "gae_lambda": 0.5}
    metrics = {f"test/{k}": v for k, v in zip(
        ("solved_optimal", "solved", "incomplete", "constraints_satisfied"), test, strict=True)}
    record = {"status": "completed", "task": "shrdlu", "model": model, "seed": seed,
              "global_step": step, "metrics": metrics, "config": config,
              "curriculum": {"lesson": reached, "lessons": 26, "completed": False,
                             "passed": passed}}
    (folder / "results.json").write_text(json.dumps(record))


@pytest.fixture
def run_folders(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, [val_shares(1, 100, 0.8, 0.9, 0.9),
                                         val_shares(2, 300, 0.6, 0.9, 0.95)], 3, 400,
              (0.2, 0.5, 0.5, 0.6))
    write_run(tmp_path / "b", "dnc", 1, [val_shares(1, 200, 0.6, 0.9, 0.9)], 2, 400,
              (0.4, 0.7, 0.3, 0.8))
    write_run(tmp_path / "c", "lstm", 0, [], 1, 400, (0.1, 0.3, 0.7, 0.4))
    write_run(tmp_path / "d", "dnc", 0, [], 1, 50, (0.0, 0.2, 0.8, 0.3), rl=True)
    return tmp_path


def test_arms_are_model_and_training_and_outcomes_come_from_passes_and_the_last_test(run_folders):
    runs, passes, outcomes = shrdlu_runs([run_folders])
    assert sorted(runs["arm"]) == ["dnc actor-critic", "dnc imitation", "dnc imitation",
                                   "lstm imitation"]
    table = outcome_table(outcomes).set_index(["arm", "lesson"])
    # lesson 1 of the DNC imitation arm: two passes, 80% and 60% optimal, both 90% solved
    assert table.loc[("dnc imitation", 1), ["optimal", "suboptimal", "incomplete"]].tolist() == \
        pytest.approx([70.0, 20.0, 10.0])
    # lesson 2: run a's pass (60/30/10) and run b's last test (40/30/30)
    assert table.loc[("dnc imitation", 2), "optimal"] == pytest.approx(50.0)
    assert table.loc[("dnc imitation", 2), "at"] == "pass/test"
    assert table.loc[("lstm imitation", 1), "incomplete"] == pytest.approx(70.0)
    summary = summary_table(runs, outcomes).set_index("arm")
    assert summary.loc["dnc imitation", "lesson reached"] == "3/26"
    assert summary.loc["dnc imitation", "lessons passed"] == 2
    assert summary.loc["dnc imitation", "training episodes"] == 400 * 16
    assert summary.loc["dnc actor-critic", "last lesson constraints %"] == pytest.approx(30.0)


def test_files_are_written_and_the_graph_curriculum_leaves_shrdlu_out(run_folders, tmp_path):
    paths = write_shrdlu([run_folders], tmp_path / "out")
    assert [p.name for p in paths] == ["shrdlu.md", "shrdlu_lessons.png", "shrdlu_outcomes.png"]
    assert "| dnc actor-critic |" in paths[0].read_text()
    assert write_curriculum([run_folders], tmp_path / "graph") == []
    assert write_shrdlu([tmp_path / "nothing"], tmp_path / "empty") == []


def test_only_shrdlu_fills_its_readme_block_and_no_other(run_folders, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- reports:shrdlu -->\nold\n<!-- /reports:shrdlu -->\n"
                      "<!-- reports:babi -->\nkeep\n<!-- /reports:babi -->\n")
    main(["--runs", str(run_folders), "--out", str(tmp_path / "gen"), "--only", "shrdlu",
          "--readme", str(readme)])
    text = readme.read_text()
    assert "| lstm imitation |" in text and "old" not in text and "keep" in text
