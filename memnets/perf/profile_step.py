"""Where a benchmark step's time goes: ``python -m memnets.perf.profile_step [--shapes copy,babi]
[--device cpu|cuda] [--set key=value ...] [--top 12]``.

For each shape of :mod:`memnets.perf.bench`, one profiled training step (after two untimed ones) of
the memory model and of its ``nn.LSTM`` baseline: wall time, operator calls per sequence step
and, on CUDA, the device's busy time and kernel launches per sequence step (busy ≪ wall means
launch- or host-bound), then the model's top operators. The numbers for the "what limits the
gap" notes in ``reports/generated/bench.md`` come from here.
"""

from __future__ import annotations

import argparse
import time

import torch
from omegaconf import OmegaConf
from torch.profiler import ProfilerActivity, profile

from memnets.perf.bench import SHAPES, build_pair, make_batch, train_step


def profile_step(model: torch.nn.Module, batch, device: torch.device):
    """One training step of ``model`` under the profiler -> (summary dict, profiler)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for _ in range(2):
        train_step(model, opt, batch)
    cuda = device.type == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        train_step(model, opt, batch)
        wall_ms = (time.perf_counter() - t0) * 1e3
    events = prof.key_averages()
    T = batch.inputs.shape[1]
    summary = {"wall_ms": wall_ms,
               "ops_per_seq_step": sum(e.count for e in events if e.key.startswith("aten::")) / T}
    if cuda:
        summary["device_busy_ms"] = sum(e.self_device_time_total for e in events) / 1e3
        summary["kernels_per_seq_step"] = sum(
            e.count for e in events if e.self_device_time_total > 0) / T
    return summary, prof


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m memnets.perf.profile_step", description=__doc__)
    p.add_argument("--shapes", default="copy,babi", help=f"comma-separated, from {sorted(SHAPES)}")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model override, as for memnets.perf.bench")
    p.add_argument("--top", type=int, default=12, help="operators listed per model")
    args = p.parse_args(argv)
    unknown = [s for s in args.shapes.split(",") if s not in SHAPES]
    if unknown:
        p.error(f"unknown shapes {unknown}; choose from {sorted(SHAPES)}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    overrides = OmegaConf.to_container(OmegaConf.from_dotlist(args.set))
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    for name in args.shapes.split(","):
        shape = SHAPES[name]
        torch.manual_seed(0)
        model, lstm = (m.to(device) for m in build_pair(shape, overrides))
        batch = make_batch(shape, device)
        for label, m in ((shape.model, model), ("lstm", lstm)):
            summary, prof = profile_step(m, batch, device)
            print(f"== {name} {label} {overrides or ''}: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in summary.items()), flush=True)
            if m is model and args.top:
                print(prof.key_averages().table(sort_by=sort_by, row_limit=args.top,
                                                max_name_column_width=50))


if __name__ == "__main__":
    main()
