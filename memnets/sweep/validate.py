"""Check sweep files against the real configs: ``python -m memnets.sweep --validate``.

A sweep key that a config no longer has (a renamed hyper-parameter) would otherwise fail only when
the agent starts the run, hours into a sweep. For each combination of config-group values
(``model=``, ``task=``, ``experiment=``) the config is composed through Hydra's compose API as
``run.py`` composes it; every other parameter value is then applied the way Hydra applies a
command-line override (its override grammar, then ``OmegaConf.update`` in struct mode) and checked
to arrive as written, in the local rendering (:func:`memnets.sweep.expand.render_value`) and in the one
``wandb agent`` uses (``f"{key}={value}"``: ``True``, ``[1]``). Because the YAML configs have no
schema, a value must also be of the kind of the config's own value (a string for an int field
would compose and fail only in the run). Finally the first run is composed in full, and for a
task that reads files (a ``data_dir`` setting) whose data is on this machine, the data module of
every distinct task setting of the sweep is built (without downloading), so a file a run needs
but the data lacks (en-10k qa3 train, issue 17) is found before the sweep starts.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from memnets.models.base import IncompatibleTaskError, granularity_for
from memnets.sweep.expand import (
    COMMAND,
    Sweep,
    SweepError,
    discrete_values,
    load_sweep,
    render_value,
    render_wandb,
    to_overrides,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
SWEEPS = REPO / "sweeps"
PROGRAM = "run.py"
# Sections resolved after composing, so a broken interpolation shows up too (not logger: its
# resolvers look at W&B credentials).
RESOLVED_SECTIONS = ("model", "task", "optimizer", "trainer", "seed")
_PARSER = OverridesParser.create()


def sweep_files(folder: Path = SWEEPS) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def compose_run(overrides: list[str]) -> DictConfig:
    """``configs/train.yaml`` with ``overrides`` (Hydra's own section kept, for choices)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def planned_record(overrides: list[str]) -> dict[str, Any]:
    """What run.py's record would say a run with ``overrides`` is, before it runs: its model and
    task (Hydra's choices), seed and resolved config without Hydra's own section (the fields
    ``memnets.training.results.repeat_key`` reads)."""
    cfg = compose_run(overrides)
    choices = cfg.hydra.runtime.choices
    with open_dict(cfg):
        del cfg["hydra"]
        if cfg.task.get("granularity") == "auto":  # as run.py resolves it into the record
            try:
                cfg.task.granularity = granularity_for(get_class(cfg.model._target_),
                                                       get_class(cfg.task._target_))
            except IncompatibleTaskError:
                pass  # the run itself will stop with the error; nothing archived can match
    return {"model": choices.get("model"), "task": choices.get("task"), "seed": cfg.get("seed"),
            "config": OmegaConf.to_container(cfg, resolve=True)}


def is_group(key: str) -> bool:
    """``model``/``task``/``experiment``... are config groups: their value picks a file."""
    return (CONFIGS / key).is_dir()


def arrived(cfg: DictConfig, key: str) -> Any:
    """What the composed config holds for a parameter: a group's choice or the key's value."""
    if is_group(key):
        return cfg.hydra.runtime.choices.get(key)
    node = OmegaConf.select(cfg, key, default=KeyError)
    if node is KeyError:
        raise KeyError(key)
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(map(_same, expected, got))
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    return expected == got


def _same_kind(default: Any, value: Any) -> bool:
    """Plain YAML configs have no schema, so a string for an int field would compose and only
    fail in the run: a swept value must have the kind of the config's own value (None = any;
    an int may sweep a float field and the reverse)."""
    if default is None or value is None:
        return True
    if OmegaConf.is_config(default):
        default = OmegaConf.to_container(default, resolve=False)
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, str)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def apply_override(cfg: DictConfig, text: str) -> DictConfig:
    """Apply one ``key=value`` override to a copy of a composed config the way Hydra's config
    loader does (Hydra's override grammar, then ``OmegaConf.update`` in struct mode), so each
    value is checked without composing the whole config again (a compose takes ~0.5 s)."""
    (override,) = _PARSER.parse_overrides([text])
    cfg = copy.deepcopy(cfg)
    OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    return cfg


def check_value(cfg: DictConfig, key: str, value: Any) -> list[str]:
    """Does ``key=value`` apply to the composed ``cfg`` and arrive as ``value``, both in the
    local rendering and in wandb agent's? Returns problems."""
    problems = []
    if not is_group(key):
        default = OmegaConf.select(cfg, key, default=None)
        if not _same_kind(default, value):
            problems.append(f"{key}={value!r}: the config's value is {default!r}, "
                            f"a {type(default).__name__}")
    for how, text in (("", f"{key}={render_value(value)}"),
                      ("(as wandb agent sends it) ", render_wandb(key, value))):
        try:
            applied = apply_override(cfg, text)
            for section in RESOLVED_SECTIONS:
                node = applied.get(section)
                if OmegaConf.is_config(node):
                    OmegaConf.to_container(node, resolve=True)
            got = arrived(applied, key)
        except KeyError:
            problems.append(f"{how}{key}: not a key of the composed config")
            continue
        except Exception as err:  # noqa: BLE001 - Hydra/OmegaConf raise several kinds
            problems.append(f"{how}{text}: does not apply: {_first_line(err)}")
            continue
        if not _same(value, got):
            problems.append(f"{how}{text} arrives as {got!r}")
    return problems


