"""Reports: collect synthetic results.json files, the copy table on hand numbers, figures, the
README blocks and the CLI (the bAbI table and findings: test_babi_report.py)."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pandas as pd
import torch

from reports import __main__ as cli
from reports.collect import collect, load_curves, runs, split_metric_key
from reports.plots import (
    babi_heatmap,
    learning_curves,
    length_generalisation,
    memory_usage,
    short_labels,
)
from reports.tables import (
    babi_task_errors,
    length_table,
    setting_labels,
    to_latex,
    to_markdown,
)
from tests.reports.fake_runs import babi_pertask_runs, write_run

# ---------------------------------------------------------------- collect

def test_metric_keys_split_into_split_group_metric():
    assert split_metric_key("val/error") == ("val", None, "error")
    assert split_metric_key("test_2x/group/len11-20/bit_errors") == ("test_2x", "len11-20",
                                                                      "bit_errors")
    assert split_metric_key("test/group/qa16/error") == ("test", "qa16", "error")


def test_collect_gives_one_row_per_run_and_metric_with_status_groups_and_config(tmp_path):
    write_run(tmp_path / "outputs", "a", seed=1, model_cfg={"distance": "dot"},
              metrics={"test/error": 0.25, "test/group/len1-10/error": 0.5, "val/error": 0.3})
    write_run(tmp_path / "multirun", "b", status="diverged", metrics={"val/error": "nan"})
    write_run(tmp_path / "multirun", "c", status="interrupted", model="memnets.models.ntm.NTM")
    (tmp_path / "multirun" / "junk").mkdir()
    df = collect([tmp_path / "outputs", tmp_path / "multirun", tmp_path / "missing"])
    assert len(runs(df)) == 3
    a = df[df["run_dir"].str.endswith("/a")]
    assert len(a) == 3 and set(a["status"]) == {"completed"} and set(a["seed"]) == {1}
    row = a[(a["split"] == "test") & (a["group"] == "len1-10")].iloc[0]
    assert row["metric"] == "error" and row["value"] == 0.5
    assert a[a["group"].isna() & (a["split"] == "test")]["value"].item() == 0.25
    assert set(a["model.distance"]) == {"dot"} and set(a["trainer.max_steps"]) == {100}
    assert "task.seed" not in df.columns  # a copy of the seed, not a setting
    b = df[df["run_dir"].str.endswith("/b")]
    assert b["status"].item() == "diverged" and math.isnan(b["value"].item())
    c = df[df["run_dir"].str.endswith("/c")]
    assert c["status"].item() == "interrupted" and c["model"].item() == "ntm"  # class path


def test_collect_of_nothing_is_an_empty_frame_with_the_key_columns(tmp_path):
    df = collect([tmp_path])
    assert df.empty and {"run_dir", "model", "split", "metric", "value"} <= set(df.columns)


def test_learning_curves_come_from_the_csv_log(tmp_path):
    run_dir = write_run(tmp_path, "a", metrics={"val/error": 0.5})
    (run_dir / "csv").mkdir()
    (run_dir / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/error\n0,9,0.7,\n0,9,,0.9\n0,19,0.5,\n0,19,,0.4\n")
    curves = load_curves(collect([tmp_path]))
    assert curves[["step", "value"]].values.tolist() == [[9, 0.9], [19, 0.4]]
    assert set(curves["metric"]) == {"val/error"} and set(curves["model"]) == {"dnc"}


# ---------------------------------------------------------------- copy table

def copy_runs(root: Path) -> None:
    for variable, errs in ((True, (0.0, 0.1)), (False, (0.2, 0.4))):
        for seed, e in enumerate(errs):
            write_run(root, f"v{variable}{seed}", seed=seed,
                      task_cfg={"variable_length": variable, "max_length": 10},
                      metrics={"test/error": e, "test/bit_errors": 10 * e,
                               "test_2x/error": 2 * e, "test_2x/bit_errors": 20 * e,
                               "test_4x/error": 0.5, "test_4x/bit_errors": 50.0,
                               "test_4x/group/len31-40/error": 0.9, "val/error": e})


def test_length_table_groups_by_the_setting_that_differs(tmp_path):
    copy_runs(tmp_path)
    table = length_table(collect([tmp_path]), "copy").set_index("setting")
    assert list(table.index) == ["task.variable_length=False", "task.variable_length=True"]
    assert table.loc["task.variable_length=True", "test error %"] == "5.0 ± 7.1"
    assert table.loc["task.variable_length=False", "test_2x error %"] == "60.0 ± 28.3"
    assert table.loc["task.variable_length=False", "test_4x bits"] == "50.00 ± 0.00"
    assert table.loc["task.variable_length=True", "runs"] == 2
    assert table.loc["task.variable_length=True", "params"] == 1234
    assert table.loc["task.variable_length=True", "steps/run"] == "100"
    md, tex = to_markdown(table), to_latex(table, caption="50% of x_1")
    assert md.count("\n") == 2 + len(table) and "5.0 ± 7.1" in md
    assert r"5.0 $\pm$ 7.1" in tex and r"50\% of x\_1" in tex


# ---------------------------------------------------------------- figures and CLI

def _png(path: Path | None) -> None:
    assert path is not None and path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_written(tmp_path):
    babi_pertask_runs(tmp_path / "babi")
    copy_runs(tmp_path / "copy")
    df = collect([tmp_path / "babi", tmp_path / "copy"])
    _png(babi_heatmap(babi_task_errors(df), tmp_path / "fig" / "heat.png"))
    _png(length_generalisation(df, tmp_path / "fig" / "len.png", task="copy"))
    curves = pd.DataFrame({"step": [1, 2, 1, 2], "value": [0.9, 0.5, 0.8, 0.4],
                           "metric": "val/error", "model": ["dnc", "dnc", "lstm", "lstm"],
                           "task": "copy", "seed": 0, "run_dir": ["a", "a", "b", "b"]})
    _png(learning_curves(curves, tmp_path / "fig" / "curves.png", task="copy"))
    assert learning_curves(curves, tmp_path / "fig" / "none.png", task="babi") is None
    B, T, N = 3, 9, 7
    usage = torch.rand(B, T, N)
    torch.save({"aux": {"usage": usage, "write_weights": torch.rand(B, T, 1, N)},
                "lengths": torch.tensor([9, 5, 2]), "role": torch.ones(B, T)},
               tmp_path / "trace.pt")
    _png(memory_usage(tmp_path / "trace.pt", tmp_path / "fig" / "usage.png", index=1))
    torch.save({"aux": {}, "lengths": torch.tensor([1])}, tmp_path / "lstm_trace.pt")
    assert memory_usage(tmp_path / "lstm_trace.pt", tmp_path / "fig" / "x.png") is None


def test_short_labels_are_cut_and_kept_distinct():
    labels = ["ours: dnc joint", "ours: dnc joint [optimizer.lr=0.001, trainer.max_steps=2]",
              "ours: dnc joint [optimizer.lr=0.01, trainer.max_steps=2]"]
    assert short_labels(labels) == ["ours: dnc joint #1", "ours: dnc joint #2",
                                    "ours: dnc joint #3"]
    assert short_labels(["ours: lstm joint"]) == ["ours: lstm joint"]


def test_cli_with_no_runs_says_so_and_still_writes_the_published_table(tmp_path, capsys):
    assert cli.main(["--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 0
    assert "no results.json found" in capsys.readouterr().out
    md = (tmp_path / "out" / "babi_table.md").read_text()
    assert "DNC2 best [P]" in md and "| mean |" in md
    assert (tmp_path / "out" / "babi_table.tex").is_file()


def test_cli_writes_tables_and_figures_for_runs(tmp_path, capsys):
    copy_runs(tmp_path / "runs")
    assert cli.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert "4 run(s)" in capsys.readouterr().out
    assert "task.variable_length=True" in (tmp_path / "out" / "copy_table.md").read_text()
    _png(tmp_path / "out" / "copy_length.png")
    assert len(pd.read_csv(tmp_path / "out" / "runs.csv")) == 4
    index = (tmp_path / "out" / "README.md").read_text()
    assert "4 run(s)" in index and "| copy | dnc | completed | 4 |" in index


def test_readme_blocks_are_replaced_between_markers_only(tmp_path):
    from reports.readme import inject

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- reports:babi -->\nold table\n<!-- /reports:babi -->\noutro\n")
    assert inject(readme, {"babi": "| a |\n|---|", "copy": "unused"}) == ["babi"]
    assert readme.read_text() == (
        "intro\n<!-- reports:babi -->\n| a |\n|---|\n<!-- /reports:babi -->\noutro\n"
    )


def test_readme_keys_long_setting_lists_and_spells_them_out_below():
    import pandas as pd

    from reports.readme import keyed_settings

    big, small = "model.embed_dim=100, model.nonlinearity=relu", "model.embed_dim=20"
    display = pd.DataFrame(columns=[
        "LSTM best [P]", f"ours: memn2n per-task 10k [{big}] mean ± sd",
        f"ours: memn2n per-task 10k [{big}] best", f"ours: memn2n per-task 10k [{small}] best",
        "ours: dnc joint 10k best"])
    table, legend = keyed_settings(display)
    assert list(table.columns) == [
        "LSTM best [P]", "ours: memn2n per-task 10k [a] mean ± sd",
        "ours: memn2n per-task 10k [a] best", "ours: memn2n per-task 10k [b] best",
        "ours: dnc joint 10k best"]  # a source tag has no "=" and stays
    assert legend == [f"- memn2n per-task 10k [a]: {big}", f"- memn2n per-task 10k [b]: {small}"]
    assert keyed_settings(display[["LSTM best [P]"]])[1] == []
    listed = pd.DataFrame(columns=["ours: ntm joint 10k [model.sizes=[64,64], model.x=1] best"])
    assert keyed_settings(listed)[1] == ["- ntm joint 10k [a]: model.sizes=[64,64], model.x=1"]


def test_readme_keys_restart_per_model_so_a_new_setting_renames_no_other_model():
    """A second EntNet recipe, which sorts before MemN2N, must not move MemN2N's [a] to [c]:
    the README's prose names columns by these keys."""
    import pandas as pd

    from reports.readme import keyed_settings

    display = pd.DataFrame(columns=[
        "ours: entnet per-task 10k [optimizer.lr=0.01] best",
        "ours: entnet per-task 10k [optimizer.lr=0.003] best",
        "ours: memn2n per-task 10k [model.encoding=position] best"])
    table, legend = keyed_settings(display)
    assert list(table.columns) == ["ours: entnet per-task 10k [a] best",
                                   "ours: entnet per-task 10k [b] best",
                                   "ours: memn2n per-task 10k [a] best"]
    assert legend == ["- entnet per-task 10k [a]: optimizer.lr=0.01",
                      "- entnet per-task 10k [b]: optimizer.lr=0.003",
                      "- memn2n per-task 10k [a]: model.encoding=position"]


