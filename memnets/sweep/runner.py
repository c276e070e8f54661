"""Run a sweep's runs locally, up to ``jobs`` at once, with no W&B server.

Each run is ``python run.py <overrides> logger=csv hydra.run.dir=<out>/<sweep>/<i>`` in a
subprocess (a fresh process per run, as ``wandb agent`` does), its console output in
``<run dir>/stdout.log``. A run whose folder already holds a completed ``results.json`` made with
the same overrides is skipped, so an interrupted sweep resumes where it stopped; so is a run the
command line found in the run archive (``reports/runs``: made on another machine, see
``memnets.sweep.__main__.archived_runs``) when its folder here is empty. A run that was
interrupted (its record says so, or it has none: killed) and left a checkpoint goes on from it in
its folder (``ckpt_path=<run dir>``; a ``trainer.max_time`` budget counts the time before the
stop, since Lightning's Timer is in the checkpoint); any other earlier attempt with the same
overrides (failed, diverged, no checkpoint) is moved to ``<sweep>/superseded/`` and the run
starts afresh; a folder holding a run with other overrides is refused. A run's outcome comes
from its exit code and its record together: a crashed run is never reported as completed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from memnets.sweep.expand import Sweep, render_value
from memnets.training.checkpoints import checkpoint_files
from memnets.training.results import RESULTS_FILE, repeat_key

REPO = Path(__file__).resolve().parents[2]
LOCAL_LOGGER = "csv"
# run.py's exit codes (run.py main): 2 bad inputs, 3 diverged (a result), 130/143 interrupted
# (SIGINT/SIGTERM), 1 any other crash.
EXIT_DIVERGED, EXIT_INTERRUPTED = 3, (130, 143)
LOG_FILE = "stdout.log"
RESUME_KEY = "ckpt_path"  # the override a resumed run gets; not part of what the run is
RESUMABLE = (None, "interrupted")  # record statuses of a run that may go on (None: killed)
ARCHIVED = "completed before; its record is in the run archive (reports/runs)"
# The committed run archive (written by ``python -m reports --archive``, see reports/archive.py).
RUN_ARCHIVE = REPO / "reports" / "runs"


@dataclass(frozen=True)
class PlannedRun:
    index: int
    params: dict[str, Any]
    overrides: list[str]  # what run.py receives, in order
    run_dir: Path

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "run.py", *self.overrides]

    def resumed(self) -> PlannedRun:
        """The same run, going on from the checkpoints in its folder."""
        return replace(self, overrides=[*self.overrides, f"{RESUME_KEY}={self.run_dir}"])


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


def _what_the_run_is(overrides: list[str]) -> list[str]:
    """Overrides without the resume one, sorted: a run resumed is the same run."""
    return sorted(o for o in map(str, overrides) if not o.startswith(f"{RESUME_KEY}="))


def _saved_overrides(run: PlannedRun) -> list[str] | None:
    """The overrides Hydra recorded in the run folder, or None if it recorded none (readably)."""
    saved = run.run_dir / ".hydra" / "overrides.yaml"
    try:
        loaded = yaml.safe_load(saved.read_text()) if saved.is_file() else None
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, list) else None


def same_run(run: PlannedRun) -> bool:
    """The folder's run was made by exactly these overrides (order-free: Hydra applies distinct
    keys independently)."""
    saved = _saved_overrides(run)
    return saved is not None and _what_the_run_is(saved) == _what_the_run_is(task_overrides(run))


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run folder's results.json, or None if it is absent or unreadable."""
    try:
        record = json.loads((run_dir / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def archived_keys(archive: Path | None = None) -> set[str]:
    """The :func:`memnets.training.results.repeat_key` of every completed run in the run archive
    (``reports/runs``): the runs a sweep need not make again."""
    records = (read_record(path.parent) for path in (archive or RUN_ARCHIVE).rglob(RESULTS_FILE))
    return {repeat_key(r) for r in records if r and r.get("status") == "completed"}


def already_done(run: PlannedRun) -> bool:
    """A completed results.json made by exactly these overrides."""
    record = read_record(run.run_dir)
    return record is not None and record.get("status") == "completed" and same_run(run)


def folder_decision(run: PlannedRun, rerun: bool) -> str:
    """What to do with the run's folder before running it.

    ``fresh``: absent or empty; ``skip``: completed before with these overrides (unless
    ``rerun``); ``resume``: interrupted or killed with these overrides, with a checkpoint (unless
    ``rerun``); ``supersede``: another earlier attempt of this run (same overrides, or only the
    runner's own ``stdout.log``) is moved to ``superseded/``; ``refuse``: it holds another run.
    """
    folder = run.run_dir
    contents = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if not contents:
        return "fresh"
    if not rerun and already_done(run):
        return "skip"
    if (not rerun and same_run(run) and checkpoint_files(folder)
            and (read_record(folder) or {}).get("status") in RESUMABLE):
        return "resume"
    if same_run(run) or contents == {LOG_FILE}:
        return "supersede"
    return "refuse"


def supersede(run_dir: Path) -> Path:
    """Move an earlier attempt out of the way, to ``<sweep>/superseded/<i>.<time>``; kept, not
    deleted, since its record is part of the history."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    attempt = 0
    while (target := run_dir.parent / "superseded" / f"{run_dir.name}.{stamp}.{attempt}").exists():
        attempt += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    return target


def outcome_status(returncode: int, record: dict[str, Any] | None) -> tuple[str, str | None]:
    """The run's status from its exit code and its record together, and why when they disagree.

    Only exit code 0 with a ``completed`` record is completed; exit code 3 with a ``diverged``
    record is diverged; 130/143 (SIGINT/SIGTERM) is interrupted; anything else failed.
    """
    recorded = (record or {}).get("status")
    message = (record or {}).get("message")
    if returncode == 0:
        if recorded == "completed":
            return "completed", None
        return "failed", f"exit code 0 but results.json says {recorded or 'nothing (missing)'}"
    if returncode == EXIT_DIVERGED and recorded == "diverged":
        return "diverged", message
    if returncode in EXIT_INTERRUPTED:
        return "interrupted", message or f"exit code {returncode}"
    if returncode < 0:
        return "failed", f"killed by signal {-returncode}; {message or 'no results.json'}"
    return "failed", f"exit code {returncode}: {message or 'no results.json (see stdout.log)'}"


def outcome(run: PlannedRun, returncode: int) -> dict[str, Any]:
    record = read_record(run.run_dir)
    status, message = outcome_status(returncode, record)
    return {"index": run.index, "returncode": returncode, "status": status, "message": message,
            "objective": (record or {}).get("objective") if status != "failed" else None,
            "run_dir": str(run.run_dir)}


def execute(run: PlannedRun, python: str) -> int:
    """Run one run.py in a fresh process, its output in ``<run dir>/stdout.log`` (appended to
    when the run resumes, so the log holds every segment)."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    resuming = any(o.startswith(f"{RESUME_KEY}=") for o in run.overrides)
    with open(run.run_dir / LOG_FILE, "a" if resuming else "w") as log:
        try:
            return subprocess.run(run.argv(python), cwd=REPO, stdout=log,
                                  stderr=subprocess.STDOUT, check=False).returncode
        except KeyboardInterrupt:  # the run got the same Ctrl-C; its record says what it did
            return EXIT_INTERRUPTED[0]


def _not_run(run: PlannedRun, status: str, message: str) -> dict[str, Any]:
    return {"index": run.index, "returncode": None, "status": status, "message": message,
            "objective": None, "run_dir": str(run.run_dir)}


def run_all(planned: list[PlannedRun], *, rerun: bool = False, jobs: int = 1,
            console: Console | None = None, python: str | None = None,
            archived: Collection[int] = ()) -> list[dict[str, Any]]:
    """Run the planned runs, up to ``jobs`` at once; one outcome per run, in plan order.

    A run completed before with the same overrides is skipped (``skipped: True``), unless
    ``rerun``; so is a run whose index is in ``archived`` (completed before elsewhere, its record
    kept in ``reports/runs``) if its folder is empty. A folder holding another run is refused
    (status ``refused``). After a Ctrl-C or an interrupted run no new run starts; those left are
    ``not run``.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    console, python = console or Console(), python or sys.executable
    results: dict[int, dict[str, Any]] = {}
    todo = []
    for run in planned:
        decision = folder_decision(run, rerun)
        if decision == "fresh" and run.index in archived:
            results[run.index] = {**_not_run(run, "completed", ARCHIVED), "skipped": True}
            console.print(f"[dim]{run.index}: in reports/runs, skipped ({_label(run)})")
        elif decision == "skip":
            results[run.index] = {**outcome(run, 0), "skipped": True}
            console.print(f"[dim]{run.index}: done before, skipped ({_label(run)})")
        elif decision == "refuse":
            results[run.index] = _not_run(run, "refused", f"{run.run_dir} holds a different run "
                                          "(other overrides); use another --out or move it away")
            console.print(f"[red]{run.index}: refused[/] {results[run.index]['message']}",
                          soft_wrap=True)
        else:
            if decision == "supersede":
                console.print(f"[dim]{run.index}: earlier attempt moved to "
                              f"{supersede(run.run_dir)}", soft_wrap=True)
            if decision == "resume":
                console.print(f"[dim]{run.index}: interrupted before, resuming from its "
                              f"checkpoint ({_label(run)})", soft_wrap=True)
                run = run.resumed()
            todo.append(run)
    stop = threading.Event()

    def work(run: PlannedRun) -> dict[str, Any]:
        if stop.is_set():
            return _not_run(run, "not run", "the sweep stopped before this run started")
        result = outcome(run, execute(run, python))
        if result["status"] == "interrupted":
            stop.set()  # here, not in the main loop: this worker may take the next run at once
        return result

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress, ThreadPoolExecutor(jobs) as pool:
        bar = progress.add_task(f"sweep ({jobs} at once)", total=len(todo))
        futures = {pool.submit(work, run): run for run in todo}
        told = False
        try:
            for future in as_completed(futures):
                result = results[futures[future].index] = future.result()
                _print_outcome(progress.console, futures[future], result)
                progress.advance(bar)
                if result["status"] == "interrupted" and not told:
                    told = True
                    progress.console.print("[red]interrupted: no new run starts (run the sweep "
                                           "again to resume; completed runs are skipped)")
        except KeyboardInterrupt:
            stop.set()
            for future, run in futures.items():  # the running ones got the Ctrl-C as well
                results[run.index] = future.result() if not future.cancel() else _not_run(
                    run, "not run", "the sweep stopped before this run started")
    return [results[run.index] for run in planned]


def _label(run: PlannedRun) -> str:
    """What the run is, as run.py receives it: the sweep's values with ``--extra`` applied (a
    grid's ``seed=0`` under ``--extra seed=1`` reads ``seed=1``), without the logger, the run
    folder or the resume override."""
    return " ".join(o for o in task_overrides(run)
                    if not o.startswith(("logger=", f"{RESUME_KEY}=")))


def _print_outcome(console: Console, run: PlannedRun, result: dict[str, Any]) -> None:
    colour = {"completed": "green", "diverged": "yellow"}.get(result["status"], "red")
    why = f" ({result['message']})" if result["status"] != "completed" and result["message"] else ""
    console.print(f"[{colour}]{run.index}: {result['status']}[/]{why} "
                  f"objective={result['objective']} ({_label(run)}) -> {run.run_dir}",
                  soft_wrap=True, markup=True)
