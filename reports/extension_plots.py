"""Figures of the extension studies (one panel per block, one colour per arm): learning curves
with seed bands, steps to solve per seed, and wrong bits per sequence against test length."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from reports.plots import _save  # noqa: E402

SPLIT_LABELS = {"test": "in range", "test_2x": "2x", "test_4x": "4x"}


def _panels(df: pd.DataFrame) -> list[str]:
    return sorted(df["block"].unique())


def filled_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Long frame (block, arm, seed, step, value): each run's validation curve, carried at its
    last value to the longest curve of its block, so that a run that stopped solved keeps
    counting in the seed band instead of leaving it."""
    frames = []
    for block, g in df.groupby("block"):
        steps = sorted(set().union(*(set(c["step"]) for c in g["curve"])))
        for _, run in g.iterrows():
            curve = run["curve"].set_index("step")["value"]
            if curve.empty:
                continue
            curve = curve[~curve.index.duplicated()].reindex(
                [s for s in steps if s >= curve.index.min()]).ffill()
            frames.append(pd.DataFrame({"block": block, "arm": run["arm"], "seed": run["seed"],
                                        "step": curve.index + 1, "value": curve.to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def learning_curves_by_arm(df: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Validation wrong bits per sequence against training steps: mean over seeds per arm, with
    a band of one standard deviation."""
    long = filled_curves(df)
    if long.empty:
        return None
    panels = _panels(df)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, block in zip(axes[0], panels, strict=True):
        sns.lineplot(long[long["block"] == block], x="step", y="value", hue="arm",
                     errorbar="sd", ax=ax)
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(bottom=0)
        ax.axhline(df["threshold"].iloc[0], color="grey", lw=0.8, ls=":")
        ax.set(title=block, xlabel="training steps", ylabel="val wrong bits / sequence")
        ax.legend(fontsize=7, title=None)
    fig.suptitle(f"{title}: learning curves (mean ± sd over seeds; dotted: solved)", y=1.02)
    return _save(fig, path)


def steps_by_arm(df: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Steps to solve, one dot per seed (a cross: never solved, drawn at the budget), over a box."""
    if df.empty:
        return None
    panels = _panels(df)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, block in zip(axes[0], panels, strict=True):
        g = df[df["block"] == block].sort_values("arm")
        order = sorted(g["arm"].unique())
        sns.boxplot(g, x="arm", y="steps", order=order, color="0.9", ax=ax, showfliers=False)
        for censored, marker in ((False, "o"), (True, "X")):
            sub = g[g["censored"] == censored]
            if not sub.empty:
                sns.stripplot(sub, x="arm", y="steps", order=order, marker=marker, size=6,
                              color="C3" if censored else "C0", jitter=0.15, ax=ax)
        ax.set(title=block, xlabel="", ylabel="steps to solve (X: never, at budget)")
        ax.tick_params(axis="x", rotation=30, labelsize=7)
    fig.suptitle(f"{title}: steps to solve per seed", y=1.02)
    return _save(fig, path)


def length_errors_by_arm(df: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Test wrong bits per sequence at the training lengths, 2x and 4x (mean ± sd over seeds)."""
    cols = [f"{s}/bit_errors" for s in SPLIT_LABELS if f"{s}/bit_errors" in df]
    long = df.melt(id_vars=["block", "arm", "seed"], value_vars=cols, var_name="split",
                   value_name="bits").dropna(subset=["bits"])
    if long.empty or long["split"].nunique() < 2:
        return None
    long["test length"] = long["split"].str.split("/").str[0].map(SPLIT_LABELS)
    panels = _panels(long)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, block in zip(axes[0], panels, strict=True):
        g = long[long["block"] == block]
        sns.pointplot(g, x="test length", y="bits", hue="arm",
                      order=[v for v in SPLIT_LABELS.values() if v in set(long["test length"])],
                      errorbar="sd", dodge=0.3 if g["arm"].nunique() > 1 else False, ax=ax)
        ax.set(title=block, ylabel="test wrong bits / sequence")
        ax.legend(fontsize=7, title=None)
    fig.suptitle(f"{title}: error against test length (mean ± sd over seeds)", y=1.02)
    return _save(fig, path)
