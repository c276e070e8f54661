"""Checkpoints that survive a crash or a full disk, and the choice of the one to resume from.

Every checkpoint is written to a temporary file beside its target, flushed to disk (fsync) and
renamed over the target, so a file named ``*.ckpt`` is whole or absent: a write that fails (full
disk, killed process) leaves the previous checkpoint as it was. Resuming from a run folder takes
the readable checkpoint that reached the most steps and names any unreadable one it skipped.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from memnets.training.runtime import RunError, one_line

log = logging.getLogger("memnets")
CHECKPOINT_DIR = "checkpoints"
RUN_ID_KEY = "memnets_run_id"  # the run's id, so a resumed run keeps it (results.json run_id)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not possible on every platform: then skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoints, written with :func:`atomic_write_bytes`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())


@dataclass(frozen=True)
class ResumePoint:
    """The checkpoint a run resumes from, its step and the id of the run that wrote it."""

    path: str
    global_step: int
    run_id: str | None


def read_checkpoint(path: Path) -> ResumePoint:
    """Load ``path`` fully (so a truncated file fails here, not inside Lightning)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)  # our own files, like Lightning
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError("not a Lightning checkpoint (no state_dict)")
    return ResumePoint(str(path), int(ckpt.get("global_step", 0)), ckpt.get(RUN_ID_KEY))


def checkpoint_files(run_dir: Path) -> list[Path]:
    """The ``*.ckpt`` files of a run folder (``checkpoints/``, or the folder itself), newest first."""
    found = [*Path(run_dir, CHECKPOINT_DIR).glob("*.ckpt"), *Path(run_dir).glob("*.ckpt")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def resolve_resume(ckpt_path: str | None) -> ResumePoint | None:
    """``ckpt_path`` (a ``.ckpt`` file or a run folder) -> the checkpoint to resume from.

    For a folder: the readable checkpoint with the most steps (the newest on a tie); each
    unreadable one (truncated by a full disk, say) is skipped with a warning naming it.
    """
    if not ckpt_path:
        return None
    path = Path(ckpt_path)
    if path.is_file():
        try:
            return read_checkpoint(path)
        except Exception as err:  # noqa: BLE001 - any failure to load means unreadable
            raise RunError(f"ckpt_path={ckpt_path} is unreadable ({one_line(err)}); pass another "
                           "checkpoint or the run folder (its newest readable one is used)") from None
    if not path.is_dir():
        raise RunError(f"ckpt_path={ckpt_path} does not exist; pass a .ckpt file or a run folder")
    readable, skipped = [], []
    for candidate in checkpoint_files(path):
        try:
            readable.append(read_checkpoint(candidate))
        except Exception as err:  # noqa: BLE001
            skipped.append(f"{candidate} ({one_line(err)})")
    if not readable:
        found = "; ".join(skipped) or f"no .ckpt file in {path / CHECKPOINT_DIR}"
        raise RunError(f"ckpt_path={ckpt_path}: no readable checkpoint ({found}); "
                       "pass a .ckpt file or start afresh")
    best = max(readable, key=lambda r: r.global_step)  # stable: the newest among equal steps
    for item in skipped:
        log.warning("skipping unreadable checkpoint %s; resuming from %s (step %d)", item,
                    best.path, best.global_step)
    return best


def relocate_checkpoint_state(state: dict[str, Any], new_dir: Path) -> dict[str, Any]:
    """A ``ModelCheckpoint`` state saved in another run folder, moved to ``new_dir``: the files
    it tracks (best, k best, last) are copied there when missing and their paths rewritten."""
    old_dir = Path(state["dirpath"])

    def moved(path: str | None) -> str | None:
        if not path or Path(path).parent != old_dir:
            return path
        target = new_dir / Path(path).name
        if Path(path).is_file() and not target.exists():
            new_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, Path(path).read_bytes())
        return str(target)

    return {**state, "dirpath": str(new_dir),
            **{k: moved(state.get(k)) for k in ("best_model_path", "kth_best_model_path",
                                                "last_model_path") if k in state},
            "best_k_models": {moved(p): v for p, v in (state.get("best_k_models") or {}).items()}}


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` that keeps its record when a run is resumed into a new
    folder (Lightning forgets the best score when the folder differs): the best model is then
    chosen among all of the run's validations, as in a run that never stopped."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and Path(old) != Path(self.dirpath):
            state_dict = relocate_checkpoint_state(state_dict, Path(self.dirpath))
        super().load_state_dict(state_dict)
