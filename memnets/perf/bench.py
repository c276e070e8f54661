"""Training-step speed and peak memory of the memory cores next to a plain ``nn.LSTM`` (issue 7).

    python -m memnets.perf.bench [--shapes copy,babi,babi400,ntm] [--repeats N] [--warmup N]
                            [--device cpu|cuda] [--threads N] [--set key=value ...]
                            [--label NAME] [--json FILE] [--markdown FILE [--before FILE]]
    python -m memnets.perf.bench --render bench.json --markdown bench.md --before bench_before.json

A *step* is one full training step on one batch: forward over the whole sequence, a BCE loss on
every step, backward, and an Adam update. The memory model (built from ``configs/model/<m>.yaml``
through its real class, with the shape's sizes and any ``--set`` overrides) and the LSTM baseline
(``configs/model/lstm.yaml``: ``nn.LSTM`` + linear read-out, same hidden size, input/output width,
batch and length) run in the SAME process, their repeats interleaved so that load from other
processes hits both alike. Each shape runs in a fresh subprocess (clean peaks, no cross-talk).

Reported per shape: the median ms per step over ``repeats`` timed steps after ``warmup`` untimed
ones, min/max and the interquartile range, the ratio ``ms_per_step / lstm_ms_per_step`` (and the
median of the per-repeat paired ratios, which is more robust to drifting load). The same
figures in process CPU time (``cpu_ms_per_step``, ``cpu_ratio``) are the fairer measure on a
shared machine, where wall time also counts the time other processes held the cores; with the
default ``--threads 1`` CPU time is the work done. Memory:

- ``peak_mem_mb`` (MiB): on CPU the rise of the process's peak resident set (Linux ``VmHWM``,
  reset through ``/proc/self/clear_refs``) during one training step over the resident set just
  before it (after ``malloc_trim`` has returned cached free heap to the OS); on CUDA
  ``torch.cuda.max_memory_allocated`` minus the allocated memory before the step. Either way:
  the transient memory of a step (activations kept for backward, gradients, temporaries) on top
  of the parameters, optimizer state and batch.
- ``saved_mb`` (MiB): the bytes of the distinct tensor storages autograd keeps for backward over
  one forward pass (``saved_tensors_hooks``); deterministic, independent of the allocator.
  Activation checkpointing (``--set checkpoint_every=k``) installs its own hooks, so there it
  counts only what is kept outside the checkpointed chunks: read ``peak_mem_mb`` instead.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tasks.batch import Batch, Role
from tasks.spec import TaskSpec

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "model"
MIB = 2**20


@dataclass(frozen=True)
class BenchShape:
    """One benchmark setting: a memory model's sizes and the LSTM baseline it is compared with."""

    name: str
    model: str  # config name under configs/model: "dnc" | "ntm"
    input_size: int  # D, features per step
    output_size: int  # D_out, bits per step
    hidden_size: int  # controller units = the LSTM baseline's hidden size
    batch_size: int  # B
    steps: int  # T
    model_kwargs: dict = field(default_factory=dict)  # memory sizes etc., on top of the config
    target_ratio: float | None = None  # issue 7 target for ms_per_step / lstm_ms_per_step
    target_peak_mem_mb: float | None = None  # issue 7 target for peak_mem_mb (MiB)


