"""Run a sweep's runs locally, one after another, with no W&B server.

Each run is ``python run.py <overrides> logger=csv hydra.run.dir=<out>/<sweep>/<i>`` in a
subprocess (a fresh process per run, as ``wandb agent`` does), its console output in
``<run dir>/stdout.log``. A run whose folder already holds a completed ``results.json`` made with
the same overrides is skipped, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from memnets.sweep.expand import Sweep, describe, render_value

REPO = Path(__file__).resolve().parents[2]
LOCAL_LOGGER = "csv"
# run.py's exit codes (run.py main): 2 bad inputs, 3 diverged (a result), 130 interrupted.
EXIT_DIVERGED, EXIT_INTERRUPTED = 3, 130


@dataclass(frozen=True)
class PlannedRun:
    index: int
    params: dict[str, Any]
    overrides: list[str]  # what run.py receives, in order
    run_dir: Path

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "run.py", *self.overrides]


def parse_extra(extra: list[str]) -> dict[str, str]:
    """``["trainer.max_steps=50"]`` -> ``{"trainer.max_steps": "50"}`` (values kept as typed)."""
    out = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--extra takes key=value, got {item!r}")
        out[key] = value
    return out


def plan(sweep: Sweep, runs: list[dict[str, Any]], *, out_root: Path,
         extra: list[str] = ()) -> list[PlannedRun]:
    """Turn parameter dicts into run.py invocations. ``logger`` is forced to csv (the sweep file
    may name wandb for the agent) and ``extra`` overrides win over the sweep's values."""
    extras = parse_extra(list(extra))
    planned = []
    for i, params in enumerate(runs):
        run_dir = (Path(out_root) / sweep.name / str(i)).resolve()
        values = {k: render_value(v) for k, v in params.items()}
        values["logger"] = LOCAL_LOGGER
        values.update(extras)
        values["hydra.run.dir"] = str(run_dir)
        overrides = [f"{k}={v}" for k, v in values.items()]
        planned.append(PlannedRun(i, params, overrides, run_dir))
    return planned


def task_overrides(run: PlannedRun) -> list[str]:
    """The overrides Hydra records in ``.hydra/overrides.yaml`` (it leaves out ``hydra.*``)."""
    return [o for o in run.overrides if not o.startswith("hydra.")]


def already_done(run: PlannedRun) -> bool:
    """A completed results.json made by exactly these overrides."""
    results, saved = run.run_dir / "results.json", run.run_dir / ".hydra" / "overrides.yaml"
    if not (results.is_file() and saved.is_file()):
        return False
    try:
        status = json.loads(results.read_text()).get("status")
        return status == "completed" and sorted(yaml.safe_load(saved.read_text())) == sorted(
            task_overrides(run))  # order-free: Hydra applies distinct keys independently
    except (ValueError, yaml.YAMLError):
        return False


def _outcome(run: PlannedRun, returncode: int) -> dict[str, Any]:
    results = run.run_dir / "results.json"
    record = json.loads(results.read_text()) if results.is_file() else {}
    return {"index": run.index, "returncode": returncode, "status": record.get("status", "failed"),
            "objective": record.get("objective"), "run_dir": str(run.run_dir)}


def run_all(planned: list[PlannedRun], *, rerun: bool = False, console: Console | None = None,
            python: str = sys.executable) -> list[dict[str, Any]]:
    """Run every planned run in turn; returns one outcome dict per run (skipped ones included).

    Stops early (and says so) when a run is interrupted with Ctrl-C."""
    console = console or Console()
    outcomes = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("sweep", total=len(planned))
        for run in planned:
            label = describe({k: v for k, v in run.params.items() if k != "logger"})
            if not rerun and already_done(run):
                outcomes.append({**_outcome(run, 0), "skipped": True})
                progress.console.print(f"[dim]{run.index}: done before, skipped ({label})")
                progress.advance(bar)
                continue
            progress.update(bar, description=f"run {run.index}: {label}")
            run.run_dir.mkdir(parents=True, exist_ok=True)
            with open(run.run_dir / "stdout.log", "w") as log:
                try:
                    proc = subprocess.run(run.argv(python), cwd=REPO, stdout=log,
                                          stderr=subprocess.STDOUT, check=False)
                    returncode = proc.returncode
                except KeyboardInterrupt:
                    returncode = EXIT_INTERRUPTED
            outcome = _outcome(run, returncode)
            outcomes.append(outcome)
            colour = {"completed": "green", "diverged": "yellow"}.get(outcome["status"], "red")
            progress.console.print(
                f"[{colour}]{run.index}: {outcome['status']}[/] objective={outcome['objective']} "
                f"({label}) -> {run.run_dir}")
            progress.advance(bar)
            if returncode == EXIT_INTERRUPTED:
                progress.console.print("[red]interrupted: stopping the sweep (run it again to "
                                       "resume; completed runs are skipped)")
                break
    return outcomes
