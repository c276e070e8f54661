"""reports.archive: runs kept in git give the same tables as their folders, name no machine path,
and keep only validation rows of the curve."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reports import __main__ as cli
from reports import archive as arc
from reports.collect import collect, load_curves, read_metrics_log, runs
from tests.reports.test_reports import babi_pertask_runs, write_run


def test_scrub_paths_names_the_run_folder_and_hides_the_others():
    record = {"config": {"run_dir": "/scratch/u/multirun/s/3", "lr": 0.1,
                         "task": {"data_dir": "/home/u/data/babi", "tasks": [3]},
                         "callbacks": {"best": {"dirpath": "/scratch/u/multirun/s/3/checkpoints",
                                                "monitor": "val/error"}}},
              "data": {"source": "BabiSource(/home/u/data/babi/tasks_1-20_v1-2)"},
              "metrics": {"val/group/qa3/error": 0.25}, "cache": "~/.cache/memnets",
              "target": "lightning.pytorch.callbacks.EarlyStopping"}
    kept = arc.scrub_paths(record, "/scratch/u/multirun/s/3")
    assert kept["config"]["run_dir"] == "<run_dir>"
    assert kept["config"]["callbacks"]["best"]["dirpath"] == "<run_dir>/checkpoints"
    assert kept["config"]["task"]["data_dir"] == "<local>/babi"
    assert kept["data"]["source"] == "BabiSource(<local>/tasks_1-20_v1-2)"
    # names with slashes that are not paths, numbers and lists stay as they were
    assert kept["config"]["callbacks"]["best"]["monitor"] == "val/error"
    assert kept["metrics"] == record["metrics"] and kept["config"]["task"]["tasks"] == [3]
    assert kept["cache"] == "~/.cache/memnets" and kept["target"] == record["target"]
    assert "/scratch" not in json.dumps(kept) and "/home" not in json.dumps(kept)


def test_curve_rows_keep_validation_rows_and_columns_only():
    log = pd.DataFrame({"epoch": [0, 0, 1, 1], "step": [9, 9, 19, 19],
                        "train/loss": [0.7, None, 0.5, None],
                        "val/error": [None, 0.9, None, 0.4],
                        "val/group/qa1/error": [None, 0.8, None, 0.3]})
    curve = arc.curve_rows(log)
    assert list(curve.columns) == ["epoch", "step", "val/error", "val/group/qa1/error"]
    assert curve["step"].tolist() == [9, 19] and curve["val/error"].tolist() == [0.9, 0.4]
    assert arc.curve_rows(log[["epoch", "step", "train/loss"]]).empty


def _with_ids(root):
    """Give every record under root a run_id and its own run_dir, as run.py writes them."""
    for i, path in enumerate(sorted(root.rglob("results.json"))):
        record = json.loads(path.read_text())
        record["run_id"] = f"20261127T000000-{i:06x}"
        record["config"]["run_dir"] = str(path.parent)
        path.write_text(json.dumps(record))


def test_archived_runs_give_the_same_table_curves_and_no_paths(tmp_path):
    babi_pertask_runs(tmp_path / "runs")
    joint = write_run(tmp_path / "runs", "joint", model="lstm", task="babi",
                      task_cfg={"joint": True, "size": "10k", "batch_size": 2},
                      metrics={"val/error": 0.5, "test/error": 0.5})
    (joint / "csv").mkdir()
    (joint / "csv" / "metrics.until-19.csv").write_text(
        "epoch,step,train/loss,val/error\n0,9,0.7,\n0,9,,0.9\n")  # an earlier segment
    (joint / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/error\n0,19,0.5,\n0,19,,0.4\n")
    _with_ids(tmp_path / "runs")
    archive = tmp_path / "archive"
    written = arc.archive_runs([tmp_path / "runs"], archive)
    assert len(written) == 41 and all(p.parent.parent == archive for p in written)
    assert {p.parent.name for p in written} == {"memn2n_babi", "lstm_babi"}
    assert arc.archive_runs([archive], archive) == []  # the archive is never its own source

    def table(roots):
        df = collect(roots).drop(columns=["run_dir"])
        df = df[sorted(df.columns)]  # the archive writes its keys sorted
        return df.sort_values(["model", "seed", "task.tasks", "split", "group", "metric"]
                              ).reset_index(drop=True)

    pd.testing.assert_frame_equal(table([tmp_path / "runs"]), table([archive]))
    curves = load_curves(collect([archive]))
    assert curves[["step", "value"]].values.tolist() == [[9, 0.9], [19, 0.4]]  # both segments
    lstm = next(p for p in written if p.parent.name == "lstm_babi")
    assert read_metrics_log(lstm)["step"].tolist() == [9, 19]  # readers given no record too
    text = "".join(p.read_text() for p in archive.rglob("*") if p.is_file())
    assert str(tmp_path) not in text and "train/loss" not in text
    # a run found in its folder and in the archive is counted once
    assert len(collect([tmp_path / "runs", archive])["run_dir"].unique()) == 41


def test_a_record_without_run_id_is_refused_and_skipped_with_a_warning(tmp_path, caplog):
    with pytest.raises(ValueError, match="run_id"):
        arc.archive_folder({"model": "dnc", "task": "copy"})
    write_run(tmp_path / "runs", "old", metrics={"test/error": 0.5})  # no run_id
    with caplog.at_level("WARNING", logger="reports.archive"):
        assert arc.archive_runs([tmp_path / "runs"], tmp_path / "archive") == []
    assert "no run_id" in caplog.text and "old" in caplog.text


def test_cli_archive_flag_fills_the_archive_that_the_default_runs_read(tmp_path, monkeypatch,
                                                                        capsys):
    write_run(tmp_path / "runs", "a", metrics={"test/error": 0.5})
    _with_ids(tmp_path / "runs")
    monkeypatch.setattr(cli, "ARCHIVE", tmp_path / "archive")
    assert cli.main(["--runs", str(tmp_path / "runs"), "--archive",
                     "--out", str(tmp_path / "out")]) == 0
    assert "archived 1 run(s)" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "out")  # no outputs/ or multirun/ here: only the archive
    assert cli.main(["--out", str(tmp_path / "out2")]) == 0
    assert "1 run(s)" in capsys.readouterr().out


def _stamped(run_dir, run_id: str, finished: str, data_dir: str):
    """The record as run.py writes it on some machine: its own run_dir, a data path, an id."""
    record = json.loads((run_dir / "results.json").read_text())
    record["config"]["run_dir"] = str(run_dir)
    record["config"]["task"]["data_dir"] = data_dir
    record.update(run_id=run_id, finished_at=finished)
    (run_dir / "results.json").write_text(json.dumps(record))


def test_a_rerun_of_an_archived_run_on_another_machine_counts_once(tmp_path):
    """Same model, task, seed and setting made again elsewhere (other run_id, other paths): one
    seed, the newer record kept; another seed stays a second row."""
    old = write_run(tmp_path / "runs", "a", metrics={"test/error": 0.5})
    _stamped(old, "r-old", "2026-01-01T10:00:00", "/home/u/data/babi")
    arc.archive_runs([tmp_path / "runs"], tmp_path / "archive")
    new = write_run(tmp_path / "elsewhere", "b", metrics={"test/error": 0.2})
    _stamped(new, "r-new", "2026-01-02T10:00:00", "/scratch/v/babi")
    other = write_run(tmp_path / "elsewhere", "c", seed=1, metrics={"test/error": 0.4})
    _stamped(other, "r-other", "2026-01-02T11:00:00", "/scratch/v/babi")
    table = runs(collect([tmp_path / "archive", tmp_path / "elsewhere"]))
    assert sorted(table["run_dir"]) == sorted([str(new), str(other)])


def test_archived_keys_are_those_of_completed_runs_whatever_their_paths(tmp_path):
    from memnets.sweep.runner import archived_keys
    from memnets.training.results import repeat_key

    done = write_run(tmp_path / "runs", "done", metrics={"test/error": 0.5})
    _stamped(done, "r1", "2026-01-01T10:00:00", "/home/u/data/babi")
    failed = write_run(tmp_path / "runs", "failed", seed=3, status="failed")
    _stamped(failed, "r2", "2026-01-01T11:00:00", "/home/u/data/babi")
    arc.archive_runs([tmp_path / "runs"], tmp_path / "archive")
    live = json.loads((done / "results.json").read_text())
    keys = archived_keys(tmp_path / "archive")
    assert keys == {repeat_key(live)}
    assert repeat_key({**live, "seed": 1}) not in keys
    live["config"]["optimizer"]["lr"] = 0.1
    assert repeat_key(live) not in keys