_BABI = dict(memory_size=256, word_size=64, num_reads=4, hidden_size=256)
_GRAPH = dict(memory_size=256, word_size=50, num_reads=5, hidden_size=256, num_layers=3)
SHAPES: dict[str, BenchShape] = {
    s.name: s
    for s in (
        BenchShape("copy", "dnc", 9, 8, 64, 16, 42,
                   dict(memory_size=16, word_size=16, num_reads=1, hidden_size=64),
                   target_ratio=10.0),
        BenchShape("babi", "dnc", 160, 160, 256, 32, 100, _BABI, target_ratio=8.0),
        BenchShape("babi400", "dnc", 160, 160, 256, 32, 400, _BABI,
                   target_peak_mem_mb=4096.0),
        BenchShape("ntm", "ntm", 9, 8, 100, 16, 42,
                   dict(memory_size=128, word_size=20, controller_size=100), target_ratio=15.0),
        # Graph traversal with the paper's sizes (Graves et al. 2016, ED Table 2: 3 x 256 LSTM,
        # 256 x 50 memory, 5 reads, batch 2) at the first and the last lesson's longest episode
        # (configs/task/graph_traversal.yaml: 10 nodes x 4 edges + 1 + 1 + 1 end marker; 40 x 6
        # + 20 query + 20 answer + 1); 92 inputs, 90 outputs (timed as bits: same widths).
        BenchShape("graph_traversal_l1", "dnc", 92, 90, 256, 2, 43, _GRAPH),
        BenchShape("graph_traversal", "dnc", 92, 90, 256, 2, 281, _GRAPH,
                   target_peak_mem_mb=4096.0),
        # A seconds-long shape for tests and smoke runs: awkward distinct sizes.
        BenchShape("tiny", "dnc", 5, 3, 8, 3, 6,
                   dict(memory_size=7, word_size=5, num_reads=2, hidden_size=8)),
    )
}
DEFAULT_SHAPES = ("copy", "babi", "babi400", "ntm")


def bench_spec(shape: BenchShape) -> TaskSpec:
    """Feature inputs and bit targets of the shape's widths (enough for timing)."""
    return TaskSpec("features", shape.input_size, "bits", shape.output_size, vocab_size=0,
                    num_classes=0, granularity="step", group_names=("bench",))


def build_model(name: str, spec: TaskSpec, **overrides) -> torch.nn.Module:
    """``configs/model/<name>.yaml`` with ``overrides``, instantiated as ``run.py`` does."""
    cfg = OmegaConf.merge(OmegaConf.load(CONFIGS / f"{name}.yaml"), overrides)
    return instantiate(cfg, _partial_=True)(spec=spec)  # as run.py: spec stays a TaskSpec


def build_pair(shape: BenchShape, overrides: dict | None = None):
    """The shape's memory model and its LSTM baseline (same hidden size, widths)."""
    spec = bench_spec(shape)
    model = build_model(shape.model, spec, **{**shape.model_kwargs, **(overrides or {})})
    lstm = build_model("lstm", spec, hidden_size=shape.hidden_size, num_layers=1, fused=True)
    return model, lstm


