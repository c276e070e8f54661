"""The extension studies of the lecture notes, from their runs' ``results.json`` (DESIGN §9).

A study is a W&B sweep file whose runs carry ``study: <name>`` in their resolved config. Its runs
are split into arms and blocks with no hand-kept key list: every setting of the resolved config
that differs between the study's runs (seed and per-run paths aside) makes a difference. The
study's ``factor`` keys (the question, e.g. ``model.distance``) tell arms apart; any other
differing setting (the task, the model) makes a block, and arms are compared inside a block only.
Two runs with different settings can therefore never be pooled as seeds of one arm.

Measures per run: steps to solve (the first validation whose bit errors per sequence fall below
the run's stopping threshold; censored at the budget when none does), the final test error per
length split, divergence and wall time. Per arm: mean, sd and a 95% bootstrap interval over seeds,
the share of seeds that never solved, and a two-sided Mann-Whitney U test against the paper's arm
of the same block, Holm-adjusted within the block and measure (one task's arms against its
baseline form a family: with 5 seeds the smallest exact p is 2/252 = 0.008, so a family of more
than six comparisons could never reach 0.05 under a study-wide adjustment). Pure functions of records and
frames; :mod:`reports.extension_plots` draws the figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from memnets.training.results import flatten
from reports.collect import read_metrics_log

ALPHA = 0.05
SOLVE_METRIC = "val/bit_errors"
CHOICE_KEYS = ("model", "task")  # config-group choices, listed first in labels


@dataclass(frozen=True)
class Study:
    name: str                       # the runs' ``study`` value
    sweep: str                      # its file in sweeps/
    title: str
    question: str
    baseline: dict[str, Any]        # the paper's arm, as settings it has
    factor: tuple[str, ...]         # the settings that make the arms
    error_splits: tuple[str, ...] = ("test",)  # test splits whose final error is also tested


STUDIES = (
    Study("distance", "copy_dnc_distance.yaml", "Content-lookup distance",
          "Does the DNC learn faster with another distance than the paper's cosine in its content "
          "lookup?", {"model.distance": "cosine"}, ("model.distance",)),
    Study("allocation", "copy_dnc_allocation.yaml", "Differentiable allocation",
          "Does a differentiable allocation, (1-u)/(N - Σu) or softmax((1-u)β), learn as well as "
          "the paper's sorted free list, in particular when memory must be freed and reused?",
          {"model.allocation": "sorted"}, ("model.allocation", "model.allocation_beta")),
    Study("controller", "copy_dnc_controller.yaml", "LSTM against feed-forward controller",
          "Does the DNC need a recurrent (LSTM) controller on copy and repeat copy, or does a "
          "feed-forward one, whose only state is the memory, do as well?",
          {"model.controller": "lstm"}, ("model.controller",)),
    Study("variable_length", "copy_dnc_variable_length.yaml", "Variable-length training",
          "Does training on variable lengths (1-10) rather than on the longest length only (10) "
          "improve generalisation to longer sequences?", {"task.variable_length": True},
          ("task.variable_length",), ("test_2x", "test_4x")),
)


# ---------------------------------------------------------------- one run

def run_settings(record: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Everything the run was configured with, as flat keys, minus what is not a setting: the
    seed and its copies (keys named ``seed``) and per-run paths (values holding the run folder)."""
    flat = flatten(record.get("config") or {})
    flat.update({k: record.get(k) for k in CHOICE_KEYS})
    return {k: v for k, v in flat.items()
            if k.rsplit(".", 1)[-1] != "seed" and not (isinstance(v, str) and run_dir in v)}


def steps_to_solve(curve: pd.DataFrame, threshold: float, budget: int) -> tuple[int, bool]:
    """(training steps at the first validation with ``value < threshold``, censored?) from a curve
    with columns ``step`` (Lightning's 0-based step of the validation) and ``value``; a curve that
    never gets there gives ``(budget, True)``."""
    below = curve[curve["value"] < threshold]
    if below.empty:
        return int(budget), True
    return int(below["step"].min()) + 1, False


