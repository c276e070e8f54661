"""Runs -> one tidy long DataFrame (DESIGN §1.7): one row per run × metric.

Every run folder holds ``results.json`` (:mod:`memnets.training.results`); its flat metric keys
``{split}/{metric}`` and ``{split}/group/{name}/{metric}`` become the columns split, group, metric.
Selected config values ride along as columns (``task.size``, ``model.distance``...), so tables can
group by any of them. Learning curves come from the Lightning CSV log named in ``metrics_csv``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from memnets.training.results import RESULTS_FILE, config_columns, repeat_key

log = logging.getLogger(__name__)
RUN_DIR = "<run_dir>"  # a record's own folder, where a record names it without its path
RUN_COLUMNS = ("run_dir", "model", "task", "seed", "status", "n_params", "global_step",
               "epochs", "wall_time_s", "code_version", "hardware", "trained_on_1k")
LONG_COLUMNS = ("split", "group", "metric", "value")
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def find_results(roots: Iterable[str | Path]) -> list[Path]:
    """Every ``results.json`` under the given folders (a missing folder is skipped)."""
    found: list[Path] = []
    for root in map(Path, roots):
        if root.is_file() and root.name == RESULTS_FILE:
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(root.rglob(RESULTS_FILE)))
    return sorted(set(found))


def split_metric_key(key: str) -> tuple[str, str | None, str]:
    """``test_2x/group/len11-20/error`` -> (``test_2x``, ``len11-20``, ``error``);
    ``val/error`` -> (``val``, None, ``error``)."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[1] == "group":
        return parts[0], "/".join(parts[2:-1]), parts[-1]
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return parts[0], None, "/".join(parts[1:])


def _config_names(group: str) -> dict[str, str]:
    """``_target_`` -> config file stem, for records that store a class path as model/task."""
    names = {}
    for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
        for line in path.read_text().splitlines():
            if line.startswith("_target_:"):
                names.setdefault(line.split(":", 1)[1].split("#")[0].strip(), path.stem)
    return names


def choice_name(value: str | None, group: str) -> str:
    """``dnc`` stays; ``memnets.models.dnc.DNC`` (older records) becomes ``dnc`` via configs/."""
    if not value or "." not in value:
        return value or "unknown"
    return _config_names(group).get(value, value.rsplit(".", 1)[-1].lower())


def hardware_name(record: dict[str, Any]) -> str | None:
    """The device a run ran on, from its record: the GPU's name, else the CPU's model name, else
    (records before the model name was kept) the processor's architecture, marked as such so a
    column whose seeds span that change does not read as two kinds of machine."""
    hardware = record.get("hardware") or {}
    name, processor = hardware.get("cuda") or hardware.get("cpu_model"), hardware.get("processor")
    if name:
        return name
    return f"{processor} (CPU model not recorded)" if processor else None


def trained_on_1k(record: dict[str, Any]) -> tuple[int, ...]:
    """The bAbI tasks a run trained on the 1k file for want of the 10k one (``task.
    fallback_to_1k``; the data record names each file used instead), e.g. ``(3,)``."""
    notes = (record.get("data") or {}).get("fallback_to_1k") or []
    return tuple(sorted({int(m) for note in notes for m in re.findall(r"qa(\d+)_", note.split(
        " missing")[0])}))


def run_frame(path: Path, record: dict[str, Any]) -> pd.DataFrame:
    """The long rows of one run."""
    config = record.get("config") or {}
    base = {
        "run_dir": str(path.parent),
        "model": choice_name(record.get("model"), "model"),
        "task": choice_name(record.get("task"), "task"),
        "seed": record.get("seed"),
        "status": record.get("status", "unknown"),
        "n_params": record.get("n_params"),
        "global_step": record.get("global_step"),
        "epochs": record.get("epochs"),
        "wall_time_s": record.get("wall_time_s"),
        "code_version": record.get("code_version"),
        "finished_at": record.get("finished_at"),
        "hardware": hardware_name(record),
        "trained_on_1k": trained_on_1k(record),
        **config_columns(config),
    }
    rows = []
    for key, value in (record.get("metrics") or {}).items():
        split, group, metric = split_metric_key(key)
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        rows.append({**base, "split": split, "group": group, "metric": metric, "value": value})
    if not rows:  # keep the run visible (e.g. interrupted before any validation)
        rows.append({**base, "split": None, "group": None, "metric": None, "value": float("nan")})
    return pd.DataFrame(rows)


def collect(roots: Iterable[str | Path]) -> pd.DataFrame:
    """All runs under ``roots`` as one tidy long frame (empty, with the key columns, if none):
    one run per record after :func:`dedupe_runs`, with a warning for run folders without one."""
    return records_frame(read_records(roots))


