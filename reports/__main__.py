"""``python -m reports [--runs reports/runs outputs multirun ...] [--archive] [--out
reports/generated] [--readme README.md] [--html]``: collect every ``results.json`` under the run
folders and write the tables, figures and extension studies under ``--out`` (``--html``: also one
offline page, ``index.html``; ``--archive``: first keep the runs read in the committed archive,
:mod:`reports.archive`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from reports.archive import ARCHIVE, archive_runs
from reports.babi_curves import plot_joint_curves
from reports.babi_findings import babi_findings
from reports.collect import collect, load_curves, runs
from reports.curriculum import curriculum_tasks, write_curriculum
from reports.extension_page import readme_block, write_extensions
from reports.html import write_html
from reports.plots import babi_heatmap, learning_curves, length_generalisation, memory_usage
from reports.published import load_babi_published, per_task
from reports.readme import curriculum_block, inject, readme_blocks, shrdlu_block
from reports.shrdlu import write_shrdlu
from reports.tables import (
    babi_table,
    babi_task_errors,
    length_table,
    setting_labels,
    to_latex,
    to_markdown,
)

# Published columns drawn in the heat map (the rest are in the tables).
HEATMAP_PUBLISHED = (("DNC1", "mean"), ("DNC2", "best"), ("MemN2N (single)", "best"),
                     ("EntNet", "best"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    p.add_argument("--runs", nargs="+", type=Path, default=[ARCHIVE, Path("outputs"),
                                                            Path("multirun")],
                   help="folders searched for results.json (default: the committed archive "
                        "reports/runs, outputs, multirun)")
    p.add_argument("--archive", action="store_true",
                   help="first copy every run read from --runs into reports/runs (its record "
                        "and validation curve, no checkpoints), to commit with the reports")
    p.add_argument("--out", type=Path, default=Path("reports/generated"))
    p.add_argument("--readme", type=Path, default=None,
                   help="also paste the tables into this README's <!-- reports:NAME --> blocks")
    p.add_argument("--only", choices=("results", "extensions", "curriculum", "shrdlu"),
                   default=None,
                   help="regenerate one part only: the per-task tables and figures (results), "
                        "the extension studies, the graph curricula or mini-SHRDLU; the other "
                        "parts' files (and README blocks) are left as they are")
    p.add_argument("--html", action="store_true",
                   help="also write one self-contained offline page, <out>/index.html")
    return p.parse_args(argv)


def write_table(table: pd.DataFrame, stem: Path, caption: str, index: bool = True) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".md"), stem.with_suffix(".tex")]
    paths[0].write_text(f"{caption}\n\n{to_markdown(table, index=index)}")
    paths[1].write_text(to_latex(table, index=index, caption=caption))
    return paths


def generate(run_roots: list[Path], out: Path, only: str | None = None,
             df: pd.DataFrame | None = None,
             table: tuple[pd.DataFrame, pd.DataFrame] | None = None,
             ) -> tuple[list[Path], dict[str, str]]:
    """Everything ``python -m reports`` writes (``only``: one part of it); returns the paths
    written and the extension studies' findings (study title -> sentence). ``df``: the runs
    already collected from ``run_roots``, and ``table``: their ``babi_table``, if the caller
    has them."""
    findings: dict[str, str] = {}
    written: list[Path] = []
    if only in (None, "extensions"):
        _, findings, written = write_extensions(run_roots, out)
    if only in (None, "results"):
        written += generate_results(run_roots, out, df, table)
    if only == "curriculum":
        written += write_curriculum(run_roots, out)
    if only == "shrdlu":
        written += write_shrdlu(run_roots, out)
    return written, findings


def outside_studies(df: pd.DataFrame) -> pd.DataFrame:
    """The runs that belong to no study (a study's runs are reported on its own page, grouped
    by arm): what the per-task tables, and the README's, are made of."""
    return df[df["study"].isna()].reset_index(drop=True) if "study" in df else df


