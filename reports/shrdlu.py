"""The mini-SHRDLU report (Graves et al., Nature 2016, Fig. 5): lessons reached against training
episodes per run (like Fig. 5a) and, per lesson, the shares of episodes solved optimally,
solved with extra moves and left incomplete (stacked bars, like Fig. 5b).

Reads each ``task=shrdlu`` run's ``results.json``: its curriculum record (each pass keeps the
validation round's results, 160 closed-loop episodes by default) and its test metrics (the
lesson it ended on, never passed). Arms are the model and the training (imitation or
actor-critic) plus any other setting that differs between runs (seeds aside).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from reports.curriculum import budget_line, curriculum_runs, lesson_figure  # noqa: E402
from reports.plots import _save, short_labels  # noqa: E402
from reports.tables import to_markdown  # noqa: E402

TASK = "shrdlu"
OUTCOMES = ("optimal", "suboptimal", "incomplete")  # Fig. 5b's three disjoint outcomes
PANELS_PER_ROW = 4
COLOURS = {"optimal": "tab:green", "suboptimal": "tab:orange", "incomplete": "tab:red"}


def training_of(record: dict) -> str:
    """``actor-critic`` for ``training=rl`` runs, else ``imitation``."""
    mode = ((record.get("config") or {}).get("training") or {}).get("mode", "imitation")
    return "actor-critic" if mode == "rl" else "imitation"


def arm_of(model: str, training: str, label: str) -> str:
    """``dnc imitation [model.hidden_size=64]``: the training settings (and the monitors that
    follow from them) are said by ``training``."""
    rest = [part for part in label.split(", ") if part and not part.startswith(
        ("training.", "training=", "optimized_metric", "callbacks.", "callbacks="))]
    return f"{model} {training}" + (f" [{', '.join(rest)}]" if rest else "")


def shares(metrics: dict, stage: str) -> dict[str, float] | None:
    """Fig. 5b's shares (%) and constraints satisfied (%) from ``{stage}/...`` results."""
    try:
        optimal, solved = metrics[f"{stage}/solved_optimal"], metrics[f"{stage}/solved"]
        satisfied = metrics[f"{stage}/constraints_satisfied"]
    except KeyError:
        return None
    return {"optimal": 100 * optimal, "suboptimal": 100 * (solved - optimal),
            "incomplete": 100 * (1 - solved), "constraints": 100 * satisfied}


