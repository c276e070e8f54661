"""Memory picture of one episode: write weights, read weights and usage as slots × time heat
maps (the "memory visualization of the copy task" of the DNC lecture notes; Graves et al. 2016,
ED Fig 1 draws the same quantities)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

# (aux key, panel title prefix); each is (B, T, N) or (B, T, H, N) with one panel per head.
PANELS = (("write_weights", "write weights"), ("read_weights", "read weights"),
          ("usage", "usage"))


def _heads(trace: Tensor) -> Tensor:
    """(T, N) or (T, H, N) -> (H, N, T): one slots × time map per head."""
    if trace.dim() == 2:
        trace = trace.unsqueeze(1)
    return trace.permute(1, 2, 0)


def plot_memory_trace(
    aux: dict[str, Tensor],
    path: str | Path,
    *,
    index: int = 0,
    length: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw episode ``index`` of a ``model(batch, trace=True).aux`` record and save it at ``path``.

    ``aux`` holds per-step traces ``(B, T, ...)``; the keys used are those in :data:`PANELS`
    that are present (``write_weights`` (B, T, Hw, N), ``read_weights`` (B, T, R, N),
    ``usage`` (B, T, N)). ``length`` cuts the episode's padding (its valid steps).
    Returns the path written.
    """
    maps: list[tuple[str, Tensor]] = []
    for key, label in PANELS:
        if key not in aux:
            continue
        trace = aux[key][index].detach().float().cpu()
        if length is not None:
            trace = trace[:length]
        heads = _heads(trace)  # (H, N, T)
        for h in range(heads.shape[0]):
            maps.append((label if heads.shape[0] == 1 else f"{label} (head {h + 1})", heads[h]))
    if not maps:
        raise ValueError(f"no memory traces to draw: aux has {sorted(aux)}, expected any of "
                         f"{[key for key, _ in PANELS]}")
    n_slots, n_steps = maps[0][1].shape
    width = min(16.0, 3.0 + 0.25 * n_steps)
    height = 0.6 + len(maps) * min(3.5, max(1.2, 0.06 * n_slots))
    fig, axes = plt.subplots(len(maps), 1, figsize=(width, height), sharex=True, squeeze=False)
    for ax, (label, image) in zip(axes[:, 0], maps, strict=True):
        im = ax.imshow(image.numpy(), aspect="auto", origin="lower", cmap="viridis",
                       vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_ylabel("slot")
        ax.set_title(label, fontsize=9, loc="left")
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    axes[-1, 0].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
