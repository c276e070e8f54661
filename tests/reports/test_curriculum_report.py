"""reports.curriculum: the lesson table and figure from results.json curriculum records."""

from __future__ import annotations

import json

from reports.curriculum import (
    budget_line,
    curriculum_runs,
    curriculum_table,
    findings,
    validation_curve,
    write_curriculum,
)
from reports.readme import curriculum_block


def write_run(folder, model, seed, passed, reached, step, task="graph_traversal", lessons=3):
    folder.mkdir(parents=True)
    record = {"status": "completed", "task": task, "model": model, "seed": seed,
              "global_step": step, "metrics": {},
              "config": {"task": {"batch_size": 2, "lesson": 1}},
              "curriculum": {"lesson": reached, "lessons": lessons,
                             "completed": reached == lessons and len(passed) == lessons,
                             "passed": passed}}
    (folder / "results.json").write_text(json.dumps(record))


def passes(*items):
    return [{"lesson": k, "step": s, "episodes": 2 * s, "val/error": 0.05,
             "test_underground/error": e} for k, s, e in items]


def test_table_counts_passes_median_episodes_and_test_accuracy(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, passes((1, 100, 0.9), (2, 300, 0.5)), 3, 400)
    write_run(tmp_path / "b", "dnc", 1, passes((1, 200, 0.7)), 2, 400)
    write_run(tmp_path / "c", "lstm", 0, [], 1, 400)
    runs, done = curriculum_runs([tmp_path])
    table = curriculum_table(runs, done, "graph_traversal")
    assert list(table["dnc passed"]) == ["2/2", "1/2", "0/2"]
    assert table.loc[1, "dnc episodes"] == 300.0  # median of 200 and 400 episodes
    assert table.loc[1, "dnc test %"] == 20.0  # mean of 10% and 30%
    assert table.loc[2, "dnc test %"] == 50.0
    assert list(table["lstm passed"]) == ["0/1"] * 3
    assert table.loc[3, "paper test % [P]"] == "98.8 ± 1.6"
    paths = write_curriculum([tmp_path], tmp_path / "out")
    assert [p.name for p in paths] == ["curriculum.md", "curriculum.png"]
    assert "## graph_traversal" in paths[0].read_text()


def test_shortest_path_accuracy_is_the_minimal_path_share(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, [{"lesson": 1, "step": 10, "episodes": 10,
                                          "test_underground/error": 1.0,
                                          "test_underground/path_error": 0.25}], 2, 10,
              task="graph_shortest_path")
    runs, done = curriculum_runs([tmp_path])
    assert done["test_acc"].tolist() == [75.0]


def test_runs_without_a_curriculum_write_nothing(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"task": "copy", "curriculum": None}))
    assert write_curriculum([tmp_path], tmp_path / "out") == []


def test_runs_with_different_settings_are_separate_arms(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, passes((1, 100, 0.9)), 2, 400)
    write_run(tmp_path / "b", "dnc", 0, [], 1, 400)
    for folder, lr in (("a", 1e-3), ("b", 1e-5)):
        path = tmp_path / folder / "results.json"
        record = json.loads(path.read_text())
        record["config"]["optimizer"] = {"lr": lr}
        path.write_text(json.dumps(record))
    runs, done = curriculum_runs([tmp_path])
    table = curriculum_table(runs, done, "graph_traversal")
    assert sorted(runs["arm"]) == ["dnc [optimizer.lr=0.001]", "dnc [optimizer.lr=1e-05]"]
    assert table.loc[1, "dnc [optimizer.lr=0.001] passed"] == "1/1"
    assert table.loc[1, "dnc [optimizer.lr=1e-05] passed"] == "0/1"


def test_runs_that_passed_nothing_still_get_a_table_and_figure(tmp_path):
    write_run(tmp_path / "a", "lstm", 0, [], 1, 400)
    paths = write_curriculum([tmp_path], tmp_path / "out")
    assert "| 1 | 0/1 |" in paths[0].read_text()


def test_lessons_no_run_reached_fold_into_one_row_before_the_last(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, passes((1, 100, 0.9)), 2, 400, lessons=14)
    runs, done = curriculum_runs([tmp_path])
    table = curriculum_table(runs, done, "graph_traversal")
    assert list(table.index) == [1, 2, "…", 14]  # reached lesson 2; lessons 3-13 folded
    assert table.loc[14, "paper test % [P]"] == "98.8 ± 1.6"


