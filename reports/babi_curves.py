"""Learning curves of the jointly trained bAbI models (issue 17): the mean over tasks of the
validation error, against the training stories seen, one line per model and setting with a band
over seeds, so a reader sees where each model was heading when its budget ended.

Mean over tasks, not the pooled ``val/error``: the DNC paper reports the mean of the 20 per-task
errors (Graves et al. 2016, ED Table 1), and a pooled error weights tasks by their questions.
Stories seen = training step x ``task.batch_size`` (a joint batch holds whole stories).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from reports.collect import RESULTS_FILE, read_metrics_log, runs
from reports.plots import _save, series_labels
from reports.tables import setting_labels

VAL_TASK_ERROR = r"^val/group/qa\d+/error$"  # per-task validation error columns of the CSV log
CURVE_COLUMNS = ["run_dir", "model", "seed", "step", "stories", "tasks", "mean_error"]


def joint_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The long rows of bAbI runs trained jointly (one model over several tasks)."""
    if df.empty or "task.joint" not in df:
        return df.iloc[0:0]
    joint = df["task.joint"].astype(str).str.lower() == "true"
    return df[(df["task"] == "babi") & joint]


def run_curve(log: pd.DataFrame, batch_size: int) -> pd.DataFrame:
    """One run's CSV log -> step, stories, tasks, mean_error: per validation row, the mean of
    its per-task errors (rows that logged no per-task error, e.g. training rows, are dropped)."""
    per_task = log.filter(regex=VAL_TASK_ERROR)
    rows = per_task.notna().any(axis=1)
    out = pd.DataFrame({
        "step": log.loc[rows, "step"].astype(int),
        "tasks": per_task[rows].notna().sum(axis=1),
        "mean_error": per_task[rows].mean(axis=1, skipna=True),
    })
    out["stories"] = out["step"] * int(batch_size)
    return out.reset_index(drop=True)


def joint_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Every joint bAbI run's curve (:func:`run_curve`) with its run_dir, model and seed."""
    frames = []
    for _, run in runs(joint_runs(df)).iterrows():
        run_dir = Path(run["run_dir"])
        record = json.loads((run_dir / RESULTS_FILE).read_text())
        log = read_metrics_log(run_dir, record)
        if log is None:
            continue
        batch_size = record.get("config", {}).get("task", {}).get("batch_size", 1)
        curve = run_curve(log, batch_size)
        frames.append(curve.assign(run_dir=run["run_dir"], model=run["model"], seed=run["seed"]))
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]


def plot_joint_curves(df: pd.DataFrame, path: str | Path) -> Path | None:
    """Mean validation error over tasks (%) against training stories seen, band = sd over seeds;
    ``None`` when no joint run has a curve."""
    curves = joint_curves(df)
    if curves.empty:
        return None
    settings = setting_labels(joint_runs(df))
    curves = curves.assign(series=series_labels(curves, settings),
                           error_pct=100 * curves["mean_error"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=curves, x="stories", y="error_pct", hue="series", errorbar="sd",
                 marker="o", ax=ax)
    ax.set_xscale("log")
    ax.set_xlabel("training stories seen")
    ax.set_ylabel("mean validation error over tasks (%)")
    ax.set_title("bAbI joint training: learning curves")
    return _save(fig, path)