def generate_results(run_roots: list[Path], out: Path,
                     df: pd.DataFrame | None = None,
                     table: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> list[Path]:
    """The per-task tables and figures of the runs under ``run_roots`` (``df``: collected from
    them already; ``table``: ``babi_table`` of those outside studies, built already) that
    belong to no study."""
    df = outside_studies(collect(run_roots) if df is None else df)
    published = load_babi_published()
    written: list[Path] = []
    display, long = babi_table(df, published) if table is None else table
    written += write_table(
        display, out / "babi_table",
        "bAbI 10k test error (%) per task; failed = tasks above 5%. Published columns carry "
        "[P] primary / [S] secondary source tags (sources in babi_table.csv). * = over fewer "
        "than 20 tasks.")
    notes = babi_findings(long)
    if notes:
        with (out / "babi_table.md").open("a") as page:
            page.write("\n\nFindings:\n\n" + "\n".join(notes) + "\n")
    long.to_csv(out / "babi_table.csv", index=False)
    written.append(out / "babi_table.csv")

    errors = babi_task_errors(df)
    pub = per_task(published)
    pub = pd.concat([pub[(pub["model"] == m) & (pub["statistic"] == s)]
                     for m, s in HEATMAP_PUBLISHED])
    pub = pub.assign(column=pub["model"] + " " + pub["statistic"])
    written.append(babi_heatmap(errors, out / "babi_heatmap.png", pub))

    if not df.empty:
        table = runs(df).drop(columns=["hardware"], errors="ignore")
        table["run_dir"] = table["run_dir"].map(lambda d: relative_run_dir(d, run_roots))
        table.to_csv(out / "runs.csv", index=False)
        written.append(out / "runs.csv")
        graph_tasks = curriculum_tasks(run_roots)  # reported by write_curriculum instead
        for task in sorted(t for t in df["task"].dropna().unique()
                           if t != "babi" and t not in graph_tasks):
            table = length_table(df, task)
            if not table.empty:
                written += write_table(
                    table, out / f"{task}_table",
                    f"{task}: test error (%) and bit errors per sequence at the training "
                    "lengths (test) and beyond (test_2x, test_4x); mean ± sd over seeds.",
                    index=False)
                written.append(length_generalisation(df, out / f"{task}_length.png", task=task))
        curves = load_curves(df)
        for task in sorted(t for t in curves["task"].unique()
                           if t != "babi" and t not in graph_tasks):  # curricula: own page
            written.append(learning_curves(curves, out / f"{task}_curves.png", task=task,
                                           settings=setting_labels(df[df["task"] == task])))
        # bAbI: the joint runs' mean over tasks against stories seen (per-task runs have none)
        written.append(plot_joint_curves(df, out / "babi_curves.png"))
        written += newest_usage_pictures(df, out)
        written += write_curriculum(run_roots, out)
        written += write_shrdlu(run_roots, out)
    written = [p for p in written if p is not None]
    written.append(write_index(df, written, out))
    return written


def relative_run_dir(run_dir: str, roots: list[Path]) -> str:
    """``run_dir`` from its run root's name on (``multirun/<sweep>/3``), so generated files
    name no path of the machine that made them."""
    path = Path(run_dir).resolve()
    for root in roots:
        root = root.resolve()
        if path.is_relative_to(root):
            return str(Path(root.name) / path.relative_to(root))
    return path.name


def newest_usage_pictures(df: pd.DataFrame, out: Path) -> list[Path | None]:
    """Usage over time from the newest ``trace.pt`` of each model (one picture per model keeps
    the folder small); models without a usage trace (LSTM) draw nothing."""
    pictures: list[Path | None] = []
    run_table = runs(df)
    for model, g in run_table.groupby("model"):
        traces = [Path(d) / "trace.pt" for d in g["run_dir"] if (Path(d) / "trace.pt").is_file()]
        for trace in sorted(traces, key=lambda p: p.stat().st_mtime, reverse=True):
            picture = memory_usage(trace, out / f"memory_usage_{model}.png")
            if picture is not None:
                pictures.append(picture)
                break
    return pictures


def write_index(df: pd.DataFrame, written: list[Path], out: Path) -> Path:
    """``README.md`` in ``out``: what was generated, from how many runs of which code."""
    lines = ["# Generated reports", "", "Made by `python -m reports`; do not edit by hand.", ""]
    if df.empty:
        lines.append("No runs were found: only the published bAbI columns are shown.")
    else:
        table = runs(df)
        counts = table.groupby(["task", "model", "status"]).size().rename("runs").reset_index()
        versions = sorted({str(v)[:12] + ("-dirty" if str(v).endswith("-dirty") else "")
                           for v in table["code_version"].dropna()})
        lines += [f"{len(table)} run(s); code versions: {', '.join(versions) or 'unknown'}.", "",
                  to_markdown(counts, index=False)]
    lines += ["", "Files:", ""] + [f"- `{p.name}`" for p in written]
    path = out / "README.md"
    made = {p.resolve() for p in written} | {path.resolve()}
    kept = sorted(f.name for f in out.iterdir()  # index.html: --html renders it from these
                  if f.is_file() and f.resolve() not in made and f.name != "index.html")
    if kept:  # pages whose runs were not among these (e.g. not archived): left as they were
        lines += ["", "Kept from an earlier `python -m reports` (no runs for them this time):", ""]
        lines += [f"- `{name}`" for name in kept]
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    existing = [r for r in args.runs if r.exists()]
    if args.archive:
        folders = archive_runs(existing, ARCHIVE)
        print(f"archived {len(folders)} run(s) in {ARCHIVE}")
    df = collect(existing)  # once: every part below reads the same runs
    # and the bAbI table once: babi_table.md and the README block show the same one
    table = (babi_table(outside_studies(df), load_babi_published())
             if args.only in (None, "results") else None)
    paths, findings = generate(existing, args.out, args.only, df, table)
    if args.html:
        paths.append(write_html(args.out))
    if args.readme:
        blocks = {"extensions": readme_block(findings)} if findings else {}
        if table is not None:
            blocks.update(readme_blocks(table[0], args.out))
        if args.only == "curriculum":
            blocks.update(curriculum_block(args.out))
        if args.only == "shrdlu":
            blocks.update(shrdlu_block(args.out))
        names = inject(args.readme, blocks)
        print(f"updated {args.readme}: {', '.join(names) or 'no marked blocks found'}")
    n_runs = len(runs(df)) if not df.empty else 0
    if n_runs == 0:
        print(f"no results.json found under {' '.join(map(str, args.runs))}: wrote the "
              "published bAbI table only")
    else:
        print(f"{n_runs} run(s) from {' '.join(map(str, existing))}")
    for path in paths:
        print(f"  {path}")
    if args.only in (None, "extensions") and not findings:
        print(f"no extension-study runs found: kept {args.out / 'extensions.md'} (and its README "
              "block) as it was")
    return 0


if __name__ == "__main__":
    sys.exit(main())