def test_findings_say_whether_the_papers_traversal_claim_holds(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, passes((1, 100, 0.9), (2, 300, 0.5)), 3, 400, lessons=5)
    write_run(tmp_path / "b", "lstm", 0, [], 1, 400, lessons=5)
    runs, done = curriculum_runs([tmp_path])
    text = findings(runs, done, "graph_traversal")
    assert "dnc: 1/1 run(s) passed lesson 1, lesson 1 after a median 200 episodes" in text
    assert "the furthest passed lesson 2 of 5, test-map accuracy after it 50.0%" in text
    assert "lstm: 0/1 run(s) passed lesson 1;" in text
    assert "stalls at lesson 1 holds here" in text and "is not shown at this budget" in text
    # another task's passes of the same arm are not this task's
    write_run(tmp_path / "d", "dnc", 0, passes((1, 900, 0.0)), 2, 1000, lessons=5,
              task="graph_inference")
    runs, done = curriculum_runs([tmp_path])
    assert findings(runs, done, "graph_traversal") == text
    assert "after a median 1,800 episodes" in findings(runs, done, "graph_inference")
    # an LSTM run that passes lesson 1 breaks the claim
    write_run(tmp_path / "c", "lstm", 1, passes((1, 150, 0.8)), 2, 400, lessons=5)
    runs, done = curriculum_runs([tmp_path])
    assert "does not hold here" in findings(runs, done, "graph_traversal")


def test_budget_names_seeds_wall_time_episodes_hardware_and_code(tmp_path):
    for folder, seed in (("a", 0), ("b", 1)):
        write_run(tmp_path / folder, "dnc", seed, [], 1, 400 * (seed + 1))
        path = tmp_path / folder / "results.json"
        record = json.loads(path.read_text())
        record.update(wall_time_s=3600 * (seed + 1), code_version="abcdef1234",
                      hardware={"processor": "cpu x2", "cuda": None})
        path.write_text(json.dumps(record))
    runs, _ = curriculum_runs([tmp_path])
    assert budget_line("dnc", runs) == ("dnc: 2 run(s) (seed 0, 1), 1.50 h of wall time (median), "
                                        "up to 1,600 training episodes at batch 2; "
                                        "cpu x2 (CPU model not recorded); code abcdef1")


def test_the_readme_gets_the_traversal_findings(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, passes((1, 100, 0.9)), 2, 400)
    write_run(tmp_path / "b", "lstm", 0, [], 1, 400)
    out = tmp_path / "out"
    write_curriculum([tmp_path], out)
    blocks = curriculum_block(out)
    assert blocks["graph_curriculum"].startswith("| lesson |")
    assert blocks["graph_findings"].splitlines()[0].startswith("- dnc: 1/1 run(s) passed lesson 1")


def test_a_resumed_run_is_one_run_whose_wall_time_sums_its_segments(tmp_path):
    for folder, step, wall, status in (("a", 100, 1200, "interrupted"), ("b", 300, 900, "completed")):
        write_run(tmp_path / folder, "dnc", 0, [], 1, step)
        path = tmp_path / folder / "results.json"
        record = json.loads(path.read_text())
        record.update(run_id="r1", wall_time_s=wall, status=status)
        path.write_text(json.dumps(record))
    runs, _ = curriculum_runs([tmp_path])
    assert len(runs) == 1 and runs.loc[0, "episodes"] == 600  # the resumed segment's record
    assert runs.loc[0, "wall_h"] == (1200 + 900) / 3600


def test_the_curve_panel_reads_each_runs_own_pass_metric(tmp_path):
    write_run(tmp_path / "a", "dnc", 0, [], 1, 400, task="shrdlu")
    path = tmp_path / "a" / "results.json"
    record = json.loads(path.read_text())
    record["config"]["task"]["pass_metric"] = "val/constraints_satisfied_error"
    path.write_text(json.dumps(record))
    (tmp_path / "a" / "csv").mkdir()
    (tmp_path / "a" / "csv" / "metrics.csv").write_text(
        "step,val/error,val/constraints_satisfied_error\n99,,0.5\n199,0.9,0.25\n")
    runs, _ = curriculum_runs([tmp_path])
    assert runs.loc[0, "pass_metric"] == "val/constraints_satisfied_error"
    curve = validation_curve(str(tmp_path / "a"), 2, runs.loc[0, "pass_metric"])
    assert curve["episodes"].tolist() == [198, 398]
    assert curve["val/constraints_satisfied_error"].tolist() == [0.5, 0.25]
