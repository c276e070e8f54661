"""Tables from the tidy run frame (:mod:`reports.collect`): the bAbI comparison with published
columns, and the copy-style length-generalisation table. Pure functions: frame in, frame out;
``to_markdown`` / ``to_latex`` render any of them. Errors are fractions in runs, percent here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from reports.collect import runs as run_rows
from reports.published import TASKS, load_discrepancies, per_task, printed, task_failed

SUMMARY_ROWS = ("mean", "failed")
# Each of our columns states its budget, seed count, hardware and code version (DESIGN §9).
BUDGET_ROWS = ("runs", "seeds", "steps/run", "epochs/run", "wall time/run (h)",
               "skipped steps/run", "trained on 1k", "hardware", "code")
# Config columns that never make two runs a different setting.
NOT_SETTINGS = ("task.tasks", "task.val_size", "task.test_size")
# Safety callbacks that change nothing unless they act: a run in which the callback's own count
# (a train metric) stayed 0 trained exactly as a run without it, so the callback's config does not
# set it apart (the word-level DNC's seed 0 predates SkipNonFiniteGradients; seed 1 has it and
# skipped no step). A run in which it acted is a different setting.
INERT_UNLESS_USED = {"callbacks.skip_nonfinite.": "skipped_steps"}


# ---------------------------------------------------------------- settings and statistics

def setting_labels(df: pd.DataFrame, ignore: Iterable[str] = NOT_SETTINGS) -> pd.Series:
    """Per run_dir: the config values that differ between runs of the same (task, model), as
    ``"model.distance=dot, task.variable_length=False"`` ("" when nothing differs)."""
    rr = _unused_safety_blanked(run_rows(df), df)
    cfg_cols = [c for c in rr.columns if "." in c and c not in set(ignore)]
    labels = {}
    for _, g in rr.groupby(["task", "model"], dropna=False):
        # map, not astype(str): pandas keeps None/NaN missing through astype(str), so a setting
        # that is null in one run and set in another would not count as differing
        varying = [c for c in cfg_cols if g[c].map(_short).nunique() > 1]
        for _, r in g.iterrows():
            labels[r["run_dir"]] = ", ".join(_setting_items(r, varying))
    return pd.Series(labels, name="setting", dtype=object)


def _setting_items(run: pd.Series, varying: list[str]) -> list[str]:
    """``key=value`` for each varying config column of one run, as an override is written: a
    config group that is null in this run (every varying column under it missing, as with
    ``scheduler=null``) is one ``group=null``, a single missing value ``key=null``."""
    under: dict[str, list[str]] = {}
    for c in varying:
        under.setdefault(c.split(".", 1)[0], []).append(c)
    null = {g for g, cols in under.items() if len(cols) > 1 and all(_isnan(run[k]) for k in cols)}
    items: list[str] = []
    for c in varying:
        group = c.split(".", 1)[0]
        item = f"{group}=null" if group in null else f"{c}={_short(run[c])}"
        if item not in items:  # one group=null per group
            items.append(item)
    return items


def _unused_safety_blanked(rr: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """``rr`` (one row per run) with the config of each INERT_UNLESS_USED callback blanked in the
    runs where its count is recorded and 0, as if the callback were absent."""
    rr = rr.copy()
    for prefix, metric in INERT_UNLESS_USED.items():
        cols = [c for c in rr.columns if c.startswith(prefix)]
        counts = df[(df["split"] == "train") & (df["metric"] == metric)
                    & df["group"].isna()].groupby("run_dir")["value"].max()
        unused = rr["run_dir"].map(counts).eq(0)
        if cols and unused.any():
            rr[cols] = rr[cols].astype(object)
            rr.loc[unused, cols] = math.nan  # what a run without the callback has
    return rr


def _short(value) -> str:
    """A config value as written in an override (a float column's 64.0 is the int 64)."""
    if isinstance(value, tuple):
        return "[" + ",".join(map(_short, value)) + "]"
    if _isnan(value):
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof=1; NaN for one value) and count, NaNs dropped."""
    v = np.asarray([x for x in values if not _isnan(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def _isnan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt(mean: float, sd: float = math.nan, digits: int = 1) -> str:
    if _isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if _isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def skipped_steps(df: pd.DataFrame, run_dirs: Iterable[str]) -> float:
    """Mean over the runs of the steps whose gradient overflowed and updated nothing
    (``train/skipped_steps``, :class:`memnets.training.callbacks.SkipNonFiniteGradients`);
    NaN when no run recorded it (runs from before it existed)."""
    rows = df[df["run_dir"].isin(list(run_dirs)) & (df["split"] == "train")
              & (df["metric"] == "skipped_steps") & df["group"].isna()]
    return float(rows["value"].mean()) if not rows.empty else math.nan


def on_1k_summary(errors: pd.DataFrame) -> str:
    """Which tasks of a column trained on the 1k file (the 10k one missing): "task 3", or "–"."""
    tasks = sorted({int(t) for t in errors.loc[errors["on_1k"].astype(bool), "task"]})
    if not tasks:
        return "–"
    return ("task " if len(tasks) == 1 else "tasks ") + ", ".join(map(str, tasks))


def code_summary(versions: Iterable) -> str:
    """The code a column's runs ran: one short SHA, or "mixed: N commits", then how many runs had
    uncommitted changes or no recorded version, so a column pooled over code versions (or over
    code that was never committed) says so."""
    versions = list(versions)
    known = [v for v in versions if isinstance(v, str) and v]
    commits = sorted({v.removesuffix("-dirty") for v in known})
    dirty = sum(v.endswith("-dirty") for v in known)
    parts = [commits[0][:7] if len(commits) == 1 else f"{len(commits)} commits"] if commits else []
    if dirty:
        parts.append(f"{dirty} of {len(versions)} runs with uncommitted changes")
    if len(known) < len(versions):
        parts.append(f"{len(versions) - len(known)} unknown")
    return ("mixed: " if len(commits) > 1 else "") + ", ".join(parts)


def hardware_summary(hardware: Iterable) -> str:
    """The distinct hardware of a column's runs, " / "-joined ("unknown" if none recorded)."""
    names = sorted({str(h) for h in hardware if isinstance(h, str) and h})
    return " / ".join(names) or "unknown"


