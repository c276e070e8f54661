"""``reports/generated/extensions.md``: one section per extension study (question, protocol read
from its sweep file, table, rank tests, figures, and one generated finding sentence)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from reports.collect import read_records
from reports.extension_plots import learning_curves_by_arm, length_errors_by_arm, steps_by_arm
from reports.extensions import ALPHA, STUDIES, Study, load_study, measures, study_table
from reports.tables import code_summary, fmt, hardware_summary, to_markdown

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


def _p(p: float) -> str:
    return "–" if p is None or math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def _num(x: float, digits: int = 0) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def finding(table: pd.DataFrame, study: Study) -> str:
    """One sentence: the comparisons the rank test separates (Holm-adjusted p < ALPHA), arms that
    differ the same way from the same baseline on the same measure named together, with medians
    and the largest p among them; or that the evidence does not separate the arms."""
    if table.empty:
        return "No runs of this study were found."
    clauses: dict[tuple, list] = {}  # (block, measure, direction) -> [(arm, median, p)]
    bases: dict[tuple, tuple] = {}
    smallest = math.inf
    for _, row in table[~table["baseline"]].iterrows():
        base = table[(table["block"] == row["block"]) & table["baseline"]]
        if base.empty:
            continue
        base = base.iloc[0]
        for col, words in measures(study):
            p = row[f"p {col} holm"]
            if math.isnan(p):
                continue
            smallest = min(smallest, p)
            if p >= ALPHA:
                continue
            median = "steps median" if col == "steps" else f"{col.split('/')[0]} bits median"
            key = (row["block"], col, words, row[median] > base[median])
            clauses.setdefault(key, []).append((row["arm"], row[median], p))
            bases[key] = (base["arm"], base[median])
    seeds = int(table["seeds"].min())
    never = table[table["never solved"] == 1.0]
    unsolved = "" if never.empty else " Never solved within the budget by any seed: " + "; ".join(
        f"{block}: {', '.join(g['arm'])}" for block, g in never.groupby("block", sort=False)) + "."
    if not clauses:
        what = " or ".join(w for _, w in measures(study))
        return (f"The evidence does not separate the arms: at {_seeds(seeds)} per arm no arm "
                f"differs from the paper's choice in {what} (smallest Holm-adjusted p = "
                f"{_p(smallest)})." + unsolved)
    parts = []
    for (block, col, words, more), arms in clauses.items():
        base_arm, base_median = bases[(block, col, words, more)]
        digits = 0 if col == "steps" else 2
        worst = max(p for _, _, p in arms)
        where = "" if block == "all runs" else f"on {block}, "
        verb = "needed" if col == "steps" else "made"
        medians = "/".join(_num(m, digits) for _, m, _ in arms)
        parts.append(
            f"{where}{' and '.join(a for a, _, _ in arms)} {verb} {'more' if more else 'fewer'} "
            f"{words} than {base_arm} ({'clearly' if worst < 0.01 else 'moderately'}: median "
            f"{medians} vs {_num(base_median, digits)}, Holm-adjusted p "
            f"{'=' if len(arms) == 1 else '≤'} {_p(worst)})")
    text = "; ".join(parts)
    return (text[0].upper() + text[1:]
            + f". No other comparison is separated at {_seeds(seeds)} per arm." + unsolved)


def protocol(study: Study, df: pd.DataFrame) -> str:
    """The study's protocol from its sweep file (what varies, the budget) and its runs."""
    sweep = yaml.safe_load((SWEEPS / study.sweep).read_text())
    params = sweep["parameters"]
    fixed = [f"`{k}={v['value']}`" for k, v in params.items()
             if "value" in v and k not in ("logger", "study")]
    varied = [f"`{k}` ∈ {{{', '.join(map(str, v['values']))}}}" for k, v in params.items()
              if "values" in v]
    hours = df["wall_time_s"].sum() / 3600 if not df.empty else 0.0
    return (f"`python -m memnets.sweep sweeps/{study.sweep}`: {'; '.join(varied)}; fixed "
            f"{', '.join(fixed)}. A run is solved at the first validation with fewer than "
            f"{params['callbacks.solved.stopping_threshold']['value']} wrong bits per sequence "
            f"(it stops there); a run that never gets there is censored at the budget. "
            f"{len(df)} runs on one CPU thread each, {hours:.2f} h of run time in total "
            f"({hardware_summary(df.get('hardware', []))}), code "
            f"{code_summary(df.get('code_version', []))}.")