def test_readme_takes_the_first_table_of_a_generated_page():
    """bench.md holds a CPU table, prose, then a GPU table: the README block is the first."""
    from reports.readme import first_table

    lines = ["# title", "prose", "| a |", "|---|", "| 1 |", "", "more", "| gpu |", "|---|"]
    assert first_table(lines) == ["| a |", "|---|", "| 1 |"]
    assert first_table(["no table"]) == []


def test_curves_of_runs_with_different_settings_are_separate_series(tmp_path):
    from reports.plots import series_labels

    for i, distance in enumerate(("cosine", "cosine", "dot")):
        write_run(tmp_path, f"r{i}", seed=i, model_cfg={"distance": distance},
                  metrics={"test/error": 0.1})
    df = collect([tmp_path])
    frame = runs(df)[["run_dir", "model"]]
    labels = series_labels(frame, setting_labels(df))
    assert sorted(labels) == ["dnc (model.distance=cosine)", "dnc (model.distance=cosine)",
                              "dnc (model.distance=dot)"]
    assert set(series_labels(frame, None)) == {"dnc"}


# ---------------------------------------------------------------- one row per distinct run

def _record_run(root: Path, name: str, *, run_id: str, finished: str, seed=0, status="completed",
                error=0.5) -> Path:
    run_dir = write_run(root, name, seed=seed, status=status, metrics={"test/error": error})
    record = json.loads((run_dir / "results.json").read_text())
    record["config"]["run_dir"] = str(run_dir)
    record["config"]["callbacks"] = {"checkpoint": {"dirpath": f"{run_dir}/checkpoints"}}
    record.update(run_id=run_id, finished_at=finished)
    (run_dir / "results.json").write_text(json.dumps(record))
    return run_dir