# ---------------------------------------------------------------- bAbI

def babi_task_errors(df: pd.DataFrame) -> pd.DataFrame:
    """Per completed bAbI run and task: test and val error in percent.

    Columns run_dir, label, training (joint | per-task), seed, task (int), on_1k (trained on
    the 1k file, the 10k one missing: :func:`reports.collect.trained_on_1k`), test, val, failed
    (test error above 5%, decided on the counts ``test/group/qaN/wrong`` and ``.../total`` when
    the run logged them, see :func:`reports.published.task_failed`). The task
    id comes from the group metric ``{split}/group/qaN/error`` (joint and per-task runs both log
    it); a run without group metrics falls back to its overall ``{split}/error`` when
    ``config.task.tasks`` is one task.
    ``label`` is ``"<model> <joint|per-task> <size>"`` (the size shown, since the published
    columns are 10k) plus any differing setting."""
    babi = df[(df["task"] == "babi") & (df["status"] == "completed")
              & df["metric"].isin(["error", "wrong", "total"]) & df["split"].isin(["test", "val"])]
    if babi.empty:
        return pd.DataFrame(columns=["run_dir", "label", "training", "seed", "task", "on_1k",
                                     "test", "val", "failed"])
    shown = ("task.joint", "task.size")  # in the label already
    settings = setting_labels(df[df["task"] == "babi"], ignore=(*NOT_SETTINGS, *shown))
    rows = []
    for run_dir, g in babi.groupby("run_dir"):
        first = g.iloc[0]
        training = "joint" if bool(first.get("task.joint", True)) else "per-task"
        label = f"{first['model']} {training} {first.get('task.size', '?')}"
        if settings.get(run_dir):
            label += f" [{settings[run_dir]}]"
        grouped = g[g["group"].fillna("").str.fullmatch(r"qa\d+")]
        if grouped.empty:
            tasks = first.get("task.tasks")
            if not isinstance(tasks, tuple) or len(tasks) != 1:
                continue
            grouped = g[g["group"].isna()].assign(group=f"qa{tasks[0]}")
        wide = grouped.pivot_table(index="group", columns=["split", "metric"], values="value",
                                   aggfunc="first")
        for group, r in wide.iterrows():
            test = 100 * r.get(("test", "error"), math.nan)
            on_1k = int(group[2:]) in (first.get("trained_on_1k") or ())
            rows.append({"run_dir": run_dir, "label": label, "training": training,
                         "seed": first["seed"], "task": int(group[2:]), "on_1k": on_1k,
                         "test": test,
                         "val": 100 * r.get(("val", "error"), math.nan),
                         "failed": task_failed(test, r.get(("test", "wrong"), math.nan),
                                               r.get(("test", "total"), math.nan))})
    return pd.DataFrame(rows)


