"""Paste generated tables into the README between ``<!-- reports:NAME -->`` and
``<!-- /reports:NAME -->`` markers, so the README's results are generated, never typed."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pandas as pd

from reports.tables import to_markdown

# Published columns shown beside ours in the README's compact bAbI table, one anchor at least for
# each model the suite trains (the full set, with the lecture notes' EntNet Table 2 columns, D-NTM
# and DMN+, is in reports/generated/babi_table.md): the best per-task MemN2N and EntNet, the DNC
# paper's headline best (DNC2) and DNC1's mean ± sd over 20 runs, and its NTM and LSTM baselines.
README_PUBLISHED = ("MemN2N (single) best", "EntNet best", "DNC2 best", "DNC1 mean", "NTM best",
                    "LSTM best")


def compact_babi(display: pd.DataFrame) -> pd.DataFrame:
    """The README's bAbI table: a few published columns and all of ours."""
    keep = [c for c in display.columns
            if c.startswith("ours") or any(c.startswith(p) for p in README_PUBLISHED)]
    return display[keep]


# a column label's settings: "ours: memn2n per-task 10k [model.embed_dim=100, ...] best"; up to
# the name's last "]", since a value may be a list ("model.sizes=[64,64]")
_SETTINGS = re.compile(r" \[([^\[]*=.*)\]")


def keyed_settings(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``table`` with each bracketed setting list in a column name replaced by a key, and the
    legend lines that spell the keys out. Keys run [a], [b], ... per model part of the name
    ("memn2n per-task 10k"), in order of first appearance, so a new setting of one model never
    renames another model's columns. The README's table stays readable when a model has several
    settings; the generated pages keep them whole."""
    keys: dict[str, dict[str, str]] = {}

    def rename(column: str) -> str:
        match = _SETTINGS.search(column)
        if not match:
            return column
        model = column[:match.start()].removeprefix("ours: ")
        own = keys.setdefault(model, {})
        if match.group(1) not in own:
            own[match.group(1)] = string.ascii_lowercase[len(own) % 26] * (1 + len(own) // 26)
        return f"{column[:match.start()]} [{own[match.group(1)]}]{column[match.end():]}"

    renamed = table.rename(columns=rename)
    return renamed, [f"- {model} [{k}]: {setting}"
                     for model, own in keys.items() for setting, k in own.items()]


def inject(readme: Path, blocks: dict[str, str]) -> list[str]:
    """Replace each marked block's body; returns the names replaced. Unmarked names are ignored."""
    text = readme.read_text()
    done = []
    for name, body in blocks.items():
        pattern = re.compile(
            rf"(<!-- reports:{re.escape(name)} -->\n).*?(<!-- /reports:{re.escape(name)} -->)",
            re.DOTALL,
        )
        text, n = pattern.subn(lambda m, b=body: m.group(1) + b.rstrip() + "\n" + m.group(2), text)
        if n:
            done.append(name)
    readme.write_text(text)
    return done


def first_table(lines: list[str]) -> list[str]:
    """The first Markdown table among ``lines``: its contiguous run of lines starting "|"."""
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def page_blocks(out: Path, pages: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """README block name -> the first table of the generated page, for the pages present."""
    return {name: "\n".join(first_table((out / file).read_text().splitlines()))
            for name, file in pages if (out / file).is_file()}


def first_list_after(lines: list[str], heading: str) -> list[str]:
    """The first Markdown list ("- " lines) after the line ``heading``, or nothing."""
    start = next((i for i, line in enumerate(lines) if line == heading), len(lines))
    items = [i for i in range(start, len(lines)) if lines[i].startswith("- ")]
    if not items:
        return []
    end = next((i for i in range(items[0], len(lines)) if not lines[i].startswith("- ")), len(lines))
    return lines[items[0]:end]


def curriculum_block(out: Path) -> dict[str, str]:
    """The graph traversal curriculum blocks (``python -m reports --only curriculum``): its table
    and the findings under it, both from the first (traversal) section of ``curriculum.md``."""
    blocks = page_blocks(out, (("graph_curriculum", "curriculum.md"),))
    page = out / "curriculum.md"
    if page.is_file():
        found = first_list_after(page.read_text().splitlines(), "Findings:")
        if found:
            blocks["graph_findings"] = "\n".join(found)
    return blocks


def shrdlu_block(out: Path) -> dict[str, str]:
    """The mini-SHRDLU summary block (``python -m reports --only shrdlu``)."""
    return page_blocks(out, (("shrdlu", "shrdlu.md"),))


def readme_blocks(babi_display: pd.DataFrame, out: Path) -> dict[str, str]:
    """The blocks ``python -m reports --readme`` writes: the compact bAbI table (its settings
    keyed, with their legend) and, when present, the generated copy table, the benchmark table,
    the graph traversal curriculum and the mini-SHRDLU summary."""
    table, legend = keyed_settings(compact_babi(babi_display))
    babi = to_markdown(table, index=True).rstrip()
    if legend:
        babi += "\n\nSettings of the columns keyed [a], [b], ... (per model):\n\n" + "\n".join(legend)
    blocks = {"babi": babi}
    page = out / "babi_table.md"
    found = first_list_after(page.read_text().splitlines(), "Findings:") if page.is_file() else []
    if found:
        blocks["babi_findings"] = "\n".join(found)
    blocks.update(page_blocks(out, (("copy", "copy_table.md"), ("bench", "bench.md"))))
    blocks.update(curriculum_block(out))
    blocks.update(shrdlu_block(out))
    return blocks