def shrdlu_runs(roots: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(runs, passes, outcomes) of the shrdlu runs: the curriculum report's rows with the arm
    named as above, and one outcome row per run and lesson (``at``: ``pass`` for a passed
    lesson's last validation, ``test`` for the lesson the run ended on)."""
    runs, passes = curriculum_runs(roots)
    if runs.empty:
        return runs, passes, pd.DataFrame()
    runs = runs[runs["task"] == TASK].copy()
    outcome_rows, arms = [], {}
    for _, run in runs.iterrows():
        record = json.loads((Path(run["run_dir"]) / "results.json").read_text())
        arms[run["run_dir"]] = arm_of(run["model"], training_of(record), run["setting"])
        base = {"run_dir": run["run_dir"], "arm": arms[run["run_dir"]]}
        for p in record["curriculum"]["passed"]:
            found = shares(p, "val")
            if found:
                outcome_rows.append({**base, "lesson": p["lesson"], "at": "pass", **found})
        found = shares(record.get("metrics") or {}, "test")
        if found and not record["curriculum"]["completed"]:
            outcome_rows.append({**base, "lesson": record["curriculum"]["lesson"], "at": "test",
                                 **found})
    runs["arm"] = runs["run_dir"].map(arms)
    if not passes.empty:
        passes = passes[passes["run_dir"].isin(arms)].assign(arm=lambda d: d["run_dir"].map(arms))
    return runs, passes, pd.DataFrame(outcome_rows)


def summary_table(runs: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per arm: runs, the lesson reached (best of its runs, of all) and the most lessons one run
    passed, its training episodes (most of its runs), and the outcome shares (%) on the lesson
    each run ended on (mean over runs)."""
    rows = []
    for arm, group in runs.groupby("arm"):
        last = outcomes[(outcomes["arm"] == arm) & (outcomes["at"] == "test")] \
            if not outcomes.empty else pd.DataFrame()
        passed = group["reached"] - group["start"] + group["completed"].astype(int)
        row = {"arm": arm, "runs": len(group),
               "lesson reached": f"{int(group['reached'].max())}/{int(group['lessons'].max())}",
               "lessons passed": int(passed.max()),
               "training episodes": int(group["episodes"].max())}
        for name in (*OUTCOMES, "constraints"):
            row[f"last lesson {name} %"] = round(last[name].mean(), 1) if len(last) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def outcome_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per arm and lesson: the mean outcome shares (%) and constraints satisfied (%)."""
    if outcomes.empty:
        return outcomes
    table = outcomes.groupby(["arm", "lesson"])[[*OUTCOMES, "constraints"]].mean().round(1)
    table["at"] = outcomes.groupby(["arm", "lesson"])["at"].agg(lambda s: "/".join(sorted(set(s))))
    return table.reset_index()


def outcome_figure(table: pd.DataFrame, path: Path) -> Path | None:
    """Stacked bars per lesson (optimal, suboptimal, incomplete), one panel per arm (Fig. 5b)."""
    if table.empty:
        return None
    arms = sorted(table["arm"].unique())
    cols = min(PANELS_PER_ROW, len(arms))
    rows = -(-len(arms) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(arms):]:
        ax.set_visible(False)
    for ax, arm, title in zip(axes.flat, arms, short_labels(arms, 40), strict=False):
        mine = table[table["arm"] == arm].sort_values("lesson")
        bottom = pd.Series(0.0, index=mine.index)
        for name in OUTCOMES:
            ax.bar(mine["lesson"], mine[name], bottom=bottom, color=COLOURS[name], label=name)
            bottom += mine[name]
        ax.set(title=title, xlabel="lesson", ylabel="episodes (%)", ylim=(0, 100))
        ax.set_xticks(sorted(mine["lesson"].unique()))
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def write_shrdlu(roots: Iterable[str | Path], out: Path) -> list[Path]:
    """``shrdlu.md`` (summary, then outcomes per lesson), ``shrdlu_lessons.png`` and
    ``shrdlu_outcomes.png``; nothing without shrdlu runs."""
    runs, passes, outcomes = shrdlu_runs(roots)
    if runs.empty:
        return []
    if passes.empty:
        passes = pd.DataFrame(columns=["run_dir", "task", "arm", "lesson", "episodes"])
    table = outcome_table(outcomes)
    lines = ["# Mini-SHRDLU", "",
             "Lesson reached (of tasks/shrdlu/lessons.py's 26) and the outcome shares (%) of the "
             "closed-loop episodes of the lesson each run ended on: solved in the minimum moves L "
             "(optimal), within L + 6 (suboptimal) or not (incomplete); a lesson passes at 85% of "
             "constraints satisfied over 160 episodes (Graves et al. 2016, Fig. 5; the paper's "
             "DNC completed its 26 lessons by actor-critic, its LSTM did not).", "",
             to_markdown(summary_table(runs, outcomes), index=False), "",
             "Budget:", "", *(f"- {budget_line(a, g)}" for a, g in runs.groupby("arm")), "",
             "## Outcomes per lesson", "",
             "At each pass (its last validation round) and on the test episodes of the lesson a "
             "run ended on; mean over runs.", "",
             to_markdown(table, index=False) if not table.empty else "No outcomes recorded.", ""]
    md = out / "shrdlu.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(lines))
    written = [md]
    for figure in (lesson_figure(runs, passes, out / "shrdlu_lessons.png"),
                   outcome_figure(table, out / "shrdlu_outcomes.png")):
        if figure is not None:
            written.append(figure)
    return written