def test_a_resumed_run_is_one_row_and_its_newest_record_wins(tmp_path):
    _record_run(tmp_path, "first", run_id="r1", finished="2026-01-01T10:00:00", status="interrupted")
    resumed = _record_run(tmp_path, "resumed", run_id="r1", finished="2026-01-01T11:00:00",
                          error=0.1)
    table = runs(collect([tmp_path]))
    assert len(table) == 1
    assert table.loc[0, "run_dir"] == str(resumed) and table.loc[0, "status"] == "completed"


def test_repeated_runs_of_one_setting_and_seed_count_once(tmp_path, caplog):
    _record_run(tmp_path, "a", run_id="r1", finished="2026-01-01T10:00:00")
    newer = _record_run(tmp_path, "b", run_id="r2", finished="2026-01-01T11:00:00")
    _record_run(tmp_path, "c", run_id="r3", finished="2026-01-01T12:00:00", status="failed")
    other_seed = _record_run(tmp_path, "d", run_id="r4", finished="2026-01-01T09:00:00", seed=1)
    with caplog.at_level(logging.WARNING, logger="reports.collect"):
        table = runs(collect([tmp_path]))
    assert sorted(table["run_dir"]) == sorted([str(newer), str(other_seed)])
    assert "3 runs repeat one setting and seed" in caplog.text


