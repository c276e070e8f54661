"""The extension studies' reports: grouping into arms, steps to solve with censoring, the
statistics on hand-made numbers, the finding sentence, and every study's sweep file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy.stats import mannwhitneyu

from reports.collect import read_records
from reports.extension_page import finding, write_extensions
from reports.extensions import (
    STUDIES,
    Study,
    bootstrap_ci,
    holm,
    label_arms,
    load_study,
    rank_test,
    run_settings,
    steps_to_solve,
    study_table,
)

REPO = Path(__file__).resolve().parents[2]
DISTANCE = next(s for s in STUDIES if s.name == "distance")


def curve(*pairs: tuple[int, float]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["step", "value"])


# ---------------------------------------------------------------- steps to solve

def test_steps_to_solve_is_the_first_validation_below_threshold():
    c = curve((49, 9.0), (99, 0.2), (149, 0.04), (199, 0.3), (249, 0.0))
    assert steps_to_solve(c, threshold=0.05, budget=2000) == (150, False)  # 0-based step 149
    assert steps_to_solve(c, threshold=0.5, budget=2000) == (100, False)


def test_a_curve_that_never_gets_below_is_censored_at_the_budget():
    c = curve((49, 9.0), (99, 0.05), (149, 0.051))
    assert steps_to_solve(c, threshold=0.05, budget=2000) == (2000, True)  # 0.05 is not below
    assert steps_to_solve(curve(), threshold=0.05, budget=700) == (700, True)


# ---------------------------------------------------------------- statistics

def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [100, 200, 300, 400, 500]
    lo, hi = bootstrap_ci(values)
    assert lo < 300 < hi and 100 <= lo and hi <= 500
    assert (lo, hi) == bootstrap_ci(values)
    assert bootstrap_ci([7, 7, 7]) == (7.0, 7.0)


def test_rank_test_matches_scipy_and_handles_all_ties():
    a, b = [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]
    assert rank_test(a, b) == pytest.approx(2 / 252)  # exact: one of C(10,5) orderings each way
    assert rank_test(a, b) == pytest.approx(mannwhitneyu(a, b).pvalue)
    assert rank_test([2000] * 5, [2000] * 5) == 1.0  # all censored at the budget
    assert math.isnan(rank_test([], [1, 2]))


def test_holm_adjustment_by_hand():
    # sorted p: 0.01 (x3) -> 0.03, 0.02 (x2) -> 0.04, 0.04 (x1) -> 0.04 (kept monotone)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    adjusted = holm([0.5, math.nan, 0.9])
    assert adjusted[0] == pytest.approx(1.0) and math.isnan(adjusted[1])


# ---------------------------------------------------------------- grouping

def record(run_dir: str, seed: int, *, distance="cosine", task="copy", lr=0.01, steps=None,
           status="completed") -> dict:
    return {
        "status": status, "seed": seed, "model": "dnc", "task": task, "wall_time_s": 10.0,
        "metrics": {"test/bit_errors": 0.1},
        "config": {"seed": seed, "study": "distance", "run_dir": run_dir,
                   "model": {"distance": distance},
                   "task": {"seed": seed, "bits": 6}, "optimizer": {"lr": lr},
                   "trainer": {"max_steps": 2000, "default_root_dir": run_dir},
                   "callbacks": {"solved": {"stopping_threshold": 0.05,
                                            "dirpath": f"{run_dir}/checkpoints"}}},
    }


def write_run(root: Path, name: str, rec: dict, points: list[tuple[int, float]]) -> Path:
    run = root / name
    (run / "csv").mkdir(parents=True)
    for key in ("run_dir",):
        rec["config"][key] = str(run)
    rec["metrics_csv"] = "csv/metrics.csv"
    (run / "results.json").write_text(json.dumps(rec))
    pd.DataFrame(points, columns=["step", "val/bit_errors"]).to_csv(run / "csv/metrics.csv",
                                                                   index=False)
    return run


def test_settings_drop_seed_copies_and_per_run_paths_only():
    rec = record("/runs/7", 3)
    settings = run_settings(rec, "/runs/7")
    assert "seed" not in settings and "task.seed" not in settings
    assert "trainer.default_root_dir" not in settings and "run_dir" not in settings
    assert "callbacks.solved.dirpath" not in settings
    assert settings["model.distance"] == "cosine" and settings["optimizer.lr"] == 0.01
    assert settings["callbacks.solved.stopping_threshold"] == 0.05


def test_runs_differing_beyond_the_seed_are_never_pooled(tmp_path):
    """An unlisted setting (the learning rate) splits what the study's factor alone would pool."""
    for i in range(3):
        write_run(tmp_path, f"a{i}", record("", i, lr=0.01), [(99, 0.0)])
    for i in range(3):
        write_run(tmp_path, f"b{i}", record("", i, lr=0.001), [(499, 0.0)])
    df = load_study(read_records([tmp_path]), DISTANCE)
    assert df["block"].nunique() == 2 and set(df["block"]) == {"lr=0.01", "lr=0.001"}
    table = study_table(df, DISTANCE)
    assert list(table["seeds"]) == [3, 3]
    assert sorted(table["steps mean"]) == [100.0, 500.0]