def display(table: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The study table as shown: counts, mean ± sd [95% CI], test bits per split, p-values."""
    out = pd.DataFrame({
        "block": table["block"],
        "arm": table["arm"] + table["baseline"].map({True: " (paper)", False: ""}),
        "seeds": table["seeds"],
        "never solved": (table["never solved"] * 100).round().astype(int).astype(str) + " %",
        "steps to solve, mean ± sd [95% CI]": [
            f"{fmt(m, s, 0)} [{_num(lo)}, {_num(hi)}]" for m, s, lo, hi in
            table[["steps mean", "steps sd", "steps ci lo", "steps ci hi"]].to_numpy()],
    })
    for split in ("test", "test_2x", "test_4x"):
        if table[f"{split} bits mean"].notna().any():
            out[f"{split} bits/seq"] = [fmt(m, s, 2) for m, s in
                                        table[[f"{split} bits mean", f"{split} bits sd"]].to_numpy()]
    for col, _ in measures(study):
        name = "steps" if col == "steps" else col.replace("/bit_errors", " bits")
        out[f"p {name} (Holm)"] = table[f"p {col} holm"].map(_p)
    out["diverged"] = table["diverged"]
    out["wall s/run"] = table["wall time s"].map(lambda x: _num(x))
    return out


def memory_pictures(df: pd.DataFrame, out: Path, study: Study) -> list[tuple[str, Path]]:
    """The memory picture of seed 0 of every arm in the last block (copied next to the page)."""
    if df.empty or "memory_picture" not in df:
        return []
    block = sorted(df["block"].unique())[-1]
    picked = []
    for _, run in df[(df["block"] == block) & (df["seed"] == df["seed"].min())].iterrows():
        src = Path(run["run_dir"]) / str(run["memory_picture"])
        if run["memory_picture"] and src.is_file():
            dst = out / "extensions" / f"{study.name}_memory_{len(picked)}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            picked.append((f"{block} / {run['arm']}", dst))
    return picked


def section(study: Study, df: pd.DataFrame, out: Path) -> tuple[list[str], str, list[Path]]:
    """(Markdown lines, finding sentence, files written) of one study."""
    lines = [f"## {study.title}", "", f"**Question.** {study.question}", ""]
    if df.empty:
        sentence = "No runs of this study were found."
        return lines + [f"**Finding.** {sentence}", ""], sentence, []
    table = study_table(df, study)
    sentence = finding(table, study)
    figures = [f for f in (
        learning_curves_by_arm(df, out / "extensions" / f"{study.name}_curves.png", study.title),
        steps_by_arm(df, out / "extensions" / f"{study.name}_steps.png", study.title),
        length_errors_by_arm(df, out / "extensions" / f"{study.name}_length.png", study.title),
    ) if f is not None]
    pictures = memory_pictures(df, out, study)
    lines += [f"**Protocol.** {protocol(study, df)}", "", to_markdown(display(table, study),
              index=False), "",
              "**Test.** Two-sided Mann-Whitney U of each arm against the paper's arm of the same "
              "block, on " + " and ".join(w for _, w in measures(study)) + " (censored runs "
              "counted at the budget); p-values Holm-adjusted within each block and measure (the arms "
              "of one task against its baseline).", "",
              f"**Finding.** {sentence}", ""]
    lines += [f"![{study.title}: {f.stem}]({f.relative_to(out)})" for f in figures] + [""]
    if pictures:
        lines += ["Memory use of one test episode (seed 0), per arm:", ""]
        lines += [f"![{label}]({p.relative_to(out)})" for label, p in pictures] + [""]
    return lines, sentence, figures + [p for _, p in pictures]


def write_extensions(roots: Iterable[Path], out: Path) -> tuple[Path, dict[str, str], list[Path]]:
    """Write ``extensions.md`` (and its figures); return it, the finding per study, all files.

    With no run of any study under ``roots`` (a fresh clone: the studies' run folders are not
    archived) an existing page is kept as it is and no findings are returned, so the README's
    block is kept too; ``python -m reports`` must not replace measured findings with "no runs"."""
    records = read_records(roots)
    path = out / "extensions.md"
    studies = {study.name: load_study(records, study) for study in STUDIES}
    if path.is_file() and all(df.empty for df in studies.values()):
        return path, {}, []
    lines = ["# Extension studies", "",
             "Generated by `python -m reports` from the runs' `results.json` and CSV logs; do not "
             "edit by hand. Runs are grouped by every setting that differs in their resolved "
             "configs (seed aside), so arms are never pooled. Budgets are per run, on one CPU "
             "thread.", ""]
    lines += [f"- [{s.title}](#{s.title.lower().replace(' ', '-')})" for s in STUDIES] + [""]
    findings, written = {}, []
    for study in STUDIES:
        body, sentence, files = section(study, studies[study.name], out)
        lines += body
        findings[study.title] = sentence
        written += files
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path, findings, [path, *written]


def readme_block(findings: dict[str, str]) -> str:
    """The README's Extensions block: one finding per study and where the details are."""
    items = [f"- **{title}.** {sentence}" for title, sentence in findings.items()]
    return "\n".join(items + ["", "Protocols, tables, tests and figures: "
                              "[`reports/generated/extensions.md`](reports/generated/extensions.md); "
                              "everything on one offline page: `reports/generated/index.html`."])
