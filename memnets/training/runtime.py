"""Run-level plumbing for ``run.py``: config resolvers, input errors, trace pictures."""

from __future__ import annotations

import inspect
import netrc
import os
import secrets
from datetime import datetime
from pathlib import Path

import torch
from omegaconf import OmegaConf

from memnets.models.base import MemoryNetwork


class RunError(RuntimeError):
    """A problem with the run's inputs (config, checkpoint, folder); the message says what to
    change. ``run.py`` prints it on one line and exits with code 2."""


def one_line(err: BaseException) -> str:
    """``ValueError: the message`` on one line (for logs and ``results.json``)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


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


def run_stamp() -> str:
    """``2026-11-26_16-45-03.123_a3f9``: local time to the millisecond and 4 random hex digits,
    so two runs started in the same second get different folders."""
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S.%f")[:-3] + "_" + secrets.token_hex(2)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("memnets_wandb_mode"):
        OmegaConf.register_new_resolver("memnets_wandb_mode", wandb_mode)
    if not OmegaConf.has_resolver("memnets_stamp"):  # cached: one value per config, as ${now:}
        OmegaConf.register_new_resolver("memnets_stamp", run_stamp, use_cache=True)


_NUMERIC = {"int": (int,), "float": (int, float), "bool": (bool,)}


def check_setting_types(cls: type, settings: dict, group: str) -> None:
    """Raise :class:`RunError` for a setting whose value does not fit the type ``cls.__init__``
    declares for it (``int``, ``float``, ``bool``, each optionally ``| None``), e.g.
    ``model.memory_size=abc``, before the constructor fails somewhere deep."""
    params = inspect.signature(cls.__init__).parameters
    for key, value in settings.items():
        if key not in params or params[key].annotation is inspect.Parameter.empty:
            continue
        annotation = params[key].annotation
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        names = {part.strip() for part in text.split("|")}
        base = next((n for n in names if n in _NUMERIC), None)
        if base is None or len(names - {base, "None"}) or (value is None and "None" in names):
            continue
        ok = isinstance(value, _NUMERIC[base]) and (base == "bool" or not isinstance(value, bool))
        if not ok:
            default = params[key].default
            hint = "" if default is inspect.Parameter.empty else f" (default {default!r})"
            raise RunError(f"{group}.{key}={value!r}: {cls.__name__} takes {text} here{hint}")


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