def test_arms_come_from_the_factor_and_blocks_from_the_rest(tmp_path):
    for i in range(2):
        for task in ("copy", "associative_recall_single"):
            for d in ("cosine", "dot"):
                write_run(tmp_path, f"{task}-{d}-{i}", record("", i, distance=d, task=task),
                          [(99, 1.0), (199, 0.0 if d == "cosine" else 1.0)])
    df = load_study(read_records([tmp_path]), DISTANCE)
    assert set(df["block"]) == {"task=copy", "task=associative_recall_single"}
    assert set(df["arm"]) == {"distance=cosine", "distance=dot"}
    assert df.loc[df["arm"] == "distance=cosine", "is_baseline"].all()
    table = study_table(df, DISTANCE)
    dot = table[table["arm"] == "distance=dot"]
    assert (dot["never solved"] == 1.0).all() and (dot["steps mean"] == 2000).all()


def test_a_repeated_same_seed_run_replaces_the_earlier_one(tmp_path):
    old = write_run(tmp_path, "old", record("", 0), [(99, 1.0), (199, 0.0)])
    new = write_run(tmp_path, "new", record("", 0), [(99, 0.0)])
    import os
    os.utime(old / "results.json", (1, 1))
    df = load_study(read_records([tmp_path]), DISTANCE)
    assert len(df) == 1 and df["run_dir"].iloc[0] == str(new) and df["steps"].iloc[0] == 100


def test_crashed_and_interrupted_runs_are_not_counted(tmp_path):
    write_run(tmp_path, "ok", record("", 0), [(99, 0.0)])
    write_run(tmp_path, "bad", record("", 1, status="failed"), [(99, 0.0)])
    write_run(tmp_path, "cut", record("", 2, status="interrupted"), [(99, 0.0)])
    assert list(load_study(read_records([tmp_path]), DISTANCE)["seed"]) == [0]


# ---------------------------------------------------------------- findings

def table_of(arms: dict[tuple[str, str], list[int]]) -> pd.DataFrame:
    """The distance study's table from hand-made steps to solve: (task, distance) -> one value
    per seed (2000 = the budget, censored); every test error 0."""
    rows = [{"settings": {"model.distance": d, "task": t}, "seed": i, "steps": s,
             "censored": s >= 2000, "diverged": False, "wall_time_s": 1.0,
             **{f"{x}/bit_errors": 0.0 for x in ("test", "test_2x", "test_4x")}}
            for (t, d), steps in arms.items() for i, s in enumerate(steps)]
    return study_table(label_arms(pd.DataFrame(rows), DISTANCE), DISTANCE)


def hand_table(base_steps, arm_steps) -> pd.DataFrame:
    return table_of({("copy", "cosine"): base_steps, ("copy", "dot"): arm_steps})


def test_finding_names_a_separated_arm_with_direction_and_p():
    table = hand_table([100, 150, 200, 250, 300], [900, 1000, 1100, 1200, 2000])
    sentence = finding(table, DISTANCE)
    assert sentence.startswith("Distance=dot needed more steps to solve than distance=cosine (clearly")
    assert "p = 0.008" in sentence and "median 1100 vs 200" in sentence


def test_finding_says_when_the_evidence_does_not_separate():
    table = hand_table([100, 300, 500, 700, 900], [200, 400, 600, 800, 1000])
    sentence = finding(table, DISTANCE)
    assert sentence.startswith("The evidence does not separate the arms")
    assert "5 seeds per arm" in sentence


def test_page_has_every_study_with_protocol_from_its_sweep(tmp_path):
    for i in range(2):
        for d in ("cosine", "dot"):
            write_run(tmp_path / "runs", f"{d}{i}", record("", i, distance=d), [(99, 0.0)])
    path, findings, files = write_extensions([tmp_path / "runs"], tmp_path / "out")
    text = path.read_text()
    assert [s.title for s in STUDIES] == list(findings)
    assert all(f"## {s.title}" in text for s in STUDIES)
    assert "sweeps/copy_dnc_distance.yaml" in text and "`trainer.max_steps=2000`" in text
    assert all(f.is_file() for f in files)


# ---------------------------------------------------------------- sweep files

@pytest.mark.parametrize("study", STUDIES, ids=lambda s: s.name)
def test_every_study_sweep_carries_its_budget_and_five_seeds(study: Study):
    params = yaml.safe_load((REPO / "sweeps" / study.sweep).read_text())["parameters"]
    assert params["study"] == {"value": study.name}
    assert len(params["seed"]["values"]) >= 5
    for key in ("trainer.max_steps", "trainer.val_check_interval", "task.val_size",
                "callbacks.solved.monitor", "callbacks.solved.stopping_threshold"):
        assert "value" in params[key], key
    assert params["callbacks.solved.monitor"]["value"] == "val/bit_errors"
    swept = {k for k, v in params.items() if "values" in v}
    # every factor key is swept directly, or set by each experiment file the sweep runs
    arms = [yaml.safe_load((REPO / "configs" / "experiment" / f"{e}.yaml").read_text())
            for e in params.get("experiment", {}).get("values", [])]
    for key in study.factor:
        section, name = key.split(".", 1)
        assert key in swept or (arms and all(name in a.get(section, {}) for a in arms)), key


