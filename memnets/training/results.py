"""The run record, ``results.json``: what reports read (DESIGN §5)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from memnets.training.checkpoints import atomic_write_bytes

RESULTS_FILE = "results.json"
STATUSES = ("completed", "diverged", "interrupted", "failed")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's marketing name ("AMD EPYC 7B13"), from Linux's /proc/cpuinfo; None elsewhere.

    ``platform.processor()`` says only "x86_64" on Linux, which tells two machines apart not at
    all, and a CPU column's wall time means little without the CPU."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return None


def hardware_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def code_version(repo: Path | None = None) -> str | None:
    """The git SHA of the code (with ``-dirty`` for uncommitted changes).

    Outside git (a copy of the tree shipped to a cluster node without ``.git``) the SHA comes from
    the environment variable ``MEMNETS_CODE_VERSION``, which whoever made the copy sets to the
    commit it was made from; with neither, None (the reports then call the code version unknown).
    """
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("MEMNETS_CODE_VERSION") or None
    return sha + ("-dirty" if dirty else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_results(run_dir: Path, record: dict[str, Any]) -> Path:
    if record.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {record.get('status')!r}")
    path = Path(run_dir) / RESULTS_FILE
    text = json.dumps(_jsonable(record), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())  # whole or absent, never a truncated record
    return path


def read_results(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def earlier_segments(run_dir: Path) -> dict[str, Any]:
    """What the run folder's record says about the run so far (``run_id``, ``wall_time_s``,
    ``segments``), before a resume in place overwrites it; empty if there is no readable record
    (a run killed without one: its time before the last checkpoint is then not counted)."""
    try:
        record = read_results(Path(run_dir) / RESULTS_FILE)
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict):
        return {}
    return {k: record.get(k) for k in ("run_id", "wall_time_s", "segments")}


# Every config value becomes a column ("model.distance", "scheduler.step_size",
# "callbacks.linear_start.max_epochs", "trainer.gradient_clip_val", "study"...), so runs that
# differ in any setting are never pooled as seeds (DESIGN §9; issue 17), except these top-level
# sections and keys: the seed, paths, logging and progress display, which do not change results.
IGNORED_SECTIONS = {"hydra", "logger", "seed", "run_dir", "ckpt_path", "memory_picture",
                    "threads"}
IGNORED_CONFIG_KEYS = {"task.seed", "task.data_dir", "task.cache_dir", "task.num_workers",
                       "task.sha256", "model._target_", "task._target_", "optimizer._partial_",
                       "trainer.default_root_dir", "trainer.enable_model_summary",
                       "trainer.log_every_n_steps", "trainer.enable_progress_bar"}
IGNORED_CONFIG_PREFIXES = ("callbacks.progress.", "callbacks.interrupt.")
IGNORED_CONFIG_SUFFIXES = (".dirpath",)


def _flatten(prefix: str, node: Any, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = tuple(node) if isinstance(node, list) else node


def flatten(node: Any) -> dict[str, Any]:
    """Nested config -> ``{"model.distance": "cosine", ...}`` (lists as tuples)."""
    out: dict[str, Any] = {}
    _flatten("", node, out)
    return out


# Model options added after runs were recorded, per model class, with the value that does what
# the model did before the option existed (every new option defaults to the old behaviour). A
# record from before the option reads as having that value, so it and a record at that value
# are the same setting: the sweep runner skips one as a repeat of the other and the tables pool
# them, instead of splitting a column on "option=nan". tests/training/test_added_options.py
# checks each value against the model's signature and its configs/model yaml.
ADDED_MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "memnets.models.entnet.EntNet": {  # 14906cd: the authors' Torch code options
        "story_mask_init": None, "gate_bias": False, "candidate_bias": False,
        "prelu_per_unit": False,
    },
    "memnets.models.memn2n.MemN2N": {  # 241bf96: the authors' Matlab code options
        "noise_memories": True, "time_word_weight": False,
    },
}


def _with_added_options(model: dict[str, Any]) -> dict[str, Any]:
    """The model section with every option it predates at its before-the-option value."""
    added = ADDED_MODEL_OPTIONS.get(str(model.get("_target_")), {})
    return model | {k: v for k, v in added.items() if k not in model}


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """Every flattened config value (lists as tuples, so they can be grouped on) but the
    ignored ones (:data:`IGNORED_SECTIONS`, :data:`IGNORED_CONFIG_KEYS`, prefixes, suffixes) and
    with the model options a record predates at their old-behaviour value
    (:data:`ADDED_MODEL_OPTIONS`)."""
    flat: dict[str, Any] = {}
    for section, node in config.items():
        if section in IGNORED_SECTIONS:
            continue
        if node is None and section in ("model", "task"):
            node = {}
        if section == "model" and isinstance(node, dict):
            node = _with_added_options(node)
        _flatten(section, node, flat)
    return {k: v for k, v in flat.items() if k not in IGNORED_CONFIG_KEYS
            and not k.startswith(IGNORED_CONFIG_PREFIXES) and not k.endswith(IGNORED_CONFIG_SUFFIXES)}


def repeat_key(record: dict[str, Any]) -> str:
    """What makes two runs repeats of one setting and seed: model, task, seed and the config as
    the tables compare runs (:func:`config_columns`: no paths, logging, threads or folders). It
    does not depend on the machine or folder a run was made in, so an archived record (whose
    paths say ``<local>``) and a rerun of it elsewhere have the same key; the sweep runner skips
    a run whose key is archived, and the reports count repeats once by it."""
    columns = sorted(config_columns(record.get("config") or {}).items())
    return json.dumps([record.get("model"), record.get("task"), record.get("seed"), columns],
                      default=str)
