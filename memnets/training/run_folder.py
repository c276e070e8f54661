"""One folder per run, never shared: unique names, a claim on the folder, a stable run id.

- Folder names carry the start time to the millisecond and four random hex digits
  (``${memnets_stamp:}`` in ``configs/train.yaml``, :func:`memnets.training.runtime.run_stamp`),
  so runs started in the same second differ.
- A run claims its folder by creating ``.memnets-run.json`` exclusively (``O_EXCL``); a folder that
  already holds a claim or a ``results.json`` is taken, and a second run refuses it before Hydra
  writes anything there (:class:`RefuseTakenRunDir`) and again when it claims (a race).
  Resuming with ``ckpt_path`` pointing into the same folder continues the run in place.
- Ranks other than 0 of a multi-process run share rank 0's folder and leave it alone.
- ``run_id`` is made at a run's first start and kept in its checkpoints, so a resumed run (in a
  new folder) records the same id and reports count it once.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from memnets.training.runtime import RunError

CLAIM_FILE = ".memnets-run.json"
RESULTS_FILE = "results.json"


RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def is_secondary_rank(trainer: Any = None) -> bool:
    """Whether this process is a rank other than 0 of a multi-process run (Lightning's DDP
    launcher, torchrun or Slurm set these variables): it shares rank 0's folder, so it neither
    claims it nor writes the record. ``trainer`` (the run's trainer config) must ask for several
    processes, so that independent runs started as Slurm tasks 1, 2, ... keep their records."""
    trainer = trainer or {}
    several = ("ddp" in str(trainer.get("strategy") or "") or str(trainer.get("devices", 1)) != "1"
               or int(trainer.get("num_nodes") or 1) > 1)
    return several and any(os.environ.get(name, "0") not in ("", "0") for name in RANK_VARIABLES)


def new_run_id() -> str:
    """A fresh run id: UTC start time plus 6 random hex digits."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def folder_owner(run_dir: Path) -> str | None:
    """The id of the run that holds ``run_dir`` (``"unknown"`` for a record without one), or
    None when the folder is free."""
    for name in (CLAIM_FILE, RESULTS_FILE):
        path = Path(run_dir) / name
        if path.is_file():
            try:
                return str(json.loads(path.read_text()).get("run_id") or "unknown")
            except (OSError, ValueError, AttributeError):
                return "unknown"
    return None


def resumes_in_place(run_dir: Path, ckpt_path: str | None) -> bool:
    """Whether ``ckpt_path`` names ``run_dir`` or a file inside it (the run goes on there)."""
    if not ckpt_path:
        return False
    folder, ckpt = Path(run_dir).resolve(), Path(ckpt_path).resolve()
    return ckpt == folder or folder in ckpt.parents


def taken_message(run_dir: Path, owner: str) -> str:
    return (f"run folder {run_dir} is taken by run {owner}; a new run never writes into another "
            f"run's folder: choose another hydra.run.dir, or resume that run there with "
            f"ckpt_path={run_dir}")


def claim(run_dir: Path, run_id: str, *, in_place: bool = False) -> None:
    """Create the claim file in ``run_dir`` or raise :class:`RunError` if another run holds it.
    ``in_place`` (resuming this folder's run) rewrites the claim instead."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    owner = folder_owner(run_dir)
    if owner is not None and not in_place:
        raise RunError(taken_message(run_dir, owner))
    body = json.dumps({"run_id": run_id, "pid": os.getpid(),
                       "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if in_place else os.O_EXCL)
    try:
        fd = os.open(run_dir / CLAIM_FILE, flags, 0o644)
    except FileExistsError:
        raise RunError(taken_message(run_dir, folder_owner(run_dir) or "unknown")) from None
    with os.fdopen(fd, "w") as f:
        f.write(body + "\n")


def update_claim(run_dir: Path, run_id: str) -> None:
    """Record the run id the run settled on (a resumed run takes its checkpoint's)."""
    path = Path(run_dir) / CLAIM_FILE
    body = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**body, "run_id": run_id}) + "\n")


class RefuseTakenRunDir(Callback):
    """Hydra callback: stop with exit code 2, before Hydra writes its ``.hydra/`` files and log,
    when ``hydra.run.dir`` is another run's folder (see module docstring)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if is_secondary_rank(config.get("trainer")):
            return
        # Hydra sets its config only when the job starts, after this callback; the run dir's
        # ${hydra:...} parts (the default one has the task and model) need it now, or resolving
        # fails and Hydra turns the error into a warning, leaving the folder unchecked.
        HydraConfig.instance().set_config(config)
        run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir")))
        owner = folder_owner(run_dir)
        if owner is not None and not resumes_in_place(run_dir, config.get("ckpt_path")):
            print(f"error: {taken_message(run_dir, owner)}", file=sys.stderr)
            sys.exit(2)


METRICS_LOG = Path("csv") / "metrics.csv"  # Lightning's CSVLogger file in a run folder


def keep_earlier_metrics(run_dir: Path, resume_step: int) -> Path | None:
    """Before a run resumed in its own folder logs again (Lightning's CSV logger starts its file
    afresh), move the earlier segments' rows up to ``resume_step`` to ``csv/metrics.until-<step>
    .csv``; rows after it are dropped, as the resumed run logs those steps again. Returns the new
    file (None when there was no log). Reports read every segment (:func:`reports.collect.
    read_metrics_log`)."""
    log = Path(run_dir) / METRICS_LOG
    if not log.is_file():
        return None
    with open(log, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = [r for r in reader if r.get("step") and int(float(r["step"])) < resume_step]
    kept = log.with_name(f"metrics.until-{resume_step:09d}.csv")
    with open(kept, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    log.unlink()
    return kept
