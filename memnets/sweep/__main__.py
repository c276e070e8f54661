"""``python -m memnets.sweep sweeps/<file>.yaml [--jobs N] [--dry-run] [--max-runs N]
[--extra key=value ...] [--out DIR] [--rerun]`` and ``python -m memnets.sweep --validate [files...]``.

A run is skipped if its folder holds a completed record of it, or if the run archive
(``reports/runs``) holds one of the same model, task, seed and setting (``--rerun`` runs both
again). Exit code 0 only if every run completed or diverged (both are results); otherwise 1,
after a list of the runs that failed, were interrupted, refused or not run."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rich.console import Console

from memnets.sweep.expand import SweepError, expand, load_sweep

FINISHED = ("completed", "diverged")  # a result either way; anything else makes the exit code 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m memnets.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path, help="sweep YAML file(s)")
    p.add_argument("--validate", action="store_true",
                   help="check sweep files against the configs (default: sweeps/*.yaml)")
    p.add_argument("--dry-run", action="store_true", help="print the run.py commands, run nothing")
    p.add_argument("--max-runs", type=int, default=None,
                   help="grid: the first N runs; random/bayes: N draws (default: run_cap)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random/bayes draws")
    p.add_argument("--extra", nargs="+", default=[], metavar="KEY=VALUE",
                   help="Hydra overrides added to every run (they win over the sweep's values)")
    p.add_argument("--out", type=Path, default=Path("multirun"),
                   help="runs go to <out>/<sweep name>/<i> (default multirun)")
    p.add_argument("--rerun", action="store_true", help="run again even if a run completed before")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="runs at once (default 1; one per core: each run uses threads=1)")
    return p.parse_args(argv)


def main_validate(files: list[Path], console: Console) -> int:
    from memnets.sweep.validate import sweep_files, validate

    files = files or sweep_files()
    if not files:
        console.print("[red]no sweep files found")
        return 1
    bad = 0
    for path, problems in validate(files).items():
        if problems:
            bad += 1
            console.print(f"[red]✗ {path}")
            for problem in problems:
                console.print(f"    {problem}", markup=False)
        else:
            console.print(f"[green]✓ {path}")
    console.print(f"{len(files) - bad}/{len(files)} sweep files valid")
    return 1 if bad else 0


def archived_runs(planned: list, archive: Path | None = None) -> set[int]:
    """The indices of the planned runs whose model, task, seed and setting completed before and
    are kept in the run archive (``reports/runs``, or ``archive``): a sweep started on a fresh
    machine does not make them again. A run whose config cannot be composed is not matched (the
    run itself then reports the bad override)."""
    from memnets.sweep.runner import archived_keys, task_overrides
    from memnets.sweep.validate import planned_record
    from memnets.training.results import repeat_key

    keys = archived_keys(archive)
    found = set()
    for run in planned if keys else ():
        try:
            record = planned_record(task_overrides(run))
        except Exception:  # noqa: BLE001 - Hydra raises several kinds; the run will say which
            continue
        if repeat_key(record) in keys:
            found.add(run.index)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if args.validate:
        return main_validate(args.files, console)
    if not args.files:
        console.print("give a sweep file (e.g. sweeps/copy_dnc_distance.yaml) or --validate")
        return 2
    if args.jobs < 1:
        console.print(f"[red]--jobs must be >= 1, got {args.jobs}")
        return 2
    from memnets.sweep.runner import plan, run_all

    total_bad = 0
    for path in args.files:
        try:
            sweep = load_sweep(path)
            runs = expand(sweep, max_runs=args.max_runs, seed=args.seed)
            planned = plan(sweep, runs, out_root=args.out, extra=args.extra)
        except (SweepError, ValueError, OSError) as err:
            console.print(f"[red]{path}: {err}")
            return 2
        if sweep.method == "bayes":
            console.print("[yellow]bayes needs the W&B server; locally its runs are random draws")
        console.print(f"{sweep.name}: {len(planned)} run(s) -> {args.out / sweep.name}/<i>")
        if args.dry_run:
            for run in planned:
                console.print(shlex.join(run.argv("python")), markup=False, soft_wrap=True)
            continue
        archived = set() if args.rerun else archived_runs(planned)
        outcomes = run_all(planned, rerun=args.rerun, jobs=args.jobs, console=console,
                           archived=archived)
        failed = [o for o in outcomes if o["status"] not in FINISHED]
        total_bad += len(failed)
        console.print(f"{sweep.name}: {len(outcomes) - len(failed)}/{len(planned)} runs finished "
                      "(completed or diverged); `python -m reports` turns them into tables")
        for o in failed:
            console.print(f"  [red]{o['index']}: {o['status']}[/] {o['message'] or ''} -> "
                          f"{o['run_dir']}", soft_wrap=True)
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