def babi_ours(errors: pd.DataFrame, df: pd.DataFrame) -> dict[str, dict[str, dict]]:
    """Our columns per label: ``{"<label> mean": {row: (mean, sd, n)}, "<label> best": ...}``.

    A replica is (label, seed): one joint run, or the per-task runs sharing a seed. Per task:
    mean ± sd over replicas. Best: the replica with the lowest mean validation error (joint, as
    the DNC paper selects its best network), or per task the run with the lowest validation error
    (per-task training, as EntNet/MemN2N report). Rows mean/failed: per replica mean over tasks
    and count above 5%, then mean ± sd over replicas (the DNC paper's mean rows). The settings of
    one model come in the order they were first run, so the README's keys ([a], [b], ...) stay
    with their settings when a later one is added."""
    out: dict[str, dict[str, dict]] = {}
    rr = run_rows(df).set_index("run_dir")
    for label in sorted(errors["label"].unique(), key=lambda lb: _first_run_order(lb, errors, rr)):
        g = errors[errors["label"] == label]
        test = g.pivot_table(index="seed", columns="task", values="test", aggfunc="mean")
        val = g.pivot_table(index="seed", columns="task", values="val", aggfunc="mean")
        fails = g.pivot_table(index="seed", columns="task", values="failed", aggfunc="max")
        mean_col: dict = {t: mean_sd(test[t]) for t in test.columns}
        complete = test.dropna()
        mean_col["mean"] = mean_sd(complete.mean(axis=1))
        mean_col["failed"] = mean_sd(fails.loc[complete.index].sum(axis=1).astype(float))
        if g["training"].iloc[0] == "joint":
            best_seed = val.mean(axis=1).idxmin() if val.notna().any().any() else test.index[0]
            chosen = pd.Series(best_seed, index=test.columns)
        else:
            chosen = pd.Series({t: val[t].idxmin() if val[t].notna().any() else test[t].idxmin()
                                for t in test.columns})
        best = pd.Series({t: test.at[chosen[t], t] for t in test.columns})
        best_failed = sum(bool(fails.at[chosen[t], t]) for t in test.columns)
        best_col: dict = {t: (best[t], math.nan, 1) for t in best.index}
        best_col["mean"] = (best.mean(), math.nan, len(best))
        best_col["failed"] = (float(best_failed), math.nan, len(best))
        budget = rr.loc[g["run_dir"].unique()]
        skipped = skipped_steps(df, budget.index)
        seeds_note = partial_seeds_note(test)
        for col in (mean_col, best_col):
            col["skipped steps/run"] = (skipped, math.nan, len(budget))
            col["runs"] = (float(len(budget)), math.nan, len(budget))
            col["seeds"] = (float(budget["seed"].nunique()), math.nan, len(budget))
            if seeds_note:
                col.setdefault("notes", {})["seeds"] = seeds_note
            col["steps/run"] = (float(budget["global_step"].mean()), math.nan, len(budget))
            epochs = budget["epochs"] if "epochs" in budget else pd.Series(dtype=float)
            col["epochs/run"] = (float(epochs.mean()) if epochs.notna().any() else math.nan,
                                 math.nan, len(budget))
            col["hardware"] = hardware_summary(budget["hardware"])
            col["trained on 1k"] = on_1k_summary(g)
            for task in sorted(g.loc[g["on_1k"].astype(bool), "task"].unique()):
                col.setdefault("notes", {})[int(task)] = "1k"
            col["code"] = code_summary(budget["code_version"])
            # per run, like steps/run: a budget is what one run (one task, for per-task
            # models) was given; runs x this is the column's total
            col["wall time/run (h)"] = (float(budget["wall_time_s"].mean()) / 3600, math.nan,
                                        len(budget))
            col["n_tasks"] = len(test.columns)
        out[f"ours: {label} mean ± sd"] = mean_col
        out[f"ours: {label} best"] = best_col
    return out


