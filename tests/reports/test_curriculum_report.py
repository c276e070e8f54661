"""reports.curriculum: the lesson table and figure from results.json curriculum records."""

from __future__ import annotations

import json

from reports.curriculum import curriculum_runs, curriculum_table, write_curriculum


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