def test_run_folders_without_a_readable_record_are_listed_in_a_warning(tmp_path, caplog):
    write_run(tmp_path, "ok")
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / ".memnets-run.json").write_text("{}")
    broken = tmp_path / "broken"
    (broken / ".hydra").mkdir(parents=True)
    (broken / "results.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="reports.collect"):
        assert len(runs(collect([tmp_path]))) == 1
    assert "2 run folder(s) without a readable results.json" in caplog.text
    assert str(killed) in caplog.text and str(broken) in caplog.text


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["MEMNETS_TEST_MARKER"]),))


def test_a_trace_that_holds_code_is_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("MEMNETS_TEST_MARKER", str(marker))
    torch.save({"aux": {"usage": torch.rand(1, 4, 3)}, "evil": _RunsCode()}, tmp_path / "trace.pt")
    assert memory_usage(tmp_path / "trace.pt", tmp_path / "usage.png") is None
    assert not marker.exists()


def test_a_setting_null_in_one_run_and_set_in_another_tells_them_apart(tmp_path):
    """Two arms that differ only in a null-or-set value (e.g. task.dagger_beta null vs 0.5) are
    never pooled as seeds of one column (DESIGN §9)."""
    for name, beta in (("a", None), ("b", 0.5)):
        (tmp_path / name).mkdir()
        record = {"status": "completed", "task": "shrdlu", "model": "dnc", "seed": 0, "run_id": name,
                  "global_step": 5, "metrics": {"test/error": 0.1},
                  "config": {"task": {"batch_size": 2, "dagger_beta": beta}}}
        (tmp_path / name / "results.json").write_text(json.dumps(record))
    labels = setting_labels(collect([tmp_path]))
    assert sorted(labels) == ["task.dagger_beta=0.5", "task.dagger_beta=null"]


def test_a_config_group_null_in_one_run_is_labelled_as_its_override(tmp_path):
    """A recipe with ``scheduler=null`` beside one with a StepLR reads ``scheduler=null``, as a
    user would write it, not one ``nan`` per key the other run's scheduler has."""
    step = {"scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 5}}
    write_run(tmp_path, "step", extra_cfg={**step, "optimizer": {"lr": 0.01}},
              metrics={"test/error": 0.1})
    write_run(tmp_path, "none", extra_cfg={"scheduler": None, "optimizer": {"lr": 0.003}},
              metrics={"test/error": 0.1})
    labels = {Path(run).name: label for run, label in setting_labels(collect([tmp_path])).items()}
    assert labels["none"] == "optimizer.lr=0.003, scheduler=null"
    assert labels["step"] == ("optimizer.lr=0.01, scheduler._target_=torch.optim.lr_scheduler.StepLR,"
                              " scheduler.step_size=5")


def test_runs_csv_names_run_folders_from_their_root_not_the_machine(tmp_path):
    write_run(tmp_path / "multirun" / "sweep", "3", metrics={"test/error": 0.1})
    cli.generate_results([tmp_path / "multirun"], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert table["run_dir"].tolist() == ["multirun/sweep/3"]


def test_a_safety_callback_that_never_acted_does_not_split_a_column(tmp_path):
    """A run whose SkipNonFiniteGradients skipped no step trained as one without the callback
    and pools with it; a run in which it skipped steps is a setting of its own."""
    callback = {"callbacks": {"skip_nonfinite": {"max_in_a_row": 20}}}
    write_run(tmp_path, "without", metrics={"test/error": 0.5})
    write_run(tmp_path, "unused", seed=1, extra_cfg=callback,
              metrics={"test/error": 0.5, "train/skipped_steps": 0})
    write_run(tmp_path, "used", seed=2, extra_cfg=callback,
              metrics={"test/error": 0.5, "train/skipped_steps": 3})
    labels = {Path(run).name: label for run, label in setting_labels(collect([tmp_path])).items()}
    assert labels["without"] == labels["unused"] != labels["used"]


def test_the_index_names_pages_kept_from_an_earlier_generation(tmp_path):
    """A page this call did not make (its runs are not here, e.g. not archived) stays in the
    folder; the index must not present it as made from these runs, nor leave it out."""
    write_run(tmp_path / "runs", "a", metrics={"test/error": 0.1})
    out = tmp_path / "out"
    out.mkdir()
    (out / "curriculum.md").write_text("from earlier runs\n")
    assert cli.main(["--runs", str(tmp_path / "runs"), "--out", str(out), "--only",
                     "results"]) == 0
    made, _, kept = (out / "README.md").read_text().partition("Kept from an earlier")
    assert "`curriculum.md`" in kept and "`curriculum.md`" not in made
    assert "`babi_table.md`" in made and "`babi_table.md`" not in kept