def read_curve(run_dir: Path, record: dict[str, Any], metric: str = SOLVE_METRIC) -> pd.DataFrame:
    """The run's validation curve of ``metric`` (columns step, value) from its CSV log."""
    log = read_metrics_log(run_dir, record)
    if log is None or metric not in log.columns:
        return pd.DataFrame(columns=["step", "value"])
    return log[["step", metric]].dropna().rename(columns={metric: "value"}).reset_index(drop=True)


def run_row(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """One study run as a flat row: settings, measures and the curve (a frame in a cell)."""
    run_dir = path.parent
    config = record.get("config") or {}
    solved_cb = (config.get("callbacks") or {}).get("solved") or {}
    threshold = float(solved_cb.get("stopping_threshold") or 0.0)
    budget = int((config.get("trainer") or {}).get("max_steps") or record.get("global_step") or 0)
    curve = read_curve(run_dir, record)
    steps, censored = steps_to_solve(curve, threshold, budget)
    metrics = record.get("metrics") or {}
    return {
        "run_dir": str(run_dir), "seed": record.get("seed"), "status": record.get("status"),
        "settings": run_settings(record, str(run_dir)), "threshold": threshold, "budget": budget,
        "steps": steps, "censored": censored, "diverged": record.get("status") == "diverged",
        "wall_time_s": record.get("wall_time_s"), "code_version": record.get("code_version"),
        "hardware": (record.get("hardware") or {}).get("processor"),
        "memory_picture": record.get("memory_picture"), "mtime": path.stat().st_mtime,
        **{f"{split}/bit_errors": metrics.get(f"{split}/bit_errors")
           for split in ("test", "test_2x", "test_4x")},
        "curve": curve,
    }


def load_study(records: Iterable[tuple[Path, dict[str, Any]]], study: Study) -> pd.DataFrame:
    """The finished runs of ``study`` among ``records`` (from :func:`reports.collect.read_records`,
    which keeps one record per run), one row each; of runs repeating one setting and seed, the
    newest counts (records from before run ids are not deduplicated there)."""
    rows = [run_row(path, record) for path, record in records
            if (record.get("config") or {}).get("study") == study.name
            and record.get("status") in ("completed", "diverged")]
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    key = df["settings"].map(lambda s: json.dumps(s, sort_keys=True, default=str))
    df = df.assign(_key=key).sort_values("mtime").drop_duplicates(["_key", "seed"], keep="last")
    return label_arms(df.drop(columns="_key").reset_index(drop=True), study)


# ---------------------------------------------------------------- arms and blocks

def varying_keys(settings: Sequence[dict[str, Any]]) -> list[str]:
    """Keys whose value is not the same in every run (a key missing in some runs varies)."""
    keys = sorted(set().union(*settings)) if settings else []
    return [k for k in keys if len({repr(s.get(k, "<absent>")) for s in settings}) > 1]


def label_keys(settings: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    """The keys worth naming: choices first, then each key not already fixed by those before it
    (``task.sequences`` is not named when ``task`` already tells copy from multi_copy)."""
    ordered = sorted(keys, key=lambda k: (k not in CHOICE_KEYS, k))
    chosen: list[str] = []
    for key in ordered:
        groups: dict[str, set[str]] = {}
        for s in settings:
            groups.setdefault(repr([s.get(c) for c in chosen]), set()).add(repr(s.get(key)))
        if not chosen or any(len(v) > 1 for v in groups.values()):
            chosen.append(key)
    return chosen


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(settings: dict[str, Any], keys: Sequence[str]) -> str:
    """``model=dnc, task=copy``; choices and factor values by their last key part."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={_show(settings.get(k))}" for k in keys)


def minimal_labels(settings: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    """Per run, ``describe`` with only the keys that tell it apart from runs that share its
    earlier keys: ``allocation=sorted`` but ``allocation=softmax, allocation_beta=3``."""
    labels = []
    for s in settings:
        shown: list[str] = []
        for i, key in enumerate(keys):
            peers = [t for t in settings if all(t.get(k) == s.get(k) for k in keys[:i])]
            if i == 0 or len({repr(t.get(key)) for t in peers}) > 1:
                shown.append(key)
        labels.append(describe(s, shown))
    return labels


def label_arms(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Add ``block`` (the settings that differ beyond the study's factor), ``arm`` (the factor's
    values) and ``is_baseline`` (the arm holds the paper's choice)."""
    settings = list(df["settings"])
    varying = varying_keys(settings)
    factor = [k for k in varying if k in study.factor]
    block_keys = label_keys(settings, [k for k in varying if k not in study.factor])
    arm_keys = label_keys(settings, factor) if factor else []
    # a differing setting that labels leave out still separates arms: key on all of them
    block_all = [k for k in varying if k not in study.factor]
    return df.assign(
        block=[describe(s, block_keys) or "all runs" for s in settings],
        block_key=[repr([s.get(k) for k in block_all]) for s in settings],
        arm=[label or "all runs" for label in minimal_labels(settings, arm_keys)],
        is_baseline=[all(s.get(k) == v for k, v in study.baseline.items()) for s in settings],
    )


# ---------------------------------------------------------------- statistics

def bootstrap_ci(values: Sequence[float], n_resamples: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (fixed seed: the report is reproducible)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    means = np.random.default_rng(seed).choice(v, size=(n_resamples, v.size)).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def rank_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (exact for small samples); 1.0 when every value is equal
    (censored runs sit at the budget, tied, above every solved run)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0 or b.size == 0:
        return math.nan
    if np.unique(np.concatenate([a, b])).size == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and does not count)."""
    p = np.asarray(pvalues, dtype=float)
    idx = [i for i in np.argsort(p) if not math.isnan(p[i])]
    out = np.full(p.shape, math.nan)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (len(idx) - rank) * p[i]))
        out[i] = running
    return out.tolist()


def measures(study: Study) -> list[tuple[str, str]]:
    """(column, words) of the measures tested against the baseline."""
    return [("steps", "steps to solve")] + [
        (f"{s}/bit_errors", "final wrong bits per sequence " + (
            "at the training lengths" if s == "test" else f"at {s.removeprefix('test_')} length"))
        for s in study.error_splits]


def study_table(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """One row per block and arm: seeds, never solved, steps to solve (mean, sd, 95% CI),
    test bit errors per split, diverged, wall time, and each measure's p against the baseline
    arm of the block (raw, and Holm-adjusted within the block and measure)."""
    rows = []
    for (block_key, arm), g in df.groupby(["block_key", "arm"], sort=False):
        block = df[df["block_key"] == block_key]
        base = block[block["is_baseline"]]
        steps = g["steps"].astype(float)
        lo, hi = bootstrap_ci(steps)
        row = {"block": g["block"].iloc[0], "arm": arm, "baseline": bool(g["is_baseline"].iloc[0]),
               "seeds": int(g["seed"].nunique()), "never solved": float(g["censored"].mean()),
               "steps mean": steps.mean(), "steps sd": steps.std(ddof=1),
               "steps ci lo": lo, "steps ci hi": hi, "steps median": steps.median(),
               "diverged": int(g["diverged"].sum()), "wall time s": g["wall_time_s"].mean()}
        for split in ("test", "test_2x", "test_4x"):
            col = f"{split}/bit_errors"
            vals = pd.to_numeric(g[col], errors="coerce")
            row[f"{split} bits mean"], row[f"{split} bits sd"] = vals.mean(), vals.std(ddof=1)
            row[f"{split} bits median"] = vals.median()
        for col, _ in measures(study):
            row[f"p {col}"] = (math.nan if row["baseline"] or base.empty else
                               rank_test(pd.to_numeric(g[col]), pd.to_numeric(base[col])))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for col, _ in measures(study):  # a family: one measure, the arms of one block vs its baseline
        table[f"p {col} holm"] = math.nan
        for _, idx in table.groupby("block").groups.items():
            table.loc[idx, f"p {col} holm"] = holm(table.loc[idx, f"p {col}"].tolist())
    return table.sort_values(["block", "baseline", "arm"], ascending=[True, False, True])