def records_frame(records: Iterable[tuple[Path, dict[str, Any]]]) -> pd.DataFrame:
    """:func:`collect`'s frame from records already read (by :func:`read_records`)."""
    frames = [run_frame(path, record) for path, record in records]
    if not frames:
        return pd.DataFrame(columns=[*RUN_COLUMNS, *LONG_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def read_records(roots: Iterable[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable ``results.json`` under ``roots`` as (path, record), one per distinct run
    (:func:`dedupe_runs`), with a warning for run folders without one."""
    roots = list(roots)
    records = []
    for path in find_results(roots):
        try:
            records.append((path, json.loads(path.read_text())))
        except (OSError, ValueError) as err:
            log.warning("skipping unreadable %s: %s", path, err)
    warn_unrecorded(roots, {path.parent for path, _ in records})
    return dedupe_runs(records)


# A run folder's marks besides results.json: run.py's claim and Hydra's own folder.
RUN_FOLDER_MARKS = (".memnets-run.json", ".hydra")


def warn_unrecorded(roots: Iterable[str | Path], recorded: set[Path]) -> list[Path]:
    """Warn once, listing every run folder under ``roots`` with no readable results.json (a run
    killed outright, or a record that cannot be parsed); returns them."""
    folders = set()
    for root in map(Path, roots):
        if root.is_dir():
            for mark in RUN_FOLDER_MARKS:
                folders.update(p.parent for p in root.rglob(mark))
    missing = sorted(f for f in folders if f not in recorded)
    if missing:
        log.warning("%d run folder(s) without a readable results.json, left out: %s",
                    len(missing), ", ".join(map(str, missing)))
    return missing


def _finished(path: Path, record: dict[str, Any]) -> str:
    """When the record was written: its ``finished_at``, else the file's time (sortable text)."""
    if record.get("finished_at"):
        return str(record["finished_at"])
    return pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC").isoformat()


def dedupe_runs(records: list[tuple[Path, dict[str, Any]]]) -> list[tuple[Path, dict[str, Any]]]:
    """One record per distinct run.

    - Records sharing a ``run_id`` are one run (interrupted, then resumed in another folder): the
      newest record wins.
    - Records of distinct runs with the same setting and seed (repeats) are one seed: the newest
      completed record wins (else the newest), with a warning naming the others.
    Records without a ``run_id`` (written before it existed) are kept as they are. A resumed
    run's kept record gets the ``wall_time_s`` of all its segments together (each segment's record
    holds only its own), so budgets count the whole run.
    """
    by_id: dict[str, tuple[Path, dict[str, Any]]] = {}
    wall: dict[str, float] = {}
    kept = []
    for path, record in records:
        run_id = record.get("run_id")
        if not run_id:
            kept.append((path, record))
            continue
        wall[run_id] = wall.get(run_id, 0.0) + float(record.get("wall_time_s") or 0)
        if run_id not in by_id or _finished(path, record) > _finished(*by_id[run_id]):
            by_id[run_id] = (path, record)
    by_id = {k: (path, {**record, "wall_time_s": wall[k]}) for k, (path, record) in by_id.items()}
    repeats: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path, record in by_id.values():
        repeats.setdefault(repeat_key(record), []).append((path, record))
    for group in repeats.values():
        group.sort(key=lambda r: (r[1].get("status") == "completed", _finished(*r)), reverse=True)
        if len(group) > 1:
            log.warning("%d runs repeat one setting and seed; counting %s once, leaving out %s",
                        len(group), group[0][0].parent, ", ".join(str(p.parent) for p, _ in group[1:]))
        kept.append(group[0])
    return sorted(kept, key=lambda r: r[0])


def runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run (the run-level columns, no metrics)."""
    cols = [c for c in df.columns if c not in LONG_COLUMNS]
    return df.drop_duplicates("run_dir")[cols].reset_index(drop=True)


def read_metrics_log(run_dir: Path, record: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """A run's Lightning CSV log (``metrics_csv`` of its record), with the segments kept before
    it was resumed in its folder (``csv/metrics.until-<step>.csv``) in front; None if it has
    none."""
    run_dir = Path(run_dir)
    current = run_dir / ((record or {}).get("metrics_csv") or "csv/metrics.csv")
    parts = sorted(current.parent.glob("metrics.until-*.csv")) if current.parent.is_dir() else []
    if current.is_file():
        parts.append(current)
    if not parts:
        return None
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)


def load_curves(df: pd.DataFrame, metrics: Iterable[str] = ("val/error",)) -> pd.DataFrame:
    """Learning curves of every run in ``df`` from its ``csv/metrics.csv``: long frame with
    run_dir, model, task, seed, step, metric, value (runs without a CSV log are skipped)."""
    metrics = list(metrics)
    frames = []
    for _, run in runs(df).iterrows():
        run_dir = Path(run["run_dir"])
        record = json.loads((run_dir / RESULTS_FILE).read_text())
        log_df = read_metrics_log(run_dir, record)
        if log_df is None:
            continue
        present = [m for m in metrics if m in log_df.columns]
        if not present or "step" not in log_df.columns:
            continue
        long = log_df.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()
        for col in ("run_dir", "model", "task", "seed"):
            long[col] = run[col]
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=["run_dir", "model", "task", "seed", "step", "metric", "value"])
    return pd.concat(frames, ignore_index=True)
