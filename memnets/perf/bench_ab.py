"""Two variants of a memory model in one process: ``python -m memnets.perf.bench_ab
[--shapes copy] --b KEY=VALUE [--b ...] [--set KEY=VALUE ...] [--repeats 9]``.

Variant A is the shape's model with the ``--set`` overrides, variant B the same plus the
``--b`` overrides, built with the same weights; their training steps and the ``nn.LSTM``
baseline's are interleaved, so a burst of outside load hits all three. Prints and returns the
CPU-time medians, each model's ratio to the LSTM and B / A. On a shared machine, where absolute
times move between runs, this is the comparison to trust for "is B faster than A".
"""

from __future__ import annotations

import argparse
import statistics

import torch
from omegaconf import OmegaConf

from memnets.perf.bench import SHAPES, build_pair, interleaved_step_times, make_batch


def build_variants(shape_name: str, a: dict, b: dict):
    """(model A, model B with B's weights copied from A, the LSTM baseline) for one shape."""
    shape = SHAPES[shape_name]
    torch.manual_seed(0)
    model_a, lstm = build_pair(shape, a)
    model_b, _ = build_pair(shape, {**a, **b})
    model_b.load_state_dict(model_a.state_dict())
    return model_a, model_b, lstm


def compare(shape_name: str, a: dict, b: dict, repeats: int = 9, warmup: int = 2) -> dict:
    """CPU-time medians (ms) of A, B and the LSTM over interleaved steps, and the ratios."""
    models = build_variants(shape_name, a, b)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-4) for m in models]
    batch = make_batch(SHAPES[shape_name], torch.device("cpu"))
    _, cpu = interleaved_step_times(models, opts, batch, repeats, warmup)
    med = {f"{k}_cpu_ms": statistics.median(v) for k, v in zip(("A", "B", "lstm"), cpu, strict=True)}
    return {"shape": shape_name, "a": a, "b": b, "repeats": repeats, **med,
            "A_ratio": med["A_cpu_ms"] / med["lstm_cpu_ms"],
            "B_ratio": med["B_cpu_ms"] / med["lstm_cpu_ms"],
            "B_over_A": med["B_cpu_ms"] / med["A_cpu_ms"]}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m memnets.perf.bench_ab", description=__doc__)
    p.add_argument("--shapes", default="copy", help=f"comma-separated, from {sorted(SHAPES)}")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="A and B")
    p.add_argument("--b", action="append", required=True, metavar="KEY=VALUE", help="B only")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    unknown = [s for s in args.shapes.split(",") if s not in SHAPES]
    if unknown:
        p.error(f"unknown shapes {unknown}; choose from {sorted(SHAPES)}")
    torch.set_num_threads(args.threads)
    a = OmegaConf.to_container(OmegaConf.from_dotlist(args.set))
    b = OmegaConf.to_container(OmegaConf.from_dotlist(args.b))
    rows = []
    for name in args.shapes.split(","):
        r = compare(name, a, b, args.repeats, args.warmup)
        rows.append(r)
        print(f"{name} A={a or 'defaults'} B=A+{b}: A {r['A_cpu_ms']:.1f} ms ({r['A_ratio']:.1f}x "
              f"LSTM), B {r['B_cpu_ms']:.1f} ms ({r['B_ratio']:.1f}x), LSTM "
              f"{r['lstm_cpu_ms']:.1f} ms, B/A {r['B_over_A']:.2f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
