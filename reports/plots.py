"""Figures from the tidy run frame (seaborn, Agg backend): per-task error heat map, learning
curves, length generalisation and memory usage over time. Each function saves one PNG and
returns its path (or None when there is nothing to draw)."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from reports.tables import setting_labels  # noqa: E402

log = logging.getLogger(__name__)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def short_labels(labels: list[str], width: int = 30) -> list[str]:
    """Axis labels cut to ``width`` characters ("ours: dnc joint [task.size=1k, ..." ->
    "ours: dnc joint #2"), numbered where cutting would make two the same; the tables keep the
    full labels."""
    cut = [label if len(label) <= width else label.split(" [")[0][:width] for label in labels]
    counts = {c: cut.count(c) for c in cut}
    seen: dict[str, int] = {}
    out = []
    for c in cut:
        seen[c] = seen.get(c, 0) + 1
        out.append(f"{c} #{seen[c]}" if counts[c] > 1 else c)
    return out


def babi_heatmap(errors: pd.DataFrame, path: str | Path,
                 published: pd.DataFrame | None = None) -> Path | None:
    """Tasks × columns heat map of test error (%), our labels (mean over seeds) beside any
    published per-task columns given (``published``: task, column, error_pct)."""
    if errors.empty and (published is None or published.empty):
        return None
    grid = errors.pivot_table(index="task", columns="label", values="test", aggfunc="mean")
    grid.columns = short_labels([f"ours: {c}" for c in grid.columns])
    if published is not None and not published.empty:
        pub = published.pivot_table(index="task", columns="column", values="error_pct",
                                    aggfunc="first")
        grid = pub.join(grid, how="outer") if not grid.empty else pub
    grid = grid.reindex(range(1, 21))
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * grid.shape[1], 7.5))
    sns.heatmap(grid, annot=True, fmt=".1f", cmap="rocket_r", vmin=0, vmax=100, ax=ax,
                cbar_kws={"label": "test error (%)"}, annot_kws={"size": 7})
    ax.set_xlabel("")
    ax.set_ylabel("bAbI task")
    ax.set_title("bAbI 10k per-task error (%)")
    return _save(fig, path)


def learning_curves(curves: pd.DataFrame, path: str | Path, *, metric: str = "val/error",
                    task: str | None = None, settings: pd.Series | None = None) -> Path | None:
    """``metric`` against training step, one line per model and setting (``settings``: run_dir ->
    the settings that differ, from :func:`reports.tables.setting_labels`), band over seeds: runs
    that differ in anything but the seed are never drawn as one line."""
    sel = curves[curves["metric"] == metric]
    if task is not None:
        sel = sel[sel["task"] == task]
    if sel.empty:
        return None
    sel = sel.assign(series=series_labels(sel, settings))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=sel, x="step", y="value", hue="series", errorbar="sd", ax=ax)
    ax.set_ylabel(metric)
    ax.set_title(f"learning curves{f' ({task})' if task else ''}")
    return _save(fig, path)


def series_labels(frame: pd.DataFrame, settings: pd.Series | None) -> pd.Series:
    """Per row: ``model`` or ``model (setting=value, ...)`` from its run's differing settings."""
    setting = frame["run_dir"].map(settings if settings is not None else {}).fillna("")
    return frame["model"].where(setting == "", frame["model"] + " (" + setting + ")")


def length_generalisation(df: pd.DataFrame, path: str | Path, *, task: str = "copy",
                          metric: str = "bit_errors") -> Path | None:
    """``metric`` at every test split (training range, 2×, 4×...) by model and setting."""
    sel = df[(df["task"] == task) & (df["status"] == "completed") & df["group"].isna()
             & df["split"].fillna("").str.startswith("test") & (df["metric"] == metric)]
    if sel.empty:
        return None
    sel = sel.assign(series=series_labels(sel, setting_labels(df[df["task"] == task])))
    order = sorted(sel["split"].unique(), key=lambda s: (len(s), s))
    n_series = sel["series"].nunique()
    fig, ax = plt.subplots(figsize=(6.5 + (2.5 if n_series > 3 else 0), 4))
    sns.pointplot(data=sel, x="split", y="value", hue="series", order=order, errorbar="sd",
                  dodge=0.3 if n_series > 1 else False, ax=ax)
    ax.set_title(f"{task}: {metric} by test split (mean ± sd over seeds)")
    if n_series > 3:
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.set_xlabel("test split (test = training lengths)")
    ax.set_ylabel(metric)
    return _save(fig, path)


def memory_usage(trace_path: str | Path, path: str | Path, *, index: int = 0) -> Path | None:
    """Usage u_t (slots × time) of episode ``index`` of a run's ``trace.pt``
    (``{"aux": {"usage": (B, T, N), ...}, "lengths": (B,), ...}``)."""
    try:  # tensors only: a trace from someone else's run folder cannot run code here
        trace = torch.load(trace_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        log.warning("not loading %s (it holds more than tensors): %s", trace_path, err)
        return None
    aux = trace.get("aux", {}) if isinstance(trace, dict) else {}
    if "usage" not in aux:
        return None
    usage = aux["usage"][index].detach().float()  # (T, N)
    lengths = trace.get("lengths")
    if lengths is not None:
        usage = usage[: int(lengths[index])]
    fig, ax = plt.subplots(figsize=(min(14.0, 2.5 + 0.2 * usage.shape[0]), 3.5))
    sns.heatmap(usage.T.numpy(), cmap="viridis", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "usage"})
    ax.invert_yaxis()
    ax.set_xlabel("time step t")
    ax.set_ylabel("memory slot")
    run = Path(trace_path).resolve().parent
    ax.set_title(f"memory usage u_t over time ({run.parent.name}/{run.name})")
    return _save(fig, path)
