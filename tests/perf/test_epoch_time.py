"""memnets.perf.epoch_time: the epoch arithmetic, the trainer it times with, and one real run.

No timing assertions: only that the timed steps exist, are positive and are combined as the
docstring says (mean step x batches an epoch).
"""

from __future__ import annotations

import json

import pytest

from memnets.perf import epoch_time
from memnets.perf.epoch_time import EpochTime, StepTimer, measure, timing_trainer
from memnets.sweep.validate import compose_run


def test_epoch_is_mean_step_times_batches_an_epoch():
    r = EpochTime(overrides=("a=1",), device="x", threads=1, steps=3, steps_per_epoch=100,
                  mean_s_per_step=0.5, median_s_per_step=0.2, min_s_per_step=0.1,
                  max_s_per_step=1.2)
    assert r.epoch_s == pytest.approx(50.0)  # the mean, not the median: an epoch is a sum
    assert r.as_dict()["epoch_s"] == pytest.approx(50.0)
    assert "a=1" in r.line() and "100 steps x mean 500 ms" in r.line()


def test_timing_trainer_runs_only_the_requested_training_steps():
    cfg = compose_run(["trainer.max_time=00:00:01:00", "trainer.max_steps=7"])
    trainer = timing_trainer(cfg, StepTimer(warmup=2), total_steps=12)
    assert trainer.max_steps == 12 and trainer.max_epochs == -1
    assert trainer.limit_val_batches == 0  # no validation inside the timed window
    assert trainer.logger is None and trainer.checkpoint_callback is None
    assert trainer.gradient_clip_val == cfg.trainer.gradient_clip_val  # the run's own settings


def test_measure_times_the_steps_after_warmup_on_the_default_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = measure(["model.hidden_size=8", "model.memory_size=4"], steps=3, warmup=2, threads=1)
    assert result.steps == 3
    assert 0 < result.min_s_per_step <= result.median_s_per_step <= result.max_s_per_step
    assert result.min_s_per_step <= result.mean_s_per_step <= result.max_s_per_step
    assert result.steps_per_epoch > 0
    out = tmp_path / "t.json"
    epoch_time.main(["model.hidden_size=8", "--steps", "2", "--warmup", "0", "--json", str(out)])
    epoch_time.main(["model.hidden_size=8", "--steps", "2", "--warmup", "0", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert len(rows) == 2 and rows[0]["steps"] == 2  # appended, not overwritten
    assert "h an epoch" in capsys.readouterr().out


def test_bad_step_counts_are_refused():
    with pytest.raises(SystemExit):
        epoch_time.main(["--steps", "0", "model.hidden_size=8"])
