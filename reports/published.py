"""Published bAbI 10k per-task error rates, with their citations (``reports/published/*.csv``).

Transcribed from ``reference/published-results.md`` (§1.1-1.3): the DNC paper's ED Table 1
(Graves et al. 2016: LSTM, NTM, DNC1, DNC2 best of 20 and mean ± sd; MemN2N joint and single;
DMN single), EntNet, DMN+ and D-NTM (the EntNet paper's Table 2 columns, Henaff et al. 2017) and
DNC-MD (Csordás & Schmidhuber 2019, Table 1). Rows ``task`` 1..20 hold per-task error (%); rows
``mean`` and ``failed`` hold the numbers the papers print, so tests can check the transcription
(the per-task values must reproduce them).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PUBLISHED_DIR = Path(__file__).resolve().parent / "published"
BABI_10K = PUBLISHED_DIR / "babi_10k.csv"
# Where a paper's printed summary disagrees with its own per-task values, with the evidence.
DISCREPANCIES = PUBLISHED_DIR / "discrepancies.csv"
# The bAbI table of the DNC lecture notes ("Comparison on the bAbI dataset", "Table taken from"
# Henaff et al. 2017, Table 2: NTM, D-NTM, MemN2N, DNC, DMN+, EntNet), rows 8-20 and "failed" as the
# notes print them, under our column names; rows 1-7 are left out because the stored text of the
# notes runs their cells together. Used to cross-check babi_10k.csv's columns of that table.
LECTURE_NOTES = PUBLISHED_DIR / "lecture_notes.csv"
# The lecture notes' columns (EntNet Table 2) under the names babi_10k.csv gives them ("best").
LECTURE_NOTES_COLUMNS = ("NTM", "D-NTM", "MemN2N (single)", "DNC2", "DMN+", "EntNet")
LECTURE_NOTES_SOURCE = ("DNC lecture notes, bAbI 10k comparison table, taken from Henaff et al. "
                        "2017 (EntNet, ICLR), Table 2")
TASKS = tuple(range(1, 21))
FAIL_PCT = 5.0  # a bAbI task fails when its error is above 5% (Weston et al. 2015)
# Our rates come through float32 (0.05 is stored as 0.0500000007); the smallest step above 5% on
# a bAbI test set (1000 questions) is 0.1 points, so a rate within this margin of 5% is 5%.
RATE_SLACK_PCT = 1e-4


def task_failed(error_pct: float, wrong: float = float("nan"), total: float = float("nan")) -> bool:
    """A task fails above 5% wrong answers (Weston et al. 2015; DESIGN §9: counts decide).

    With the integer counts (``wrong`` of ``total`` questions) the test is exact,
    ``100 * wrong > 5 * total``; without them (older records, published columns) the percentage
    must exceed 5 by more than float32 rounding (:data:`RATE_SLACK_PCT`)."""
    if wrong == wrong and total == total:  # both present (not NaN)
        return 100 * round(wrong) > FAIL_PCT * round(total)
    return bool(error_pct > FAIL_PCT + RATE_SLACK_PCT)


def load_babi_published(path: Path = BABI_10K) -> pd.DataFrame:
    """Columns task (str: "1".."20", "mean", "failed"), model, training, statistic
    (best | mean | sd), error_pct (float), source, tag (P = primary paper, S = secondary)."""
    df = pd.read_csv(path, dtype={"task": str})
    df["error_pct"] = df["error_pct"].astype(float)
    return df


def load_discrepancies(path: Path = DISCREPANCIES) -> pd.DataFrame:
    """Columns model, statistic, row ("mean" | "failed"), printed, from_per_task, note: each place
    where the printed summary is not what the paper's per-task values give. Tables show the value
    from the per-task numbers (counts decide, DESIGN §9) and name the printed one beside it."""
    return pd.read_csv(path, dtype={"row": str})


def load_lecture_notes(path: Path = LECTURE_NOTES) -> pd.DataFrame:
    """Columns task (str), model, error_pct, note (non-empty where the notes' cell is not the
    value of the column's original source that babi_10k.csv holds, saying which is which)."""
    df = pd.read_csv(path, dtype={"task": str, "note": str}, keep_default_na=False)
    df["error_pct"] = df["error_pct"].astype(float)
    return df


def per_task(df: pd.DataFrame) -> pd.DataFrame:
    """Tasks 1..20 only, ``task`` as int."""
    out = df[df["task"].str.isdigit()].copy()
    out["task"] = out["task"].astype(int)
    return out


def printed(df: pd.DataFrame, row: str) -> pd.Series:
    """The printed ``mean`` or ``failed`` row, indexed by (model, statistic)."""
    sel = df[df["task"] == row]
    return sel.set_index(["model", "statistic"])["error_pct"]


def derived_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over the 20 tasks and the number of tasks above 5%, per (model, statistic), from the
    per-task values. For a ``mean`` column the mean over tasks equals the paper's mean over runs
    (linearity); its failed count does not (the paper averages per-run counts), so it is NaN."""
    tasks = per_task(df)
    rows = []
    for (model, stat), g in tasks.groupby(["model", "statistic"], sort=False):
        rows.append({"model": model, "statistic": stat, "n_tasks": len(g),
                     "mean": g["error_pct"].mean(),
                     "failed": float((g["error_pct"] > FAIL_PCT).sum()) if stat == "best"
                     else float("nan")})
    return pd.DataFrame(rows)