def _first_run_order(label: str, errors: pd.DataFrame, rr: pd.DataFrame) -> tuple[str, str]:
    """Sort key of a column label: its model part ("memn2n per-task 10k"), then when its first
    run finished (records without the time first)."""
    runs = errors.loc[errors["label"] == label, "run_dir"].unique()
    times = [t if isinstance(t := rr.at[r, "finished_at"], str) else "" for r in runs]
    return label.split(" [")[0], min(times, default="")


def partial_seeds_note(test: pd.DataFrame) -> str:
    """For per-task training, where a seed has not run every task yet: "1 complete; seed 1: 6 of
    20 tasks" (``test``: seeds x tasks, NaN where a run is missing), else "". The mean ± sd rows
    are over the complete seeds only, so a reader must see that the seed count holds others."""
    done = test.notna().sum(axis=1)  # (seeds,)
    partial = done[done < test.shape[1]]
    if partial.empty:
        return ""
    rest = "; ".join(f"seed {seed}: {n} of {test.shape[1]} tasks" for seed, n in partial.items())
    return f"{len(done) - len(partial)} complete; {rest}"


def babi_published_columns(published: pd.DataFrame,
                           discrepancies: pd.DataFrame | None = None) -> dict[str, dict]:
    """Published columns in the same shape: ``{"<model> <stat> [tag]": {row: (mean, sd, n)}}``,
    plus ``source``. Where the printed mean or failed count is not what the column's own per-task
    values give (``discrepancies``, :func:`reports.published.load_discrepancies`), the cell holds
    the value from the per-task numbers and ``notes[row]`` says what the paper prints."""
    if discrepancies is None:
        discrepancies = load_discrepancies()
    off = discrepancies.set_index(["model", "statistic", "row"])
    tasks = per_task(published)
    cols: dict[str, dict] = {}
    for (model, stat), g in tasks[tasks["statistic"] != "sd"].groupby(
            ["model", "statistic"], sort=False):
        sd = tasks[(tasks["model"] == model) & (tasks["statistic"] == "sd")].set_index("task")
        col: dict = {}
        for _, r in g.iterrows():
            spread = sd["error_pct"].get(r["task"], math.nan) if stat == "mean" else math.nan
            col[r["task"]] = (r["error_pct"], spread, 1)
        for row in SUMMARY_ROWS:
            p = printed(published, row)
            col[row] = (p.get((model, stat), math.nan), p.get((model, "sd"), math.nan)
                        if stat == "mean" else math.nan, 1)
            if (model, stat, row) in off.index:
                fix = off.loc[(model, stat, row)]
                col[row] = (float(fix["from_per_task"]), col[row][1], 1)
                col.setdefault("notes", {})[row] = f"{_short(float(fix['printed']))} printed"
        col["source"] = g["source"].iloc[0]
        cols[f"{model} {stat} [{g['tag'].iloc[0]}]"] = col
    return cols


