"""memnets.perf.bench: the shapes issue 7 asks for, the JSON schema, and the ratio arithmetic.

No timing assertions: timings only have to exist and be positive; every number checked here is
either set by the code (sizes, schema) or computed from given timings (medians, ratios).
"""

from __future__ import annotations

import json
import math

import pytest
from torch import nn

from memnets.perf import bench
from memnets.perf.bench import SHAPES, BenchShape, build_pair, make_batch, run_shape, summarise

TINY = SHAPES["tiny"]


def test_summarise_medians_spread_and_ratios():
    shape = BenchShape("t", "dnc", 1, 1, 1, 1, 1, target_ratio=6.0)
    row = summarise(shape, model_ms=[10.0, 30.0, 20.0], lstm_ms=[2.0, 3.0, 10.0])
    assert row["ms_per_step"] == 20.0 and row["lstm_ms_per_step"] == 3.0
    assert (row["ms_min"], row["ms_max"], row["ms_q1"], row["ms_q3"]) == (10.0, 30.0, 15.0, 25.0)
    assert (row["lstm_ms_q1"], row["lstm_ms_q3"]) == (2.5, 6.5)
    assert row["ratio"] == pytest.approx(20.0 / 3.0)  # ratio of medians
    assert row["ratio_paired_median"] == pytest.approx(5.0)  # median of 10/2, 30/3, 20/10
    assert row["meets_ratio_target"] is False  # 6.67 > 6
    assert summarise(SHAPES["tiny"], [1.0], [1.0])["meets_ratio_target"] is None


@pytest.mark.parametrize(
    "name, sizes",
    [
        ("copy", dict(inp=9, out=8, hidden=64, B=16, T=42, N=16, W=16, R=1)),
        ("babi", dict(inp=160, out=160, hidden=256, B=32, T=100, N=256, W=64, R=4)),
        ("babi400", dict(inp=160, out=160, hidden=256, B=32, T=400, N=256, W=64, R=4)),
        ("ntm", dict(inp=9, out=8, hidden=100, B=16, T=42, N=128, W=20, R=1)),
    ],
)
def test_issue_shapes_build_the_real_models(name, sizes):
    shape = SHAPES[name]
    model, lstm = build_pair(shape)
    assert (shape.input_size, shape.output_size) == (sizes["inp"], sizes["out"])
    assert (shape.batch_size, shape.steps) == (sizes["B"], sizes["T"])
    assert type(model).__name__ == shape.model.upper()
    if shape.model == "dnc":
        assert (model.access.memory_size, model.access.word_size) == (sizes["N"], sizes["W"])
        assert model.num_reads == sizes["R"]
        assert model.controller.hidden_size == sizes["hidden"]
    else:
        assert (model.memory_size, model.word_size) == (sizes["N"], sizes["W"])
        assert model.num_read_heads == sizes["R"]
        assert model.controller_size == sizes["hidden"]
    assert isinstance(lstm.lstm, nn.LSTM) and lstm.fused
    assert (lstm.lstm.input_size, lstm.lstm.hidden_size) == (sizes["inp"], sizes["hidden"])
    assert lstm.readout.out_features == model.output_size == sizes["out"]


def test_overrides_reach_the_model_config():
    model, _ = build_pair(TINY, {"allocation": "softmax", "num_reads": 3})
    assert model.access.allocation == "softmax" and model.num_reads == 3


def test_sparse_link_override_keeps_less_for_backward():
    """``--set sparse_link_k=8`` reaches the DNC, and at N=64 (K ≪ N) autograd keeps less than
    with the dense (B, 1, N, N) link of every step."""
    import torch

    shape = BenchShape("n64", "dnc", 5, 3, 8, 3, 6, dict(memory_size=64, word_size=5,
                                                          num_reads=2, hidden_size=8))
    saved = {}
    for k in (None, 8):
        torch.manual_seed(0)
        model, _ = build_pair(shape, {"sparse_link_k": k})
        assert model.access.sparse_link_k == k
        saved[k] = bench.saved_tensor_mib(model, make_batch(shape, torch.device("cpu")))
    assert saved[8] < 0.7 * saved[None]


def test_batch_matches_the_shape():
    import torch

    batch = make_batch(SHAPES["babi"], torch.device("cpu"))
    assert batch.inputs.shape == (32, 100, 160) and batch.target.shape == (32, 100, 160)
    assert (batch.inputs.sum(-1) == 1).all()  # one-hot words, as the DNC reads bAbI


def test_saved_tensor_memory_is_deterministic_and_grows_with_length():
    import torch

    long = BenchShape("tiny2", "dnc", 5, 3, 8, 3, 2 * TINY.steps, TINY.model_kwargs)
    sizes = []
    for shape in (TINY, TINY, long):
        torch.manual_seed(0)
        model, _ = build_pair(shape)
        sizes.append(bench.saved_tensor_mib(model, make_batch(shape, torch.device("cpu"))))
    assert sizes[0] == sizes[1] > 0
    assert 1.5 < sizes[2] / sizes[0] < 2.5  # one step's activations per time step


REQUIRED = {
    "shape": str, "model": str, "label": str, "ms_per_step": float, "lstm_ms_per_step": float,
    "ratio": float, "ratio_paired_median": float, "ms_min": float, "ms_max": float,
    "ms_q1": float, "ms_q3": float, "cpu_ms_per_step": float, "cpu_lstm_ms_per_step": float,
    "cpu_ratio": float, "peak_mem_mb": float, "lstm_peak_mem_mb": float, "saved_mb": float,
    "repeats": int, "warmup": int, "device": str, "torch": str, "threads": int,
    "mem_method": str, "n_params": int, "batch_size": int, "steps": int,
}


