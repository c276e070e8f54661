"""The package layout of DESIGN.md §2 and its one-way imports, read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports (``import a.b``, ``from a.b import c`` -> ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def offenders(package: str, forbidden: str, root: Path = REPO) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for path in sorted((root / package).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("memnets", "reports"),              # reports read results; runs never depend on them
    ("tasks", "memnets"),                # tasks know the schema only
    ("memnets/ops", "memnets.models"),   # maths below models
    ("memnets/ops", "memnets.training"),
    ("memnets/models", "memnets.training"),
])
def test_imports_run_one_way(package, forbidden):
    assert offenders(package, forbidden) == []


def test_offenders_sees_a_forbidden_import(tmp_path):
    """The checker itself can fail: a file importing reports (lazily, inside a function) is reported."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("import os\ndef f():\n    from reports.tables import x\n")
    assert offenders("pkg", "reports", root=tmp_path) == ["pkg/m.py imports reports.tables"]
    assert offenders("pkg", "report", root=tmp_path) == []


def test_top_levels_hold_only_packages_of_one_idea():
    memnets = {p.name for p in (REPO / "memnets").iterdir() if not p.name.startswith("__pycache__")}
    assert memnets == {"__init__.py", "ops", "models", "training", "perf", "sweep"}
    top_tasks = {p.name for p in (REPO / "tasks").glob("*.py")}
    assert top_tasks == {"__init__.py", "batch.py", "spec.py", "lessons.py"}
    families = [p for p in (REPO / "tasks").iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert families and all((p / "__init__.py").is_file() for p in families)
    assert not list((REPO / "sweeps").glob("*.py"))