def babi_table(df: pd.DataFrame, published: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bAbI comparison: rows tasks 1..20 (a task trained on 1k marked "(1k)"), mean, failed
    (>5%), runs, steps/run, wall time/run (h), the tasks trained on 1k;
    published columns then ours. Returns (display table of strings, long numeric table)."""
    columns = {**babi_published_columns(published), **babi_ours(babi_task_errors(df), df)}
    index = [str(t) for t in TASKS] + list(SUMMARY_ROWS) + list(BUDGET_ROWS)
    display = pd.DataFrame(index=index, columns=list(columns), dtype=object)
    long = []
    for name, col in columns.items():
        partial = col.get("n_tasks", 20) < 20
        for key in [*TASKS, *SUMMARY_ROWS, *BUDGET_ROWS]:
            if isinstance(col.get(key), str):  # hardware, code
                display.loc[str(key), name] = col[key]
                long.append({"column": name, "row": str(key), "value": math.nan, "sd": math.nan,
                             "n": 0, "text": col[key], "source": "this suite"})
                continue
            mean, sd, n = col.get(key, (math.nan, math.nan, 0))
            digits = 0 if key in ("runs", "seeds", "steps/run", "epochs/run",
                                  "skipped steps/run") else (
                2 if key == "wall time/run (h)" else 1)
            if key == "failed" and _isnan(sd) and not _isnan(mean) and float(mean).is_integer():
                digits = 0
            cell = fmt(mean, sd, digits)
            if key in col.get("notes", {}):
                cell += f" ({col['notes'][key]})"
            if partial and key in SUMMARY_ROWS and cell != "–":
                cell += "*"
            display.loc[str(key), name] = cell
            long.append({"column": name, "row": str(key), "value": mean, "sd": sd, "n": n,
                         "source": col.get("source", "this suite"),
                         "text": col.get("notes", {}).get(key)})
    display.index.name = "task"
    return display.fillna("–"), pd.DataFrame(long)


# ---------------------------------------------------------------- copy-style tasks

def length_table(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per model × setting: error (%) and bit errors, mean ± sd over seeds, at every test split
    (``test`` = training range, ``test_2x``, ``test_4x``...). Completed runs only."""
    sel = df[(df["task"] == task) & (df["status"] == "completed") & df["group"].isna()
             & df["split"].fillna("").str.startswith("test")
             & df["metric"].isin(["error", "bit_errors"])]
    if sel.empty:
        return pd.DataFrame()
    settings = setting_labels(df[df["task"] == task])
    sel = sel.assign(setting=sel["run_dir"].map(settings).fillna(""))
    splits = sorted(sel["split"].unique(), key=lambda s: (len(s), s))
    rows = []
    for (model, setting), g in sel.groupby(["model", "setting"], sort=True):
        first = g.drop_duplicates("run_dir")
        row = {"model": model, "setting": setting or "default", "runs": len(first),
               "params": int(first["n_params"].iloc[0]) if first["n_params"].notna().all()
               else None,
               "steps/run": fmt(float(first["global_step"].mean()), digits=0)}
        for split in splits:
            for metric, scale, name in (("error", 100, "error %"), ("bit_errors", 1, "bits")):
                v = g[(g["split"] == split) & (g["metric"] == metric)]["value"] * scale
                m, s, _ = mean_sd(v)
                row[f"{split} {name}"] = fmt(m, s, 1 if metric == "error" else 2)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- rendering

def to_markdown(table: pd.DataFrame, index: bool = True) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    frame = table.reset_index() if index else table
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in r.values) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "±": r"$\pm$", "–": "--"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, index: bool = True, caption: str | None = None) -> str:
    """A ``tabular`` (booktabs rules) of the table's cells, escaped."""
    frame = table.reset_index() if index else table
    lines = [r"\begin{tabular}{l" + "r" * (len(frame.columns) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    for _, r in frame.iterrows():
        lines.append(" & ".join(latex_escape(v) for v in r.values) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines = [r"\begin{table}", r"\centering", *lines, rf"\caption{{{latex_escape(caption)}}}",
                 r"\end{table}"]
    return "\n".join(lines) + "\n"
