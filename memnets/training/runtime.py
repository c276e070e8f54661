"""Run-level plumbing for ``run.py``: config resolvers, checkpoint lookup, trace pictures."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

import torch
from omegaconf import OmegaConf

from memnets.models.base import MemoryNetwork


def wandb_mode() -> str:
    """``WANDB_MODE`` if set; ``online`` when W&B credentials exist; otherwise ``offline``."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        auth = netrc.netrc().authenticators("api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        auth = None
    return "online" if auth else "offline"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("memnets_wandb_mode"):
        OmegaConf.register_new_resolver("memnets_wandb_mode", wandb_mode)


def resolve_ckpt_path(ckpt_path: str | None) -> str | None:
    """A ``.ckpt`` file as is; a run folder -> the newest of its ``checkpoints/{last,interrupted}.ckpt``."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path)
    if path.is_file():
        return str(path)
    if path.is_dir():
        candidates = [
            p for p in (path / "checkpoints" / "last.ckpt", path / "checkpoints" / "interrupted.ckpt",
                        path / "last.ckpt", path / "interrupted.ckpt") if p.is_file()
        ]
        if candidates:
            return str(max(candidates, key=lambda p: p.stat().st_mtime))
        raise FileNotFoundError(
            f"ckpt_path={ckpt_path}: no checkpoints/last.ckpt or checkpoints/interrupted.ckpt "
            "in that run folder; pass a .ckpt file instead"
        )
    raise FileNotFoundError(f"ckpt_path={ckpt_path} does not exist; pass a .ckpt file or a run folder")


@torch.no_grad()
def save_memory_trace(model: MemoryNetwork, datamodule, run_dir: Path) -> str | None:
    """Run one test batch with ``trace=True``; save ``trace.pt`` and, for models with an addressable
    memory, ``memory.png`` (write/read weights and usage over time). Returns the picture's name."""
    if not hasattr(datamodule, "test_dataloader"):
        return None
    batch = next(iter(datamodule.test_dataloader()[0]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = model(batch.to(device), trace=True)
    model.train(was_training)
    if not out.aux:
        return None
    aux = {k: v.detach().cpu() for k, v in out.aux.items()}
    torch.save({"aux": aux, "lengths": batch.lengths, "role": batch.role}, Path(run_dir) / "trace.pt")
    if "write_weights" not in aux:
        return None
    from memnets.training.memory_plot import plot_memory_trace

    path = plot_memory_trace(aux, Path(run_dir) / "memory.png", index=0,
                             length=int(batch.lengths[0]), title=type(model).__name__)
    return Path(path).name