def parameter_values(sweep: Sweep) -> dict[str, list[Any]]:
    """The values to check per parameter; distributions are checked at their min and max."""
    values = {}
    for key, spec in sweep.parameters.items():
        if "value" in spec or "values" in spec:
            values[key] = discrete_values(key, spec)
        elif {"min", "max"} <= set(spec):
            values[key] = [spec["min"], spec["max"]]
        else:
            raise SweepError(f"parameter {key!r}: no value, values or min/max to check")
    return values


def check_sweep(sweep: Sweep) -> list[str]:
    """Compose the run config once per combination of config-group values (``model=...``,
    ``task=...``) exactly as run.py does, check every value of every other parameter against
    it, then compose the first run in full (all overrides together) as a last check."""
    values = parameter_values(sweep)
    groups = {k: v for k, v in values.items() if is_group(k)}
    plain = {k: v for k, v in values.items() if not is_group(k)}
    problems: list[str] = []
    for combo in itertools.product(*groups.values()):
        chosen = dict(zip(groups, combo, strict=True))
        cfg, problem = _compose(to_overrides(chosen))
        if cfg is None:
            problems.append(problem)
            continue
        for key, value in chosen.items():
            if arrived(cfg, key) != str(value):
                problems.append(f"{key}={value} selects {arrived(cfg, key)!r}")
        for key, vs in plain.items():
            for value in vs:
                problems += check_value(cfg, key, value)
    if not problems:
        cfg, problem = _compose(to_overrides({k: v[0] for k, v in values.items()}))
        problems += [problem] if cfg is None else []
    if not problems:
        problems += check_data(sweep, values)
    return problems


def task_settings(sweep: Sweep, values: dict[str, list[Any]]) -> list[DictConfig]:
    """The distinct ``task`` sections the sweep's runs get: one per combination of group values
    and ``task.*`` values (other keys do not change what data a run reads)."""
    groups = {k: v for k, v in values.items() if is_group(k)}
    task_keys = {k: v for k, v in values.items() if k.startswith("task.")}
    seen: dict[str, DictConfig] = {}
    for combo in itertools.product(*groups.values()):
        cfg = compose_run(to_overrides(dict(zip(groups, combo, strict=True))))
        for task_combo in itertools.product(*task_keys.values()):
            applied = cfg
            for key, value in zip(task_keys, task_combo, strict=True):
                applied = apply_override(applied, f"{key}={render_value(value)}")
            task = OmegaConf.create(OmegaConf.to_container(applied.task, resolve=True))
            seen.setdefault(OmegaConf.to_yaml(task), task)
    return list(seen.values())


def check_data(sweep: Sweep, values: dict[str, list[Any]]) -> list[str]:
    """Build the data module of every task setting that reads a ``data_dir`` whose data is here
    (the class's ``data_present``, else the folder exists), never downloading; data that is not
    here is skipped (the run would download it)."""
    problems = []
    for task in task_settings(sweep, values):
        if "data_dir" not in task:
            continue
        data_dir = Path(str(task.data_dir)).expanduser()
        data_dir = data_dir if data_dir.is_absolute() else REPO / data_dir
        cls = get_class(task._target_)
        present = getattr(cls, "data_present", lambda path: Path(path).exists())
        if not str(task.data_dir) or not present(data_dir):
            continue
        extra: dict[str, Any] = {"data_dir": str(data_dir)}
        params = inspect.signature(cls).parameters
        if "download_url" in params:
            extra["download_url"] = None
        if task.get("granularity") == "auto":
            extra["granularity"] = getattr(cls, "GRANULARITIES", ("auto",))[0]
        try:
            instantiate(task, **extra)
        except Exception as err:  # noqa: BLE001 - any failure here would stop the run
            problems.append(f"task {OmegaConf.to_container(task.get('tasks', []))}: the data "
                            f"module fails on {data_dir}: {_first_line(err.__cause__ or err)}")
    return problems


def _compose(overrides: list[str]) -> tuple[DictConfig | None, str]:
    try:
        return compose_run(overrides), ""
    except Exception as err:  # noqa: BLE001 - Hydra raises several kinds; all mean "fix it"
        return None, f"{' '.join(overrides)}: does not compose: {_first_line(err)}"


def check_shape(sweep: Sweep) -> list[str]:
    raw, problems = sweep.raw, []
    if raw.get("program") != PROGRAM:
        problems.append(f"program must be {PROGRAM!r}, got {raw.get('program')!r}")
    metric = raw.get("metric") or {}
    if not metric.get("name") or metric.get("goal") not in ("minimize", "maximize"):
        problems.append(f"metric needs name and goal minimize|maximize, got {metric!r}")
    if raw.get("command") != COMMAND:
        problems.append(f"command must be {COMMAND} so values arrive as Hydra overrides, "
                        f"got {raw.get('command')!r}")
    task = sweep.name.split("_")[0]
    if "_" not in sweep.name or not (CONFIGS / "task" / f"{task}.yaml").is_file():
        problems.append("file name must be <task>_<model>_<purpose>.yaml, <task> in configs/task")
    for key, spec in sweep.parameters.items():
        for v in spec.get("values", [spec["value"]] if "value" in spec else []):
            if v is None:
                problems.append(f"{key}: null value (wandb agent would send the string 'None')")
    return problems


def validate_file(path: Path) -> list[str]:
    """All problems of one sweep file, each prefixed with the file name; [] when it is good."""
    try:
        sweep = load_sweep(path)
        problems = check_shape(sweep) + check_sweep(sweep)
    except (SweepError, OSError) as err:
        return [f"{Path(path).name}: {err}"]
    finally:
        GlobalHydra.instance().clear()
    return [f"{Path(path).name}: {p}" for p in dict.fromkeys(problems)]


def validate(paths: Iterable[Path]) -> dict[Path, list[str]]:
    return {Path(p): validate_file(Path(p)) for p in paths}
