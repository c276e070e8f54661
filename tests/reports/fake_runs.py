"""Synthetic run folders for the report tests: a ``results.json`` as run.py writes it."""

from __future__ import annotations

import json
from pathlib import Path


def write_run(root: Path, name: str, *, model="dnc", task="copy", seed=0, status="completed",
              metrics=None, model_cfg=None, task_cfg=None, steps=100, wall=36.0,
              extra_cfg=None, code=None, epochs=None, data=None) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    record = {
        "status": status, "model": model, "task": task, "seed": seed,
        "metrics": metrics or {}, "n_params": 1234, "global_step": steps, "wall_time_s": wall,
        "hardware": {"processor": "x86_64", "cuda": None},
        "config": {"model": {"_target_": "memnets.models.dnc.DNC", **(model_cfg or {})},
                   "task": {"seed": seed, **(task_cfg or {})},
                   "optimizer": {"lr": 1e-3}, "trainer": {"max_steps": steps},
                   **(extra_cfg or {})},
        "code_version": code, "epochs": epochs,
        "metrics_csv": "csv/metrics.csv", "data": data or {},
    }
    (run_dir / "results.json").write_text(json.dumps(record))
    return run_dir


FALLBACK_NOTE = ("tasks_1-20_v1-2/en-10k/qa3_three-supporting-facts_train.txt missing: used "
                 "tasks_1-20_v1-2/en/qa3_three-supporting-facts_train.txt (1k) instead")


def babi_pertask_runs(root: Path) -> None:
    """MemN2N per-task, tasks 1..20, seeds 0 and 1. Task t errors: seed 0 -> t%, seed 1 ->
    (t + 2)%, except task 1 with seed 1 -> 10%; val errors make seed 1 best on task 3 only."""
    for seed in (0, 1):
        for t in range(1, 21):
            test = t + (2 if seed else 0) if not (t == 1 and seed == 1) else 10.0
            val = 1.0 if (t == 3) == (seed == 1) else 2.0
            write_run(root, f"s{seed}t{t}", model="memn2n", task="babi", seed=seed,
                      task_cfg={"joint": False, "tasks": [t], "size": "10k"},
                      data={"fallback_to_1k": [FALLBACK_NOTE]} if t == 3 else None,
                      metrics={f"test/group/qa{t}/error": test / 100,
                               f"val/group/qa{t}/error": val / 100,
                               "test/error": test / 100, "val/error": val / 100})