def make_batch(shape: BenchShape, device: torch.device, seed: int = 0) -> Batch:
    """Random inputs (one-hot rows when the width is bAbI-like, else bits) and bit targets."""
    g = torch.Generator().manual_seed(seed)
    B, T, D = shape.batch_size, shape.steps, shape.input_size
    if D > 32:  # a one-hot word per step, as the DNC reads bAbI
        inputs = F.one_hot(torch.randint(D, (B, T), generator=g), D).float()
    else:
        inputs = torch.randint(0, 2, (B, T, D), generator=g).float()
    target = torch.randint(0, 2, (B, T, shape.output_size), generator=g).float()
    batch = Batch(inputs, torch.full((B, T), int(Role.INPUT)), target,
                  torch.ones(B, T, dtype=torch.bool), torch.full((B,), T), torch.zeros(B).long())
    return batch.to(device)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> float:
    """Forward over the sequence, BCE loss on every step, backward, optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    logits = model(batch).logits  # (B, T, D_out)
    loss = F.binary_cross_entropy_with_logits(logits, batch.target)
    loss.backward()
    optimizer.step()
    return loss.item()  # synchronises a CUDA device


def interleaved_step_times(models, optimizers, batch: Batch, repeats: int, warmup: int
                           ) -> tuple[list[list[float]], list[list[float]]]:
    """Training steps of several models taken in turn (so a burst of outside load hits all of
    them), after ``warmup`` untimed rounds -> per model, wall ms and process-CPU ms per step."""
    for _ in range(warmup):
        for m, opt in zip(models, optimizers, strict=True):
            train_step(m, opt, batch)
    wall: list[list[float]] = [[] for _ in models]
    cpu: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for m, opt, ms, cms in zip(models, optimizers, wall, cpu, strict=True):
            t0, c0 = time.perf_counter(), time.process_time()
            train_step(m, opt, batch)
            ms.append((time.perf_counter() - t0) * 1e3)
            cms.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def saved_tensor_mib(model: torch.nn.Module, batch: Batch) -> float:
    """MiB of distinct storages autograd saves for backward in one forward pass (the backward
    runs outside the hook, so what a recomputing backward saves for a moment is not counted)."""
    storages: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[(s.data_ptr(), t.device.index or 0)] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(batch).logits.sum()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values()) / MIB


def _proc_status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def peak_step_mib(model, optimizer, batch: Batch, device: torch.device) -> tuple[float, str]:
    """Peak extra memory of one training step (MiB) and how it was measured."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        train_step(model, optimizer, batch)
        return (torch.cuda.max_memory_allocated(device) - before) / MIB, "cuda_max_allocated"
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _proc_status_kib("VmRSS")
    train_step(model, optimizer, batch)
    return (_proc_status_kib("VmHWM") - before) / 1024, "cpu_vmhwm_delta"


def _spread(ms: list[float], prefix: str) -> dict[str, float]:
    q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 else ms * 3
    return {f"{prefix}ms_per_step": statistics.median(ms), f"{prefix}ms_min": min(ms),
            f"{prefix}ms_max": max(ms), f"{prefix}ms_q1": q1, f"{prefix}ms_q3": q3}


def summarise(shape: BenchShape, model_ms: list[float], lstm_ms: list[float]) -> dict:
    """Medians, spreads and ratios of paired timings (the arithmetic the tests check)."""
    row = {**_spread(model_ms, ""), **_spread(lstm_ms, "lstm_")}
    row["ratio"] = row["ms_per_step"] / row["lstm_ms_per_step"]
    row["ratio_paired_median"] = statistics.median(m / b for m, b in zip(model_ms, lstm_ms,
                                                                          strict=True))
    row["target_ratio"] = shape.target_ratio
    row["meets_ratio_target"] = None if shape.target_ratio is None else (
        row["ratio"] <= shape.target_ratio)
    return row


