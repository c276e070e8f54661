"""Fixtures for the bAbI tests: where the real data is, and shared data modules.

The real data is found through ``MEMNETS_BABI_DIR``, else ``../shared/data/babi`` relative to the
repository root. Without it the data tests skip, saying how to get it; with ``CI`` set they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HOW_TO_GET = (
    "bAbI data not found: set MEMNETS_BABI_DIR to a folder holding tasks_1-20_v1-2/ (or to "
    "tasks_1-20_v1-2.tar.gz from http://www.thespermwhale.com/jaseweston/babi/), or put it at "
    "../shared/data/babi relative to the repository root"
)


def _find_babi_dir() -> Path | None:
    env = os.environ.get("MEMNETS_BABI_DIR")
    candidates = [Path(env)] if env else [Path("../shared/data/babi")]
    for path in candidates:
        path = path if path.is_absolute() else REPO / path
        if (path / "tasks_1-20_v1-2").is_dir() or (path / "en").is_dir() or path.is_file():
            return path
    return None


@pytest.fixture(scope="session")
def babi_dir() -> Path:
    """Folder holding ``tasks_1-20_v1-2/`` (or that folder, or the tarball)."""
    path = _find_babi_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {HOW_TO_GET}")
        pytest.skip(HOW_TO_GET)
    return path


@pytest.fixture(scope="session")
def babi_root(babi_dir: Path) -> Path:
    """The ``tasks_1-20_v1-2`` folder itself (the data tests need the unpacked files)."""
    root = babi_dir / "tasks_1-20_v1-2" if (babi_dir / "tasks_1-20_v1-2").is_dir() else babi_dir
    if not (root / "en").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{root} has no en/ folder; the bAbI data tests need the unpacked data")
        pytest.skip(f"{root} has no en/ folder; the bAbI data tests need the unpacked data")
    return root


@pytest.fixture(scope="session")
def babi_10k_word(babi_dir: Path):
    """All 20 tasks of en-10k, word granularity (qa3 train from en/ if en-10k lacks it).

    Uses the normal content-keyed cache (``$MEMNETS_CACHE`` or ``~/.cache/memnets``), so only
    the first run pays for parsing."""
    from tasks.babi.datamodule import BabiDataModule

    dm = BabiDataModule(babi_dir, size="10k", granularity="word", fallback_to_1k=True, cache_dir=None)
    dm.setup("fit")
    return dm


@pytest.fixture(scope="session")
def babi_10k_sentence(babi_dir: Path):
    from tasks.babi.datamodule import BabiDataModule

    dm = BabiDataModule(babi_dir, size="10k", granularity="sentence", fallback_to_1k=True)
    dm.setup("fit")
    return dm


def write_tiny_babi(folder: Path, n_stories: int = 60) -> Path:
    """A synthetic ``tasks_1-20_v1-2/en`` with tasks 1 and 19 (train and test), stories of
    1..12 statements, so data-module tests run without the real data."""
    names = ["Mary", "John", "Sandra", "Daniel"]
    places = ["kitchen", "garden", "office", "hallway"]
    root = folder / "tasks_1-20_v1-2" / "en"
    root.mkdir(parents=True, exist_ok=True)
    for task, stem in ((1, "qa1_single-supporting-fact"), (19, "qa19_path-finding")):
        for split in ("train", "test"):
            lines = []
            for s in range(n_stories):
                k = 1 + (s * 7 + task) % 12
                for i in range(k):
                    lines.append(f"{i + 1} {names[(s + i) % 4]} went to the {places[(s * i) % 4]}.")
                who = names[(s + k - 1) % 4]
                answer = places[(s * (k - 1)) % 4] if task == 1 else "n,w"
                lines.append(f"{k + 1} Where is {who}? \t{answer}\t{k}")
            (root / f"{stem}_{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def tiny_babi(tmp_path: Path) -> Path:
    return write_tiny_babi(tmp_path / "tiny")
