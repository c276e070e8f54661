"""The graph tasks' curriculum report (Graves et al., Nature 2016, ED Tables 3-5 and Fig. 2-3):
lesson reached against training episodes per run, and per lesson the training episodes it took
and the test-map accuracy right after its pass, beside the paper's.

Reads the ``curriculum`` record of each ``results.json`` (written by
``memnets.training.curriculum.Curriculum``); runs without one are not curriculum runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from reports.collect import hardware_name, read_metrics_log, read_records, records_frame  # noqa: E402
from reports.plots import _save  # noqa: E402
from reports.tables import code_summary, hardware_summary, setting_labels, to_markdown  # noqa: E402

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
    """(runs, passes): one row per curriculum run (task, model, arm, setting, seed, lessons,
    lesson reached, episodes seen) and one per lesson passed (lesson, step, episodes, test
    accuracy %). ``setting`` is the settings that differ between the runs of a model (seeds
    aside, "" when none) and ``arm`` the model with them, so two arms are never pooled as seeds
    (DESIGN §9)."""

    roots = list(roots)
    run_rows, pass_rows = [], []
    found = read_records(roots)  # one record per run: a resumed run's latest
    labels = setting_labels(records_frame(found)) if found else pd.Series(dtype=object)
    for path, record in found:
        curriculum = record.get("curriculum")
        if not curriculum:
            continue
        batch = (record.get("config") or {}).get("task", {}).get("batch_size", 1)
        label = labels.get(str(path.parent), "")
        model = record.get("model")
        base = {"run_dir": str(path.parent), "task": record.get("task"), "model": model,
                "arm": f"{model} [{label}]" if label else model, "setting": label,
                "seed": record.get("seed")}
        start = (record.get("config") or {}).get("task", {}).get("lesson", 1)
        run_rows.append({**base, "lessons": curriculum["lessons"], "start": start,
                         "reached": curriculum["lesson"], "completed": curriculum["completed"],
                         "episodes": record.get("global_step", 0) * batch, "batch": batch,
                         "pass_metric": (record.get("config") or {}).get("task", {}).get(
                             "pass_metric", "val/error"),
                         "wall_h": (record.get("wall_time_s") or 0) / 3600,  # all segments
                         "hardware": hardware_name(record),
                         "code_version": record.get("code_version")})
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
        table[f"{model} episodes"] = by_lesson["episodes"].median().round().astype("Int64") \
            .reindex(table.index)
        table[f"{model} test %"] = by_lesson["test_acc"].mean().round(1).reindex(table.index)
    table[PAPER_COLUMN] = ["" for _ in table.index]
    table.loc[n_lessons, PAPER_COLUMN] = PUBLISHED_FINAL_TEST.get(task, "")
    return trim_lessons(table.astype(object).where(table.notna(), "–"), int(mine["reached"].max()))


def trim_lessons(table: pd.DataFrame, reached: int) -> pd.DataFrame:
    """The rows a reader needs: every lesson up to the furthest one reached, then "…" for the
    lessons no run got to and the last lesson (the paper's row)."""
    last = int(table.index.max())
    if reached + 1 >= last:
        return table
    gap = pd.DataFrame([["…"] * table.shape[1]], columns=table.columns,
                       index=pd.Index(["…"], name=table.index.name))
    return pd.concat([table.loc[:reached], gap, table.loc[[last]]])


def lessons_passed(passes: pd.DataFrame, run_dir: str) -> int:
    """How many lessons a run passed (0: none)."""
    return int((passes["run_dir"] == run_dir).sum()) if not passes.empty else 0


def budget_line(arm: str, group: pd.DataFrame) -> str:
    """One arm's budget: runs and seeds, wall time, episodes, batch, hardware and code."""
    seeds = ", ".join(str(s) for s in sorted(group["seed"].dropna().unique()))
    return (f"{arm}: {len(group)} run(s) (seed {seeds}), {group['wall_h'].median():.2f} h of wall "
            f"time (median), up to {int(group['episodes'].max()):,} training episodes at batch "
            f"{int(group['batch'].median())}; {hardware_summary(group['hardware'])}; code "
            f"{code_summary(group['code_version'])}")


def furthest(passed: int, lessons: int) -> str:
    return f"the furthest passed lesson {passed} of {lessons}" if passed else "none passed a lesson"


def findings(runs: pd.DataFrame, passes: pd.DataFrame, task: str) -> str:
    """What the runs of ``task`` show, in sentences computed from the records: per arm the runs
    that passed lesson 1 and the furthest lesson passed; for traversal, whether the paper's
    claim (the DNC climbs the curriculum, the LSTM stalls at lesson 1) holds at this budget."""
    mine = runs[runs["task"] == task]
    passes = passes[passes["task"] == task] if not passes.empty else passes  # arms recur per task
    lines, cleared = [], {}
    for arm, group in mine.groupby("arm"):
        counts = [lessons_passed(passes, d) for d in group["run_dir"]]
        cleared[arm] = counts
        first = passes[(passes["arm"] == arm) & (passes["lesson"] == 1)] if not passes.empty \
            else passes
        when = (f", lesson 1 after a median {int(first['episodes'].median()):,} episodes"
                if len(first) else "")
        done = " and completed the curriculum" if group["completed"].any() else ""
        mine_passes = passes[passes["arm"] == arm] if not passes.empty else passes
        if len(mine_passes) and mine_passes["test_acc"].notna().any():
            top = mine_passes[mine_passes["lesson"] == mine_passes["lesson"].max()]
            done += f", test-map accuracy after it {top['test_acc'].mean():.1f}%"
        lines.append(f"{arm}: {sum(c > 0 for c in counts)}/{len(counts)} run(s) passed lesson 1"
                     f"{when}; {furthest(max(counts), int(group['lessons'].max()))}{done} "
                     f"(budget {group['wall_h'].median():.2f} h, up to "
                     f"{int(group['episodes'].max()):,} episodes).")
    dnc = [c for arm, cs in cleared.items() if arm.startswith("dnc") for c in cs]
    lstm = [c for arm, cs in cleared.items() if arm.startswith("lstm") for c in cs]
    if task == "graph_traversal" and dnc and lstm:
        climbs, stalls = all(c > 0 for c in dnc), all(c == 0 for c in lstm)
        finished = mine.loc[mine["arm"].str.startswith("dnc"), "completed"].any()
        verdict = ("holds here" if climbs and stalls else
                   "cannot be judged here (no DNC run passed lesson 1 either)" if not any(dnc)
                   else "does not hold here" if not stalls else "holds partly here")
        lines.append(f"The paper's claim that the DNC climbs the curriculum while the LSTM stalls "
                     f"at lesson 1 {verdict}: every DNC run passed lesson 1: "
                     f"{'yes' if climbs else 'no'}; no LSTM run passed it: "
                     f"{'yes' if stalls else 'no'}. Whether the DNC finishes the curriculum "
                     f"(the paper: 98.8% on the Underground after it) is "
                     f"{'shown' if finished else 'not shown'} at this budget.")
    return "\n".join(f"- {line}" for line in lines)


def validation_curve(run_dir: str, batch: int, metric: str = "val/error") -> pd.DataFrame:
    """A run's validation ``metric`` (its lesson-pass metric, on the current lesson) against
    training episodes, from its CSV log (empty when it has none)."""
    log = read_metrics_log(Path(run_dir))
    if log is None or metric not in log.columns:
        return pd.DataFrame(columns=["episodes", metric])
    log = log.dropna(subset=[metric])
    return pd.DataFrame({"episodes": log["step"] * batch, metric: log[metric]})


def lesson_figure(runs: pd.DataFrame, passes: pd.DataFrame, path: Path) -> Path | None:
    """Per task (columns): lesson reached against training episodes (top, one line per run) and
    the lesson-pass metric on the current lesson (bottom, smoothed over 10 evaluations)."""
    if runs.empty:
        return None
    tasks = sorted(runs["task"].unique(), key=lambda t: (t != "graph_traversal", t))
    fig, axes = plt.subplots(2, len(tasks), figsize=(5 * len(tasks), 6.4), squeeze=False,
                             sharex="col")
    colours = {m: f"C{i}" for i, m in enumerate(sorted(runs["arm"].unique()))}
    for col, task in enumerate(tasks):
        ax, err_ax = axes[0][col], axes[1][col]
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
            curve = validation_curve(run["run_dir"], int(run["batch"]), run["pass_metric"])
            if len(curve):
                smooth = curve[run["pass_metric"]].rolling(10, min_periods=1).mean()
                err_ax.plot(curve["episodes"], smooth, color=colours[run["arm"]], alpha=0.8)
        top = int(runs.loc[runs["task"] == task, "lessons"].max())
        ax.set(title=task, ylabel="lesson reached", ylim=(0.5, top + 0.5),
               yticks=range(1, top + 1))
        metrics = sorted(runs.loc[runs["task"] == task, "pass_metric"].unique())
        err_ax.set_title(", ".join(metrics), fontsize="small")
        err_ax.set(xlabel="training episodes", ylabel="lesson-pass metric\n(validation)",
                   ylim=(-0.02, 1.02))
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
        budget = [f"- {budget_line(m, g)}" for m, g in mine.groupby("arm")]
        sections += [f"## {task}", "", "Budget:", "", *budget, "",
                     to_markdown(curriculum_table(runs, passes, task), index=True), "",
                     "Findings:", "", findings(runs, passes, task), ""]
    md = out / "curriculum.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(sections))
    figure = lesson_figure(runs, passes, out / "curriculum.png")
    return [md] + ([figure] if figure else [])


def curriculum_tasks(roots: Iterable[str | Path]) -> set[str]:
    """Tasks whose runs carry a curriculum (their report is this one, not a length table)."""
    runs, _ = curriculum_runs(roots)
    return set(runs["task"]) if not runs.empty else set()
