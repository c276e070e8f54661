"""The committed run archive, ``reports/runs/``: what the reports need of each run, kept in git.

Run folders live outside the repository (``multirun/``, ``outputs/``, a cluster's scratch) and
go when the machine goes; the tables made from them must not. ``python -m reports --runs <folders>
--archive`` therefore copies, for every distinct run it reads (:func:`reports.collect.read_records`),

- its ``results.json``, with the absolute paths of the machine that ran it taken out
  (:func:`scrub_paths`: the run folder becomes ``<run_dir>``, any other folder ``<local>``), and
- its learning curve: the Lightning CSV log (all segments of a resumed run) cut to the
  validation rows and the ``epoch``/``step``/``val*`` columns (:func:`curve_rows`), which is what
  the curves and figures read; training rows and checkpoints stay behind,

to ``reports/runs/<model>_<task>/<run_id>/``. The default ``--runs`` includes the archive, so a
fresh clone regenerates every table with a bare ``python -m reports``; a run found both in its
folder and in the archive is one run (same ``run_id``, :func:`reports.collect.dedupe_runs`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from memnets.sweep.runner import RUN_ARCHIVE
from reports.collect import (
    RESULTS_FILE,
    RUN_DIR,
    choice_name,
    read_metrics_log,
    read_records,
)

log = logging.getLogger(__name__)
ARCHIVE = RUN_ARCHIVE  # reports/runs; the sweep runner reads it too
CURVE_FILE = "csv/metrics.csv"  # where run.py's CSV logger writes it: readers that take no record find it
CURVE_INDEX = ("epoch", "step")
LOCAL_DIR = "<local>"  # what an archived record says for any other folder of the machine
# an absolute folder path inside a string: a "/" not preceded by a name character, then
# one or more "name/" parts ("val/error" and "lightning.pytorch" are left alone)
_ABSOLUTE_DIR = re.compile(r"(?<![\w.~-])/(?:[^/\s()'\"]+/)+")


def scrub_paths(node: Any, run_dir: str) -> Any:
    """``node`` (a record or any part of it) with ``run_dir`` written as ``<run_dir>`` and every other
    absolute folder as ``<local>/``: an archived record names no path of the machine that ran it.
    """
    if isinstance(node, dict):
        return {k: scrub_paths(v, run_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [scrub_paths(v, run_dir) for v in node]
    if isinstance(node, str):
        text = node.replace(run_dir.rstrip("/"), RUN_DIR) if run_dir else node
        return _ABSOLUTE_DIR.sub(LOCAL_DIR + "/", text)
    return node


def curve_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The validation rows of a Lightning CSV log, with only ``epoch``, ``step`` and ``val*``
    columns (a few KB a run instead of the log's hundreds)."""
    value_cols = [c for c in log.columns if c.startswith("val")]
    cols = [c for c in CURVE_INDEX if c in log.columns] + value_cols
    if not value_cols:
        return log.iloc[0:0][cols]
    return log.loc[log[value_cols].notna().any(axis=1), cols].reset_index(drop=True)


def archive_folder(record: dict[str, Any], archive: Path = ARCHIVE) -> Path:
    """``<archive>/<model>_<task>/<run_id>``; a record without a ``run_id`` cannot be archived."""
    run_id = record.get("run_id")
    if not run_id:
        raise ValueError("a record without run_id (written before run ids existed) cannot be "
                         "archived: rerun it, or keep its folder and name it in --runs")
    model = choice_name(record.get("model"), "model")
    task = choice_name(record.get("task"), "task")
    return archive / f"{model}_{task}" / str(run_id)


def archive_run(path: Path, record: dict[str, Any], archive: Path = ARCHIVE) -> Path:
    """Write one run's archived record (and curve, if it has a CSV log); returns its folder."""
    folder = archive_folder(record, archive)
    folder.mkdir(parents=True, exist_ok=True)
    kept = record
    # the folder it ran in (another machine's path, for a run made elsewhere), then where it is now
    for run_dir in ((record.get("config") or {}).get("run_dir"), str(path.parent.resolve())):
        if run_dir:
            kept = scrub_paths(kept, run_dir)
    log = read_metrics_log(path.parent, record)
    if log is not None:
        (folder / CURVE_FILE).parent.mkdir(exist_ok=True)
        curve_rows(log).to_csv(folder / CURVE_FILE, index=False)
        kept["metrics_csv"] = CURVE_FILE  # the curve, with the earlier segments already in it
    else:
        kept.pop("metrics_csv", None)
    (folder / RESULTS_FILE).write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return folder


def archive_runs(roots: Iterable[str | Path], archive: Path = ARCHIVE) -> list[Path]:
    """Archive every distinct run under ``roots`` (those already in ``archive`` are skipped as
    sources); returns the folders written."""
    archive = archive.resolve()
    written = []
    for path, record in read_records(roots):
        if path.resolve().is_relative_to(archive):
            continue
        if not record.get("run_id"):
            log.warning("not archived: %s has no run_id (written before run ids existed)", path)
            continue
        written.append(archive_run(path, record, archive))
    return written
