"""Sweep files: expansion (grid count, Hydra list rendering, seeded random draws), the local
runner's plan, and ``--validate`` on every file in sweeps/ (catches a renamed config key)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from memnets.sweep.__main__ import main as sweep_main
from memnets.sweep.expand import (
    SweepError,
    expand,
    load_sweep,
    render_value,
    to_overrides,
)
from memnets.sweep.runner import already_done, plan, run_all
from memnets.sweep.validate import sweep_files, validate_file
from tests.conftest import compose_cfg

REPO = Path(__file__).resolve().parents[2]
SWEEP_FILES = sweep_files()
COMMAND = ["${env}", "python", "${program}", "${args_no_hyphens}"]


def write_sweep(tmp_path: Path, parameters: dict, name: str = "copy_dnc_test", **extra) -> Path:
    body = {"program": "run.py", "method": "grid",
            "metric": {"name": "val/error", "goal": "minimize"}, "command": COMMAND,
            "parameters": parameters, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_grid_expands_to_the_product_first_parameter_slowest(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {
        "model": {"value": "dnc"},
        "model.distance": {"values": ["cosine", "euclidean", "manhattan"]},
        "seed": {"values": [0, 1]},
    }))
    runs = expand(sweep)
    assert len(runs) == 1 * 3 * 2
    assert [r["model.distance"] for r in runs] == ["cosine"] * 2 + ["euclidean"] * 2 + \
        ["manhattan"] * 2
    assert [r["seed"] for r in runs] == [0, 1] * 3
    assert expand(sweep, max_runs=4) == runs[:4]


def test_values_render_as_hydra_overrides_and_parse_back():
    assert render_value([1]) == "[1]"
    assert render_value([[1, 2], [3]]) == "[[1,2],[3]]"
    assert render_value(True) == "true" and render_value(None) == "null"
    overrides = to_overrides({"task.tasks": [3], "task.variable_length": False, "seed": 2,
                              "optimizer.lr": 1e-4})
    assert overrides == ["task.tasks=[3]", "task.variable_length=false", "seed=2",
                         "optimizer.lr=0.0001"]
    parsed = OverridesParser.create().parse_overrides(overrides)
    assert [o.value() for o in parsed] == [[3], False, 2, 1e-4]


def test_random_draws_are_seeded_and_respect_run_cap_and_ranges(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {
        "optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "model.memory_size": {"values": [16, 32, 64]},
        "model.hidden_size": {"min": 8, "max": 12},
    }, method="random", run_cap=7))
    a, b, c = expand(sweep, seed=3), expand(sweep, seed=3), expand(sweep, seed=4)
    assert a == b and a != c and len(a) == 7
    assert all(1e-4 <= r["optimizer.lr"] <= 1e-2 for r in a)
    assert all(r["model.memory_size"] in (16, 32, 64) for r in a)
    assert all(isinstance(r["model.hidden_size"], int) and 8 <= r["model.hidden_size"] <= 12
               for r in a)
    assert len(expand(sweep, max_runs=2, seed=3)) == 2


def test_random_without_run_cap_or_max_runs_is_refused(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": {"values": [0, 1]}}, method="random"))
    with pytest.raises(SweepError, match="run_cap"):
        expand(sweep)


def test_plan_forces_csv_logger_puts_runs_under_the_sweep_name_and_extra_wins(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {
        "logger": {"value": "wandb"}, "task.tasks": {"values": [[1], [2]]},
        "trainer.max_steps": {"value": 3000}}, name="babi_memn2n_x"))
    planned = plan(sweep, expand(sweep), out_root=tmp_path / "mr",
                   extra=["trainer.max_steps=50"])
    assert [p.run_dir for p in planned] == [(tmp_path / "mr" / "babi_memn2n_x" / str(i)).resolve()
                                            for i in range(2)]
    argv = planned[1].argv("python")
    assert argv[:2] == ["python", "run.py"]
    assert "task.tasks=[2]" in argv and "logger=csv" in argv and "logger=wandb" not in argv
    assert "trainer.max_steps=50" in argv and "trainer.max_steps=3000" not in argv
    assert f"hydra.run.dir={planned[1].run_dir}" in argv


def test_a_completed_run_with_the_same_overrides_is_skipped(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": {"values": [0]}}))
    (run,) = plan(sweep, expand(sweep), out_root=tmp_path)
    assert not already_done(run)
    (run.run_dir / ".hydra").mkdir(parents=True)
    # as Hydra writes it: no hydra.* overrides, in any order
    recorded = [o for o in run.overrides if not o.startswith("hydra.")][::-1]
    assert len(recorded) == len(run.overrides) - 1
    (run.run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(recorded))
    (run.run_dir / "results.json").write_text(json.dumps({"status": "diverged"}))
    assert not already_done(run)
    (run.run_dir / "results.json").write_text(json.dumps({"status": "completed"}))
    assert already_done(run)
    (run.run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["seed=1"]))
    assert not already_done(run)


def test_sweep_files_exist_for_the_planned_studies():
    names = {p.stem for p in SWEEP_FILES}
    assert {"copy_dnc_distance", "copy_dnc_allocation", "copy_dnc_variable_length",
            "copy_dnc_controller", "babi_memn2n_pertask", "babi_entnet_pertask",
            "copy_models"} <= names


@pytest.mark.parametrize("name", ["babi_memn2n_pertask", "babi_memn2n_pertask_long",
                                  "babi_entnet_pertask", "babi_entnet_pertask_low_lr"])
def test_per_task_babi_columns_have_a_budget_in_epochs_not_wall_clock(name):
    """A wall-clock cap makes a column depend on the machine (issue 17: the EntNet sweep's 3-min
    cap gave 4,206 steps a run on the 2-core CPU and 2,280 on the GPU machine's CPU)."""
    sweep = yaml.safe_load((REPO / "sweeps" / f"{name}.yaml").read_text())
    cfg = compose_cfg([f"{k}={v['value']}" for k, v in sweep["parameters"].items()
                       if "value" in v and k != "logger"])
    assert "trainer.max_time" not in sweep["parameters"]
    assert cfg.trainer.max_time is None and cfg.trainer.max_epochs > 0


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.stem for p in SWEEP_FILES])
def test_every_sweep_file_validates_against_the_configs(path):
    assert validate_file(path) == []


