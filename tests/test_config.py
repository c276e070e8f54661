"""Every config composes; bad choices fail at start-up with a message that says what works."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class

from memnets.models.base import check_compatible, choose_granularity
from run import RunError, build
from tests.conftest import CONFIGS, MODEL_NAMES, REPO, TASK_NAMES, compose_cfg

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
SWEEP_FREE_GROUPS = ("trainer", "logger", "callbacks", "debug")


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_model_task_pair_composes(model, task):
    cfg = compose_cfg([f"model={model}", f"task={task}"])
    assert get_class(cfg.model._target_) and get_class(cfg.task._target_)


@pytest.mark.parametrize(
    "group, option",
    [(g, p.stem) for g in SWEEP_FREE_GROUPS for p in sorted((CONFIGS / g).glob("*.yaml"))],
)
def test_every_group_option_composes(group, option):
    cfg = compose_cfg([f"{group}={option}"])
    assert "trainer" in cfg


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = compose_cfg([f"experiment={experiment}"])
    assert get_class(cfg.model._target_)


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ConfigCompositionException, match="lstm"):
        compose_cfg(["model=no_such_model"])


def test_bad_override_names_the_key():
    with pytest.raises(ConfigCompositionException, match="hiden_size"):
        compose_cfg(["model=lstm", "model.hiden_size=3"])


def test_incompatible_pair_fails_at_start_up_saying_what_works(make_cfg, monkeypatch):
    from memnets.models import lstm

    monkeypatch.setattr(lstm.LSTMBaseline, "SUPPORTED_GRANULARITIES", frozenset({"sentence"}))
    cfg = make_cfg("model=lstm", "task=copy")
    with pytest.raises(RunError, match=r"model=lstm task=copy.*\['sentence'\]"):
        build(cfg)


def test_incompatible_pairs_are_refused_for_real_models():
    """Every model either supports the copy task's granularity or refuses it with the message."""
    cfg = compose_cfg(["task=copy"])
    from hydra.utils import instantiate

    spec = instantiate(cfg.task).spec
    for model in MODEL_NAMES:
        cls = get_class(compose_cfg([f"model={model}"]).model._target_)
        if spec.granularity in cls.SUPPORTED_GRANULARITIES:
            check_compatible(cls, spec)
        else:
            with pytest.raises(ValueError, match="granularity"):
                check_compatible(cls, spec)


def test_choose_granularity_takes_the_first_offered_that_the_model_reads():
    from memnets.models.dnc import DNC
    from memnets.models.memn2n import MemN2N

    assert choose_granularity(DNC, ("word", "sentence")) == "word"
    assert choose_granularity(MemN2N, ("word", "sentence")) == "sentence"
    assert choose_granularity(DNC, ("sentence", "word")) == "sentence"
    with pytest.raises(ValueError, match=r"MemN2N reads \['sentence'\].*offers only \['step'\]"):
        choose_granularity(MemN2N, ("step",))


def test_granularity_auto_on_a_task_without_choices_fails_at_start_up(make_cfg):
    cfg = make_cfg("model=memn2n", "task=copy", "+task.granularity=auto")
    with pytest.raises(RunError, match=r"model=memn2n task=copy.*offers only \[\]"):
        build(cfg)


def test_run_py_reports_a_bad_task_value_without_a_traceback_wall(tmp_path):
    proc = subprocess.run(
        [sys.executable, "run.py", "task.min_length=9", "task.max_length=3",
         f"hydra.run.dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "task.min_length=9" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
