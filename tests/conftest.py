"""Shared test helpers: compose the real configs exactly as ``run.py`` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
MODEL_NAMES = sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml"))
TASK_NAMES = sorted(p.stem for p in (CONFIGS / "task").glob("*.yaml"))

os.environ.setdefault("WANDB_MODE", "disabled")
torch.set_num_threads(1)


def compose_cfg(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """``configs/train.yaml`` with overrides, Hydra's runtime set up so ``${hydra:...}`` resolves."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: Hydra's own settings live in HydraConfig
        if run_dir is not None:
            cfg.run_dir = str(run_dir)
    return cfg


@pytest.fixture
def make_cfg(tmp_path):
    def _make(*overrides: str) -> DictConfig:
        return compose_cfg(list(overrides), run_dir=tmp_path / "run")

    return _make