def test_validate_catches_a_renamed_key_a_bad_value_and_a_bad_command(tmp_path):
    path = write_sweep(tmp_path, {
        "model": {"value": "dnc"},
        "model.distanse": {"values": ["cosine"]},      # typo: not a key
        "task.max_length": {"values": ["ten"]},        # int field, string value
        "seed": {"values": [0]},
    }, command=["python", "run.py"])
    problems = "\n".join(validate_file(path))
    assert "model.distanse" in problems
    assert "task.max_length" in problems
    assert "command must be" in problems
    assert "seed" not in problems


def test_validate_catches_a_missing_config_option(tmp_path):
    path = write_sweep(tmp_path, {"model": {"values": ["dnc", "no_such_model"]}})
    problems = validate_file(path)
    assert len(problems) == 1 and "no_such_model" in problems[0]


def test_installing_memnets_adds_no_top_level_sweeps_package(tmp_path):
    """W&B's local sweep controller imports a package named ``sweeps``; ours must not shadow it."""
    import subprocess
    import sys

    probe = ("import importlib.util; s = importlib.util.find_spec('sweeps'); "
             "print(s and (s.origin, list(s.submodule_search_locations or [])))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert str(REPO) not in out, out
    assert not list((REPO / "sweeps").glob("*.py")), "sweeps/ holds W&B sweep YAML files only"


# ---------------------------------------------------------------- running (a stand-in for run.py)

FAKE_RUN = '''#!{python}
"""Stands in for `python run.py <overrides>`: seed 0 completes, seed 1 crashes with no record,
seed 2 exits 0 with a failed record, seed 3 is stopped by SIGTERM (a checkpoint, an interrupted
record, exit 143) unless it resumes (ckpt_path=...), then completes; with wait_for=K it waits
until K runs have started."""
import json, sys, time
from pathlib import Path
args = dict(a.split("=", 1) for a in sys.argv[2:])
run_dir = Path(args["hydra.run.dir"])
(run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
(run_dir / ".hydra" / "overrides.yaml").write_text(
    json.dumps([a for a in sys.argv[2:] if not a.startswith("hydra.")]))
(run_dir.parent / f"started-{{run_dir.name}}").touch()
if "wait_for" in args:
    deadline = time.time() + 60
    while len(list(run_dir.parent.glob("started-*"))) < int(args["wait_for"]):
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.05)
seed = int(args["seed"])
print("segment", " ".join(sys.argv[2:]))
if seed == 1:
    sys.exit(1)
if seed == 3 and "ckpt_path" not in args:
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    (run_dir / "checkpoints" / "interrupted.ckpt").write_bytes(b"state")
    (run_dir / "results.json").write_text(json.dumps({{"status": "interrupted", "objective": None,
                                                      "message": "SIGTERM at step 5"}}))
    sys.exit(143)
if seed == 3:
    assert args["ckpt_path"] == str(run_dir), args
    seed = 0
status = "completed" if seed == 0 else "failed"
(run_dir / "results.json").write_text(json.dumps({{"status": status, "objective": 0.5,
                                                  "message": None}}))
'''


@pytest.fixture
def fake_python(tmp_path):
    import sys

    path = tmp_path / "fake_python"
    path.write_text(FAKE_RUN.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def test_a_runs_progress_label_names_the_extra_overrides_it_ran_with(tmp_path):
    """`--extra seed=1` over a grid with seed 0: the line printed for the run says seed=1."""
    from memnets.sweep.runner import _label

    sweep = load_sweep(write_sweep(tmp_path, {"seed": {"values": [0]},
                                              "task.tasks": {"values": [[12]]}}))
    (run,) = plan(sweep, expand(sweep), out_root=tmp_path / "mr", extra=["seed=1"])
    assert _label(run).split() == ["seed=1", "task.tasks=[12]"]
    assert _label(run.resumed()) == _label(run)


def _planned(tmp_path, seeds, **extra):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": {"values": seeds}}, **extra))
    return plan(sweep, expand(sweep), out_root=tmp_path / "mr")


def test_a_crashed_run_is_failed_never_completed_with_a_stale_record(tmp_path, fake_python):
    """The folder of run 1 holds a completed record of another run (other overrides): the runner
    refuses it rather than reading that record as the crashed run's outcome."""
    runs = _planned(tmp_path, [0, 1, 2])
    stale = runs[1].run_dir
    (stale / ".hydra").mkdir(parents=True)
    (stale / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["seed=7", "logger=csv"]))
    (stale / "results.json").write_text(json.dumps({"status": "completed", "objective": 0.01}))
    outcomes = run_all(runs, python=fake_python)
    assert [o["status"] for o in outcomes] == ["completed", "refused", "failed"]
    assert outcomes[2]["message"] == "exit code 0 but results.json says failed"
    assert json.loads((stale / "results.json").read_text())["objective"] == 0.01  # untouched
    shutil.rmtree(stale)
    again = run_all(runs, python=fake_python)  # run 0 is skipped; run 1 runs now, and crashes
    assert again[0].get("skipped") and again[0]["status"] == "completed"
    assert again[1]["status"] == "failed" and again[1]["objective"] is None
    assert again[1]["message"] == "exit code 1: no results.json (see stdout.log)"
    superseded = list((tmp_path / "mr" / "copy_dnc_test" / "superseded").iterdir())
    assert [p.name.split(".")[0] for p in superseded] == ["2"]  # its earlier attempt, kept


def test_the_cli_exits_non_zero_and_lists_the_failed_runs(tmp_path, fake_python, monkeypatch,
                                                          capsys):
    import sys

    monkeypatch.setattr(sys, "executable", fake_python)
    path = write_sweep(tmp_path, {"seed": {"values": [0, 1]}})
    code = sweep_main([str(path), "--out", str(tmp_path / "mr")])
    out = capsys.readouterr().out
    assert code == 1
    assert "1/2 runs finished" in out and "1: failed exit code 1" in " ".join(out.split())
    assert sweep_main([str(path), "--out", str(tmp_path / "mr"), "--jobs", "0"]) == 2


def test_jobs_runs_several_at_once_with_the_same_outcome_rules(tmp_path, fake_python):
    """Each stand-in run waits until 3 runs have started: only --jobs 3 lets them all finish."""
    runs = _planned(tmp_path, [0, 0, 2], name="copy_dnc_jobs")
    runs = [dataclasses.replace(r, overrides=[*r.overrides, "wait_for=3"]) for r in runs]
    outcomes = run_all(runs, jobs=3, python=fake_python)
    assert [o["status"] for o in outcomes] == ["completed", "completed", "failed"]
    assert [o["index"] for o in outcomes] == [0, 1, 2]


def test_validate_builds_the_data_module_and_finds_a_missing_file(tmp_path, monkeypatch):
    """Issue 17, defect 7: a 10k joint sweep on data without an en-10k file must fail
    ``--validate`` (not hours later in the run), and pass once it falls back to 1k."""
    from tests.tasks.babi.conftest import write_tiny_babi

    monkeypatch.setenv("MEMNETS_BABI_DIR", str(write_tiny_babi(tmp_path / "data")))
    monkeypatch.setenv("MEMNETS_CACHE", str(tmp_path / "cache"))
    params = {"model": {"value": "lstm"}, "task": {"value": "babi"},
              "task.size": {"value": "10k"}, "task.tasks": {"value": [1, 19]}}
    problems = validate_file(write_sweep(tmp_path, params, name="babi_lstm_test"))
    assert len(problems) == 1 and "qa1_single-supporting-fact_train.txt" in problems[0]
    assert "fallback_to_1k" in problems[0]
    params["task.fallback_to_1k"] = {"value": True}
    assert validate_file(write_sweep(tmp_path, params, name="babi_lstm_test")) == []


def test_the_joint_dnc_sweep_falls_back_to_1k_for_the_missing_file():
    sweep = load_sweep(REPO / "sweeps" / "babi_dnc_joint.yaml")
    assert sweep.parameters["task.fallback_to_1k"] == {"value": True}


def test_the_word_level_sweep_gives_every_model_one_cpu_budget():
    """DNC, NTM and LSTM under the DNC paper's protocol at the same wall time and threads."""
    sweep = load_sweep(REPO / "sweeps" / "babi_models_joint.yaml")
    runs = expand(sweep)
    experiments = {r["experiment"] for r in runs}
    assert experiments == {"babi_cpu_dnc_joint", "babi_cpu_ntm_joint", "babi_cpu_lstm_joint"}
    assert len(runs) == 9 and len({str(r["task.joint"]) for r in runs}) == 1
    budgets = set()
    for name in experiments:  # each recipe is its model's paper-size recipe under one budget
        recipe = compose_cfg([f"experiment={name}"])
        budgets.add((recipe.trainer.max_time, recipe.threads, recipe.trainer.max_steps))
        assert recipe.task.granularity == "word" and recipe.model._target_
    assert budgets == {("00:02:00:00", 1, -1)}


def test_an_interrupted_run_resumes_from_its_checkpoint_and_is_then_done(tmp_path, fake_python):
    """A sweep stopped mid-run (SIGTERM at a session's end) goes on with that run from its
    checkpoint, in its folder, with its log kept; once completed it is skipped."""
    (run,) = _planned(tmp_path, [3])
    (first,) = run_all([run], python=fake_python)
    assert first["status"] == "interrupted"
    (second,) = run_all([run], python=fake_python)
    assert second["status"] == "completed" and not second.get("skipped")
    log = (run.run_dir / "stdout.log").read_text().splitlines()
    assert len(log) == 2 and "ckpt_path" not in log[0] and f"ckpt_path={run.run_dir}" in log[1]
    assert not (run.run_dir.parent / "superseded").exists()  # resumed in place, nothing moved
    (third,) = run_all([run], python=fake_python)  # recorded with ckpt_path: still this run
    assert third.get("skipped") and third["status"] == "completed"


def test_a_failed_run_or_one_without_a_checkpoint_starts_afresh(tmp_path, fake_python):
    (run,) = _planned(tmp_path, [3])
    run_all([run], python=fake_python)
    for path in (run.run_dir / "checkpoints").iterdir():
        path.unlink()  # interrupted before its first checkpoint: nothing to go on from
    (again,) = run_all([run], python=fake_python)
    assert again["status"] == "interrupted"  # started afresh (no ckpt_path), stopped again
    assert len(list((run.run_dir.parent / "superseded").iterdir())) == 1
    (run.run_dir / "results.json").write_text(json.dumps({"status": "failed"}))
    (after_failure,) = run_all([run], python=fake_python)
    assert after_failure["status"] == "interrupted"  # a failed run is not resumed either
    assert len(list((run.run_dir.parent / "superseded").iterdir())) == 2


def test_after_an_interrupted_run_no_new_run_starts(tmp_path, fake_python):
    """With one job, the worker that ran the interrupted run is free at once: the stop must be
    set before it takes the next run (it used to start one more)."""
    runs = _planned(tmp_path, [3, 0, 0])
    outcomes = run_all(runs, jobs=1, python=fake_python)
    assert [o["status"] for o in outcomes] == ["interrupted", "not run", "not run"]
    assert not runs[1].run_dir.exists()


def test_a_run_kept_in_the_run_archive_is_not_made_again(tmp_path, fake_python):
    """On a fresh machine (no run folders) a run whose completed record is in the archive, made
    elsewhere (its paths scrubbed), is skipped; another seed, another setting of that seed, or a
    failed archived record do not match; without the archive (--rerun) it is made."""
    from memnets.sweep.__main__ import archived_runs
    from memnets.sweep.runner import task_overrides
    from memnets.sweep.validate import planned_record
    from reports.archive import scrub_paths

    planned = _planned(tmp_path, [0, 2])
    record = {**planned_record(task_overrides(planned[0])), "status": "completed", "run_id": "r0"}
    record["config"]["run_dir"] = "/elsewhere/multirun/copy_dnc_test/0"
    folder = tmp_path / "archive" / "dnc_copy" / "r0"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(scrub_paths(record, record["config"]["run_dir"])))
    assert archived_runs(planned, tmp_path / "archive") == {0}
    outcomes = run_all(planned, python=fake_python, archived={0})
    assert outcomes[0]["status"] == "completed" and outcomes[0]["skipped"]
    assert not planned[0].run_dir.exists()  # not run
    assert outcomes[1]["status"] == "failed"  # seed 2 ran (the stand-in fails it)
    other = load_sweep(write_sweep(tmp_path, {"seed": {"values": [0]},
                                              "trainer.max_steps": {"value": 7}}, name="copy_x"))
    assert archived_runs(plan(other, expand(other), out_root=tmp_path / "mr"),
                         tmp_path / "archive") == set()
    (folder / "results.json").write_text(json.dumps({**record, "status": "failed"}))
    assert archived_runs(planned, tmp_path / "archive") == set()
    assert run_all(planned[:1], python=fake_python)[0]["status"] == "completed"  # made now


def test_a_planned_run_resolves_granularity_auto_as_run_py_records_it():
    """run.py writes ``task.granularity=auto`` back as what it chose for the model; the planned
    record must say the same, or an archived run of an ``auto`` sweep never matches."""
    from memnets.sweep.validate import planned_record

    def granularity(model: str) -> str:
        record = planned_record([f"model={model}", "task=babi", "task.granularity=auto"])
        return record["config"]["task"]["granularity"]

    assert granularity("dnc") == "word" and granularity("memn2n") == "sentence"
