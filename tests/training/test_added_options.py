"""Model options added after runs were recorded (memnets.training.results.ADDED_MODEL_OPTIONS):
a record from before an option and one with it at its old-behaviour value are one setting."""

from __future__ import annotations

import copy
import inspect

import pytest
import yaml
from hydra.utils import get_class

from memnets.training.results import ADDED_MODEL_OPTIONS, config_columns, repeat_key
from tests.conftest import REPO

MODEL_YAML = {yaml.safe_load(p.read_text())["_target_"]: p
              for p in (REPO / "configs" / "model").glob("*.yaml")}


@pytest.mark.parametrize("target", sorted(ADDED_MODEL_OPTIONS))
def test_each_added_option_is_at_its_default_in_the_signature_and_the_yaml(target):
    """The value listed must be what the option defaults to, else a run with the default would be
    pooled with older runs that did something else (or the reverse)."""
    signature = inspect.signature(get_class(target).__init__).parameters
    shipped = yaml.safe_load(MODEL_YAML[target].read_text())
    for option, before in ADDED_MODEL_OPTIONS[target].items():
        assert signature[option].default == before, (target, option)
        assert shipped[option] == before, (target, option)


def _record(model: dict) -> dict:
    return {"model": "memn2n", "task": "babi", "seed": 0,
            "config": {"model": model, "optimizer": {"lr": 0.16}, "seed": 0}}


OLD = {"_target_": "memnets.models.memn2n.MemN2N", "embed_dim": 100, "encoding": "position"}


def test_a_record_from_before_an_option_repeats_one_at_its_default():
    new = copy.deepcopy(OLD) | {"noise_memories": True, "time_word_weight": False}
    assert repeat_key(_record(new)) == repeat_key(_record(OLD))
    assert config_columns(_record(new)["config"]) == config_columns(_record(OLD)["config"])


def test_an_added_option_set_otherwise_is_another_setting():
    changed = copy.deepcopy(OLD) | {"noise_memories": False, "time_word_weight": False}
    assert repeat_key(_record(changed)) != repeat_key(_record(OLD))
    assert config_columns(_record(changed)["config"])["model.noise_memories"] is False
    assert config_columns(_record(OLD)["config"])["model.noise_memories"] is True  # as it ran


def test_options_are_matched_per_model_class():
    """An option of the same name on another model keeps its column whatever its value."""
    other = {"_target_": "memnets.models.dnc.DNC", "gate_bias": False}
    assert config_columns({"model": other})["model.gate_bias"] is False
    # and another model's record gets none of EntNet's or MemN2N's options filled in
    bare = config_columns({"model": {"_target_": "memnets.models.dnc.DNC"}})
    assert not {"model.gate_bias", "model.noise_memories"} & set(bare)


def test_every_option_missing_from_an_archived_run_is_registered():
    """A model option added since a run was archived must be listed, or the sweep runner no
    longer sees that run as done and the tables split its column (what happened to EntNet and
    MemN2N before the registry)."""
    import json

    records = sorted((REPO / "reports" / "runs").glob("*/*/results.json"))
    assert records, "the committed run archive is empty"
    for path in records:
        model = json.loads(path.read_text())["config"]["model"]
        target = model["_target_"]
        missing = set(yaml.safe_load(MODEL_YAML[target].read_text())) - set(model)
        assert missing <= set(ADDED_MODEL_OPTIONS.get(target, {})), (path.parent.name, missing)