def check_row(row: dict, repeats: int) -> None:
    for key, kind in REQUIRED.items():
        assert isinstance(row[key], kind), (key, row[key])
    assert row["repeats"] == repeats and len(row["model_ms_all"]) == repeats
    assert row["ms_min"] <= row["ms_per_step"] <= row["ms_max"]
    assert row["ratio"] == pytest.approx(row["ms_per_step"] / row["lstm_ms_per_step"])
    assert row["cpu_ratio"] == pytest.approx(
        row["cpu_ms_per_step"] / row["cpu_lstm_ms_per_step"])
    assert all(math.isfinite(v) and v > 0 for v in row["model_ms_all"] + row["lstm_ms_all"])
    assert row["saved_mb"] > 0 and row["lstm_saved_mb"] > 0 and row["peak_mem_mb"] >= 0
    json.dumps(row)  # serialisable as it stands


def test_run_shape_row_schema():
    row = run_shape(TINY, repeats=3, warmup=0, label="x", overrides={"allocation": "softmax"})
    check_row(row, repeats=3)
    assert (row["shape"], row["model"], row["label"]) == ("tiny", "dnc", "x")
    assert row["overrides"] == {"allocation": "softmax"} and row["device"] == "cpu"


@pytest.mark.slow  # two fresh interpreters: ~5 s idle, ~40 s on the shared 2-core box
def test_cli_subprocess_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    rows = bench.main(["--shapes", "tiny", "--repeats", "2", "--warmup", "0", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved == rows and len(saved) == 1
    check_row(saved[0], repeats=2)
    assert saved[0]["threads"] == 1  # the default, passed on to the subprocess


@pytest.mark.slow  # a fresh interpreter
def test_failed_shape_becomes_an_error_row(tmp_path):
    # 0.2 GiB of address space cannot even import torch: the worker fails, the run goes on.
    rows = bench.main(["--shapes", "tiny", "--repeats", "1", "--mem-limit-gb", "0.2",
                       "--json", str(tmp_path / "b.json")])
    assert rows[0]["shape"] == "tiny" and rows[0]["error"]
    assert "ms_per_step" not in rows[0]


def test_unknown_shape_is_refused():
    with pytest.raises(SystemExit):
        bench.parse_args(["--shapes", "copy,nope"])


def test_markdown_table_compares_with_before():
    shape = BenchShape("s", "dnc", 1, 1, 1, 1, 1, target_ratio=10.0)
    row = {"shape": "s", "model": "dnc", "label": "fast", **summarise(shape, [30.0], [3.0]),
           "cpu_ms_per_step": 20.0, "cpu_ratio": 8.0, "peak_mem_mb": 5.0, "saved_mb": 4.0,
           "target_peak_mem_mb": None}
    before = [{**row, "label": "default", "cpu_ms_per_step": 50.0, "cpu_ratio": 20.0}]
    failed = {"shape": "t", "model": "dnc", "label": "fast", "error": "out of memory"}
    lines = bench.markdown_table([row, failed], before).splitlines()
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[:7] == ["s", "dnc", "fast", "30 [30-30]", "3.0", "10.0x", "8.0x"]
    assert cells[-2:] == ["20.0x", "2.50x"]  # CPU ratio before, CPU speed-up 50/20
    assert "out of memory" in lines[3]
    assert len({line.count("|") for line in lines}) == 1  # every row has every column


def test_profile_step_counts_operators_and_the_one_node_access_issues_fewer(capsys):
    """memnets.perf.profile_step on the tiny shape: a summary line per model, and operator counts
    (deterministic, not timings) that show the one-node access doing fewer calls per step."""
    import torch

    from memnets.perf import profile_step

    profile_step.main(["--shapes", "tiny", "--top", "3"])
    out = capsys.readouterr().out
    assert "== tiny dnc" in out and "== tiny lstm" in out and "ops_per_seq_step" in out
    counts = {}
    for one_node in (True, False):
        model, _ = build_pair(TINY, {"one_node_access": one_node})
        summary, _ = profile_step.profile_step(model, make_batch(TINY, torch.device("cpu")),
                                               torch.device("cpu"))
        counts[one_node] = summary["ops_per_seq_step"]
    assert 0 < counts[True] < counts[False]


def test_bench_ab_builds_equal_weights_and_reports_medians(capsys):
    """memnets.perf.bench_ab: B differs from A only by its overrides (same weights), and the
    reported ratios are the medians' quotients (no timing asserted)."""
    import torch

    from memnets.perf import bench_ab

    model_a, model_b, _ = bench_ab.build_variants("tiny", {}, {"one_node_access": False})
    assert model_a.one_node_access and not model_b.one_node_access
    for (name, pa), pb in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name

    rows = bench_ab.main(["--shapes", "tiny", "--b", "one_node_access=false", "--repeats", "3",
                          "--warmup", "1"])
    (r,) = rows
    assert r["b"] == {"one_node_access": False} and r["a"] == {}
    assert r["A_ratio"] == pytest.approx(r["A_cpu_ms"] / r["lstm_cpu_ms"])
    assert r["B_over_A"] == pytest.approx(r["B_cpu_ms"] / r["A_cpu_ms"])
    assert "B/A" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_ab.main(["--shapes", "nope", "--b", "x=1"])
