"""A W&B sweep file as a list of runs: parameter dicts and their Hydra overrides.

The sweep files are W&B sweep configurations (https://docs.wandb.ai/guides/sweeps/sweep-config-keys):
``program``, ``method`` (grid | random | bayes), ``metric``, ``parameters`` and ``command``. Each
parameter name is a Hydra override key (``model.distance``, ``task.tasks``, ``seed``) or a config
group (``model``, ``task``, ``experiment``), so a run is ``python run.py key=value ...``.

Here the grid is expanded in file order (the first parameter varies slowest) and random sweeps are
drawn from a seeded generator, so a local run list is reproducible. ``bayes`` needs W&B's server;
locally it is sampled like ``random`` (the caller says so).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

METHODS = ("grid", "random", "bayes")
COMMAND = ["${env}", "python", "${program}", "${args_no_hyphens}"]
# Keys a parameter spec may hold, by kind (W&B's sweep-config reference).
DISCRETE_KEYS = {"value", "values", "probabilities"}
RANDOM_DISTRIBUTIONS = ("constant", "categorical", "uniform", "int_uniform", "q_uniform",
                        "log_uniform_values", "q_log_uniform_values", "normal")


class SweepError(ValueError):
    """A sweep file that cannot be expanded; the message says which key is wrong."""


@dataclass(frozen=True)
class Sweep:
    """One parsed sweep file. ``name`` is the file stem (``copy_dnc_distance``)."""

    name: str
    path: Path
    method: str
    parameters: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    @property
    def run_cap(self) -> int | None:
        return self.raw.get("run_cap")


def load_sweep(path: str | Path) -> Sweep:
    """Read and check the shape of a sweep YAML (not its keys against the configs: see validate)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SweepError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: a sweep file is a mapping, got {type(raw).__name__}")
    method = raw.get("method")
    if method not in METHODS:
        raise SweepError(f"{path}: method must be one of {METHODS}, got {method!r}")
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepError(f"{path}: 'parameters' must be a non-empty mapping")
    for key, spec in params.items():
        if not isinstance(spec, dict):
            raise SweepError(f"{path}: parameter {key!r} must be a mapping (value:/values:/...)")
        if "parameters" in spec:
            raise SweepError(f"{path}: nested parameter {key!r}: write dotted Hydra keys instead")
    return Sweep(name=path.stem, path=path, method=method, parameters=params, raw=raw)


def render_value(value: Any) -> str:
    """A Python value as a Hydra override value: ``true``, ``null``, ``[1,2]``, ``cosine``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{render_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)


def render_wandb(key: str, value: Any) -> str:
    """The override exactly as ``wandb agent`` writes ``${args_no_hyphens}`` (``f"{k}={v}"``)."""
    return f"{key}={value}"


def to_overrides(params: dict[str, Any]) -> list[str]:
    """``{"task.tasks": [1], "seed": 0}`` -> ``["task.tasks=[1]", "seed=0"]``."""
    return [f"{key}={render_value(value)}" for key, value in params.items()]


def discrete_values(key: str, spec: dict[str, Any]) -> list[Any]:
    """The values a grid takes for one parameter (``value`` or ``values``)."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise SweepError(f"parameter {key!r}: 'values' must be a non-empty list")
        return list(values)
    raise SweepError(f"parameter {key!r}: a grid needs 'value' or 'values', got {sorted(spec)}")


def expand_grid(sweep: Sweep) -> list[dict[str, Any]]:
    """Every combination, the first parameter varying slowest."""
    keys = list(sweep.parameters)
    axes = [discrete_values(k, sweep.parameters[k]) for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def sample_value(key: str, spec: dict[str, Any], rng: random.Random) -> Any:
    """One draw from a W&B parameter spec (the distributions in RANDOM_DISTRIBUTIONS)."""
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        values = discrete_values(key, spec)
        return rng.choices(values, weights=spec.get("probabilities"))[0]
    dist = spec.get("distribution")
    if dist is None and {"min", "max"} <= set(spec):
        both_int = isinstance(spec["min"], int) and isinstance(spec["max"], int)
        dist = "int_uniform" if both_int else "uniform"
    lo, hi = spec.get("min"), spec.get("max")
    if dist == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if dist == "uniform":
        return rng.uniform(lo, hi)
    if dist == "q_uniform":
        q = spec.get("q", 1)
        return round(rng.uniform(lo, hi) / q) * q
    if dist in ("log_uniform_values", "q_log_uniform_values"):
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        q = spec.get("q", 1)
        return round(value / q) * q if dist.startswith("q_") else value
    if dist == "normal":
        return rng.gauss(spec.get("mu", 0.0), spec.get("sigma", 1.0))
    raise SweepError(f"parameter {key!r}: distribution {dist!r} is not supported locally "
                     f"(supported: value, values, {', '.join(RANDOM_DISTRIBUTIONS[2:])})")


def expand_random(sweep: Sweep, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` independent draws of every parameter from ``random.Random(seed)``."""
    rng = random.Random(seed)
    return [{k: sample_value(k, s, rng) for k, s in sweep.parameters.items()} for _ in range(n)]


def expand(sweep: Sweep, *, max_runs: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The runs of a sweep. Grid: all combinations (cut to ``max_runs``). Random/bayes:
    ``max_runs`` or the file's ``run_cap`` draws, seeded by ``seed``."""
    if sweep.method == "grid":
        runs = expand_grid(sweep)
        return runs if max_runs is None else runs[:max_runs]
    n = max_runs if max_runs is not None else sweep.run_cap
    if n is None:
        raise SweepError(f"{sweep.path}: a {sweep.method} sweep needs run_cap in the file or "
                         "--max-runs N to run locally")
    return expand_random(sweep, n, seed)
