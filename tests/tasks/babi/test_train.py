"""bAbI through run.train: fast_dev_run for every model that reads the granularity, and the
vocabulary stored in the checkpoint."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class

from run import train
from tests.conftest import MODEL_NAMES, compose_cfg

pytestmark = pytest.mark.needs_data
SMALL = ["task=babi", "task.size=1k", "task.tasks=[1,19]", "task.batch_size=4"]


def _pairs() -> list[tuple[str, str]]:
    pairs = []
    for model in MODEL_NAMES:
        cls = get_class(compose_cfg([f"model={model}"]).model._target_)
        pairs += [(model, g) for g in ("word", "sentence") if g in cls.SUPPORTED_GRANULARITIES]
    return pairs


@pytest.mark.parametrize("model, granularity", _pairs())
def test_fast_dev_run_on_babi(model, granularity, make_cfg, babi_dir):
    cfg = make_cfg(f"model={model}", *SMALL, f"task.granularity={granularity}",
                   f"task.data_dir={babi_dir}", "debug=fdr")  # fmt: skip
    record = train(cfg)
    assert record["status"] == "completed"
    assert record["data"]["granularity"] == granularity
    assert record["data"]["fallback_to_1k"] == []


@pytest.mark.parametrize("model, expected", [("dnc", "word"), ("memn2n", "sentence"),
                                             ("entnet", "sentence")])
def test_granularity_auto_follows_the_model(model, expected, make_cfg, babi_dir):
    # The command, `python run.py model=memn2n task=babi task.tasks=[1]`, works as typed.
    cfg = make_cfg(f"model={model}", *SMALL, f"task.data_dir={babi_dir}", "debug=fdr")
    assert cfg.task.granularity == "auto"
    record = train(cfg)
    assert record["status"] == "completed"
    assert record["data"]["granularity"] == expected
    assert record["config"]["task"]["granularity"] == expected


def test_checkpoint_carries_the_vocabulary(make_cfg, babi_dir, tmp_path):
    cfg = make_cfg("model=lstm", *SMALL, f"task.data_dir={babi_dir}", "trainer.max_steps=2",
                   "trainer.val_check_interval=2", "trainer.limit_val_batches=2",
                   "memory_picture=false", "logger=none")  # fmt: skip
    record = train(cfg)
    assert record["status"] == "completed"
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    saved = ckpt["BabiDataModule"]
    assert saved["vocabulary"][0] == "<pad>" and len(saved["vocabulary"]) == 160
    assert saved["granularity"] == "word"


def test_a_babi_run_stopped_by_sigterm_resumes_as_if_it_never_stopped(tiny_babi, tmp_path):
    """The tiny set has 54 training stories a task: 27 batches of 4 an epoch, so step 20 is
    mid-epoch; the resumed run ends with the unbroken run's weights and test metrics."""
    from memnets.training.signals import RunInterrupted

    steps = ["model=lstm", "task=babi", "task.size=1k", "task.tasks=[1,19]", "task.batch_size=4",
             f"task.data_dir={tiny_babi}", "task.cache_dir=", "trainer.max_steps=30",
             "trainer.val_check_interval=10", "logger=none", "memory_picture=false"]
    unbroken = train(compose_cfg(steps, run_dir=tmp_path / "unbroken"))
    with pytest.raises(RunInterrupted):
        train(compose_cfg([*steps, "debug=interrupt", "callbacks.inject_interrupt.at_step=19",
                           "callbacks.inject_interrupt.signal=SIGTERM"], run_dir=tmp_path / "stop"))
    resumed = train(compose_cfg([*steps, f"ckpt_path={tmp_path / 'stop'}"],
                                run_dir=tmp_path / "resumed"))
    assert resumed["global_step"] == 30 and resumed["metrics"]["test/loss"] == \
        unbroken["metrics"]["test/loss"]
    a, b = (torch.load(tmp_path / d / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
            for d in ("unbroken", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