# ---------------------------------------------------------------- command line

def earlier_reports(tmp_path, babi_page: str, *, extensions: str):
    """An output folder and a README as an earlier ``python -m reports`` left them: the bAbI page
    ``babi_page`` and two marked README blocks, ``babi`` holding "kept" and ``extensions`` holding
    the text ``extensions``."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "babi_table.md").write_text(babi_page)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- reports:babi -->\nkept\n<!-- /reports:babi -->\n"
                      f"<!-- reports:extensions -->\n{extensions}\n<!-- /reports:extensions -->\n")
    return out, readme


def test_cli_only_extensions_rewrites_its_part_and_leaves_the_rest(tmp_path):
    from reports import __main__ as cli

    for i in range(2):
        write_run(tmp_path / "runs", f"r{i}", record("", i), [(99, 0.0)])
    out, readme = earlier_reports(tmp_path, "bAbI, from earlier runs\n\n| a |\n|---|\n| 1 |\n",
                                  extensions="old")
    assert cli.main(["--runs", str(tmp_path / "runs"), "--out", str(out), "--only", "extensions",
                     "--html", "--readme", str(readme)]) == 0
    assert (out / "babi_table.md").read_text().startswith("bAbI, from earlier runs")
    text = readme.read_text()
    assert "kept" in text and "old" not in text and "**Content-lookup distance.**" in text
    page = (out / "index.html").read_text()
    assert "bAbI, from earlier runs" in page and "Content-lookup distance" in page


def test_no_study_runs_keeps_the_extension_page_and_block_as_they_were(tmp_path):
    """A fresh clone has no study runs (their folders are not archived): the full command must
    keep the measured page and README block, not replace them with "no runs were found"."""
    from reports import __main__ as cli

    out, readme = earlier_reports(tmp_path, "bAbI\n", extensions="measured finding")
    (out / "extensions.md").write_text("# Extension studies\nmeasured table\n")
    assert cli.main(["--runs", str(tmp_path / "none"), "--out", str(out),
                     "--readme", str(readme)]) == 0
    assert (out / "extensions.md").read_text() == "# Extension studies\nmeasured table\n"
    assert "measured finding" in readme.read_text()
    for i in range(2):  # once a study has runs, its page and block are made from them
        write_run(tmp_path / "runs", f"r{i}", record("", i), [(99, 0.0)])
    assert cli.main(["--runs", str(tmp_path / "runs"), "--out", str(out),
                     "--readme", str(readme)]) == 0
    assert "measured table" not in (out / "extensions.md").read_text()
    assert "measured finding" not in readme.read_text()
    assert "**Content-lookup distance.**" in readme.read_text()


def test_study_runs_stay_out_of_the_per_task_tables(tmp_path):
    from reports.__main__ import generate_results

    for i in range(2):
        write_run(tmp_path / "runs", f"r{i}", record("", i), [(99, 0.0)])
    written = generate_results([tmp_path / "runs"], tmp_path / "out")
    assert not any(p.name.startswith("copy_") for p in written)


def test_holm_family_is_one_block_and_measure():
    """Two tasks, one comparison each: each p stays as it is (a family of one), not doubled."""
    table = table_of({(t, d): [s + 100 * i for i in range(5)]
                      for t in ("copy", "associative_recall_single")
                      for d, s in (("cosine", 100), ("dot", 1500))})
    dot = table[table["arm"] == "distance=dot"]
    assert list(dot["p steps holm"]) == pytest.approx([2 / 252, 2 / 252])


def test_cli_only_curriculum_leaves_the_other_pages_and_blocks(tmp_path):
    from reports import __main__ as cli

    out, readme = earlier_reports(tmp_path, "bAbI, from earlier runs\n", extensions="also kept")
    assert cli.main(["--runs", str(tmp_path / "none"), "--out", str(out), "--only", "curriculum",
                     "--readme", str(readme)]) == 0
    assert (out / "babi_table.md").read_text() == "bAbI, from earlier runs\n"
    assert "kept" in readme.read_text() and "also kept" in readme.read_text()


def test_arms_separated_the_same_way_share_one_clause():
    sentence = finding(table_of({("copy", d): [s + i for i in range(5)] for d, s in
                                 (("cosine", 100), ("dot", 900), ("euclidean", 800))}), DISTANCE)
    assert sentence.startswith("Distance=dot and distance=euclidean needed more steps to solve "
                               "than distance=cosine (moderately: median 902/802 vs 102")
    assert sentence.count("needed") == 1
