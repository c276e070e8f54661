"""The graph tasks' curriculum report (Graves et al., Nature 2016, ED Tables 3-5 and Fig. 2-3):
lesson reached against training episodes per run, and per lesson the training episodes it took
and the test-map accuracy right after its pass, beside the paper's.

Reads the ``curriculum`` record of each ``results.json`` (written by
``memnets.training.curriculum.Curriculum``); runs without one are not curriculum runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from reports.collect import collect, find_results  # noqa: E402
from reports.plots import _save  # noqa: E402
from reports.tables import setting_labels, to_markdown  # noqa: E402

# The paper's test-map accuracy (%) after the last lesson, mean ± sd (ED Tables 3-5 "Test";
# reference/published-results.md §3.1). The per-lesson rows of those columns are not in our
# reference, so only the last lesson carries a published value.
PUBLISHED_FINAL_TEST = {
    "graph_traversal": "98.8 ± 1.6",
    "graph_inference": "81.8 ± 13.5",
    "graph_shortest_path": "55.3 ± 6.4",
}
PAPER_COLUMN = "paper test % [P]"


def test_accuracy(passed: dict) -> float | None:
    """Test-map accuracy (%) recorded at a pass: the minimal-path share where the task has one
    (shortest path), else the share of episodes fully right."""
    for key in sorted(passed):
        if key.endswith("/path_error"):
            return 100.0 * (1.0 - passed[key])
    keys = [k for k in passed if k.startswith("test_") and k.endswith("/error")]
    return 100.0 * (1.0 - passed[keys[0]]) if keys else None


def curriculum_runs(roots: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, passes): one row per curriculum run (task, model, arm, seed, lessons, lesson
    reached, episodes seen) and one per lesson passed (lesson, step, episodes, test accuracy %).
    ``arm`` is the model with the settings that differ between its runs (seeds aside), so two
    arms are never pooled as seeds (DESIGN §9)."""

    roots = list(roots)
    run_rows, pass_rows = [], []
    found = find_results(roots)
    labels = setting_labels(collect(roots)) if found else pd.Series(dtype=object)
    for path in found:
        record = json.loads(path.read_text())
        curriculum = record.get("curriculum")
        if not curriculum:
            continue
        batch = (record.get("config") or {}).get("task", {}).get("batch_size", 1)
        label = labels.get(str(path.parent), "")
        model = record.get("model")
        base = {"run_dir": str(path.parent), "task": record.get("task"), "model": model,
                "arm": f"{model} [{label}]" if label else model, "seed": record.get("seed")}
        start = (record.get("config") or {}).get("task", {}).get("lesson", 1)
        run_rows.append({**base, "lessons": curriculum["lessons"], "start": start,
                         "reached": curriculum["lesson"], "completed": curriculum["completed"],
                         "episodes": record.get("global_step", 0) * batch})
        for p in curriculum["passed"]:
            pass_rows.append({**base, "lesson": p["lesson"], "step": p["step"],
                              "episodes": p["episodes"], "test_acc": test_accuracy(p)})
    return pd.DataFrame(run_rows), pd.DataFrame(pass_rows)


def curriculum_table(runs: pd.DataFrame, passes: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per lesson: for each arm, the runs that passed it out of all, the median training
    episodes at the pass and the mean test-map accuracy (%) just after; the paper's test
    accuracy where our reference has it."""
    mine = runs[runs["task"] == task]
    n_lessons = int(mine["lessons"].max())
    table = pd.DataFrame(index=pd.RangeIndex(1, n_lessons + 1, name="lesson"))
    for model, group in mine.groupby("arm"):
        done = passes[(passes["task"] == task) & (passes["arm"] == model)]
        by_lesson = done.groupby("lesson")
        table[f"{model} passed"] = [f"{len(by_lesson.groups.get(k, []))}/{len(group)}"
                                    for k in table.index]
        table[f"{model} episodes"] = by_lesson["episodes"].median().reindex(table.index)
        table[f"{model} test %"] = by_lesson["test_acc"].mean().round(1).reindex(table.index)
    table[PAPER_COLUMN] = ["" for _ in table.index]
    table.loc[n_lessons, PAPER_COLUMN] = PUBLISHED_FINAL_TEST.get(task, "")
    return table.astype(object).where(table.notna(), "–")


def lesson_figure(runs: pd.DataFrame, passes: pd.DataFrame, path: Path) -> Path | None:
    """Lesson reached against training episodes, one panel per task, one line per run."""
    if runs.empty:
        return None
    tasks = sorted(runs["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    colours = {m: f"C{i}" for i, m in enumerate(sorted(runs["arm"].unique()))}
    for ax, task in zip(axes[0], tasks, strict=True):
        for _, run in runs[runs["task"] == task].iterrows():
            mine = passes[passes["run_dir"] == run["run_dir"]].sort_values("episodes") \
                if not passes.empty else passes
            xs, ys = [0], [run["start"]]
            for _, p in mine.iterrows():
                xs += [p["episodes"], p["episodes"]]
                ys += [ys[-1], min(p["lesson"] + 1, run["lessons"])]
            xs.append(max(run["episodes"], xs[-1]))
            ys.append(ys[-1])
            ax.plot(xs, ys, color=colours[run["arm"]], alpha=0.8, label=run["arm"])
        top = int(runs.loc[runs["task"] == task, "lessons"].max())
        ax.set(title=task, xlabel="training episodes", ylabel="lesson reached",
               ylim=(0.5, top + 0.5), yticks=range(1, top + 1))
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys())
    return _save(fig, path)


def write_curriculum(roots: Iterable[str | Path], out: Path) -> list[Path]:
    """``curriculum.md`` (one table per graph task) and ``curriculum.png``; nothing without runs.
    Mini-SHRDLU's curriculum has its own report (``reports.shrdlu``)."""
    runs, passes = curriculum_runs(roots)
    if not runs.empty:
        runs = runs[runs["task"].str.startswith("graph_")]
    if runs.empty:
        return []
    if passes.empty:
        passes = pd.DataFrame(columns=["run_dir", "task", "model", "arm", "lesson", "episodes",
                                       "test_acc"])
    sections = ["# Graph-task curricula", "",
                "Per lesson: runs that passed it, median training episodes at the pass and the "
                "mean test-map accuracy (%) right after it (London Underground for traversal and "
                "shortest path, the family tree for inference), beside the paper's test accuracy "
                "after the last lesson (Graves et al. 2016, ED Tables 3-5). Lesson tables: "
                "configs/task/graph_*.yaml.", ""]
    # traversal first: the README quotes the first table (the paper's headline task)
    for task in sorted(runs["task"].unique(), key=lambda t: (t != "graph_traversal", t)):
        mine = runs[runs["task"] == task]
        budget = ", ".join(f"{m}: {len(g)} run(s), up to {int(g['episodes'].max())} episodes"
                           for m, g in mine.groupby("arm"))
        sections += [f"## {task}", "", f"Budget: {budget}.", "",
                     to_markdown(curriculum_table(runs, passes, task), index=True), ""]
    md = out / "curriculum.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(sections))
    figure = lesson_figure(runs, passes, out / "curriculum.png")
    return [md] + ([figure] if figure else [])


def curriculum_tasks(roots: Iterable[str | Path]) -> set[str]:
    """Tasks whose runs carry a curriculum (their report is this one, not a length table)."""
    runs, _ = curriculum_runs(roots)
    return set(runs["task"]) if not runs.empty else set()