def run_shape(shape: BenchShape, *, repeats: int = 5, warmup: int = 1, device: str = "cpu",
              overrides: dict | None = None, label: str = "default", seed: int = 0) -> dict:
    """Time and measure one shape in this process; returns one JSON row."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    model, lstm = (m.to(dev) for m in build_pair(shape, overrides))
    batch = make_batch(shape, dev, seed)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-4) for m in (model, lstm)]
    load_before = os.getloadavg()[0]
    times, cpu_times = interleaved_step_times((model, lstm), opts, batch, repeats, warmup)
    load_after = os.getloadavg()[0]
    lstm_peak, method = peak_step_mib(lstm, opts[1], batch, dev)
    peak, _ = peak_step_mib(model, opts[0], batch, dev)
    row = {
        "shape": shape.name, "model": shape.model, "label": label,
        "overrides": dict(overrides or {}), "batch_size": shape.batch_size, "steps": shape.steps,
        "input_size": shape.input_size, "output_size": shape.output_size,
        "hidden_size": shape.hidden_size, "model_kwargs": dict(shape.model_kwargs),
        "n_params": sum(p.numel() for p in model.parameters()),
        "lstm_n_params": sum(p.numel() for p in lstm.parameters()),
        "repeats": repeats, "warmup": warmup,
        **summarise(shape, times[0], times[1]),
        **{f"cpu_{k}": v for k, v in summarise(shape, cpu_times[0], cpu_times[1]).items()
           if "ms_per_step" in k or k == "ratio"},
        "model_ms_all": times[0], "lstm_ms_all": times[1],
        "model_cpu_ms_all": cpu_times[0], "lstm_cpu_ms_all": cpu_times[1],
        "peak_mem_mb": peak, "lstm_peak_mem_mb": lstm_peak, "mem_method": method,
        "saved_mb": saved_tensor_mib(model, batch), "lstm_saved_mb": saved_tensor_mib(lstm, batch),
        "target_peak_mem_mb": shape.target_peak_mem_mb,
    }
    row["meets_mem_target"] = None if shape.target_peak_mem_mb is None else (
        peak <= shape.target_peak_mem_mb)
    row.update(environment(dev, load_before, load_after))
    return row


def environment(dev: torch.device, load_before: float, load_after: float) -> dict:
    """Where the numbers came from; the 1-min load average tells how shared the CPU was."""
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
    return {"device": dev.type, "device_name": name or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "loadavg_before": load_before, "loadavg_after": load_after,
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_in_subprocess(name: str, args: argparse.Namespace) -> dict:
    """One shape in a fresh interpreter: clean peaks, no allocator state from other shapes."""
    cmd = [sys.executable, "-m", "memnets.perf.bench", "--worker", name, "--repeats",
           str(args.repeats), "--warmup", str(args.warmup), "--device", args.device,
           "--label", args.label, "--mem-limit-gb", str(args.mem_limit_gb),
           "--threads", str(args.threads), *(x for kv in args.set for x in ("--set", kv))]
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])})
    if out.returncode:  # e.g. out of memory under --mem-limit-gb: a result too, keep going
        shape = SHAPES[name]
        last = (out.stderr.strip().splitlines() or ["no stderr"])[-1]
        print(out.stderr[-3000:], file=sys.stderr)
        return {"shape": name, "model": shape.model, "label": args.label,
                "error": last[-300:], "mem_limit_gb": args.mem_limit_gb,
                "target_ratio": shape.target_ratio,
                "target_peak_mem_mb": shape.target_peak_mem_mb,
                **environment(torch.device(args.device), os.getloadavg()[0], os.getloadavg()[0])}
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="memnets.perf.bench: ms per training step (median \\[min-max]) and peak MiB")
    for col in ("shape", "model", "label", "ms/step", "LSTM ms/step", "ratio", "target",
                "cpu ratio", "peak MiB", "saved MiB", "mem target", "load"):
        table.add_column(col, justify="left" if col in ("shape", "model", "label") else "right")
    for r in rows:
        ok = {True: " ok", False: " MISS", None: ""}
        if "error" in r:
            table.add_row(r["shape"], r["model"], r["label"], f"FAILED: {r['error'][:60]}")
            continue
        table.add_row(
            r["shape"], r["model"], r["label"],
            f"{r['ms_per_step']:.1f} \\[{r['ms_min']:.1f}-{r['ms_max']:.1f}]",
            f"{r['lstm_ms_per_step']:.1f} \\[{r['lstm_ms_min']:.1f}-{r['lstm_ms_max']:.1f}]",
            f"{r['ratio']:.1f}x", (f"<={r['target_ratio']:g}x" if r["target_ratio"] else "")
            + ok[r["meets_ratio_target"]], f"{r['cpu_ratio']:.1f}x",
            f"{r['peak_mem_mb']:.0f}", f"{r['saved_mb']:.0f}",
            (f"<={r['target_peak_mem_mb']:g}" if r["target_peak_mem_mb"] else "")
            + ok[r["meets_mem_target"]],
            f"{r['loadavg_before']:.1f}",
        )
    Console(width=max(160, Console().width)).print(table)


def markdown_table(rows: list[dict], before: list[dict] | None = None) -> str:
    """A Markdown table of rows; with ``before`` rows (same shape and model), the earlier
    CPU-time ratio and the CPU-time speed-up of the memory model next to each row."""
    old = {(r["shape"], r["model"]): r for r in before or [] if "error" not in r}
    head = ["shape", "model", "label", "ms/step (median [min-max])", "LSTM ms/step", "ratio",
            "CPU ratio", "ratio target", "peak MiB", "saved MiB", "MiB target"]
    if before is not None:
        head += ["CPU ratio before", "CPU speed-up"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | {r['model']} | {r['label']} | failed: {r['error']} |"
                         + " |" * (len(head) - 4))
            continue
        cells = [r["shape"], r["model"], r["label"],
                 f"{r['ms_per_step']:.0f} [{r['ms_min']:.0f}-{r['ms_max']:.0f}]",
                 f"{r['lstm_ms_per_step']:.1f}", f"{r['ratio']:.1f}x", f"{r['cpu_ratio']:.1f}x",
                 f"<= {r['target_ratio']:g}x" if r["target_ratio"] else "",
                 f"{r['peak_mem_mb']:.0f}", f"{r['saved_mb']:.0f}",
                 f"<= {r['target_peak_mem_mb']:g}" if r["target_peak_mem_mb"] else ""]
        if before is not None:
            b = old.get((r["shape"], r["model"]))
            cells += ([f"{b['cpu_ratio']:.1f}x",
                       f"{b['cpu_ms_per_step'] / r['cpu_ms_per_step']:.2f}x"] if b else ["", ""])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m memnets.perf.bench", description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                   help=f"comma-separated, from {sorted(SHAPES)}")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per model (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: reproducible on a shared CPU; "
                        "0 = torch's default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a memory-model config key (repeatable), e.g. allocation=softmax")
    p.add_argument("--mem-limit-gb", type=float, default=16.0,
                   help="address-space limit of each shape's subprocess (0 = none)")
    p.add_argument("--label", default="default", help="name of this variant in the rows")
    p.add_argument("--json", type=Path, help="write the rows here")
    p.add_argument("--markdown", type=Path, help="also write a Markdown table here")
    p.add_argument("--before", type=Path, help="earlier JSON rows to compare with (Markdown)")
    p.add_argument("--render", type=Path, help="render this JSON (table/Markdown); run nothing")
    p.add_argument("--in-process", action="store_true", help="no subprocess per shape")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = [s for s in args.shapes.split(",") if s not in SHAPES]
    if unknown and not args.worker:
        p.error(f"unknown shapes {unknown}; choose from {sorted(SHAPES)}")
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = OmegaConf.to_container(OmegaConf.from_dotlist(args.set))
    if args.worker:  # child process: one row of JSON on stdout
        if args.mem_limit_gb and not args.device.startswith("cuda"):
            # fail with an allocation error rather than wake the OOM killer (CPU only: CUDA
            # reserves far more address space than it uses, so the limit would stop it starting)
            limit = int(args.mem_limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        row = run_shape(SHAPES[args.worker], repeats=args.repeats, warmup=args.warmup,
                        device=args.device, overrides=overrides, label=args.label)
        print(json.dumps(row))
        return [row]
    rows = [] if args.render is None else json.loads(args.render.read_text())
    for name in args.shapes.split(",") if args.render is None else ():
        if args.in_process:
            rows.append(run_shape(SHAPES[name], repeats=args.repeats, warmup=args.warmup,
                                  device=args.device, overrides=overrides, label=args.label))
        else:
            rows.append(run_in_subprocess(name, args))
        r = rows[-1]
        print(f"{name}: " + (r["error"] if "error" in r else
                             f"{r['ms_per_step']:.1f} ms/step, ratio {r['ratio']:.2f}"),
              file=sys.stderr)
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.markdown:
        before = json.loads(args.before.read_text()) if args.before else None
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(rows, before))
    return rows


if __name__ == "__main__":
    main()
