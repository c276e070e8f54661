"""A run resumed into a new folder keeps its checkpoint record (best model among all validations)."""

from __future__ import annotations

from memnets.training.checkpoints import RunCheckpoint, relocate_checkpoint_state


def test_state_moves_to_the_new_folder_with_its_files(tmp_path):
    old, new = tmp_path / "old" / "checkpoints", tmp_path / "new" / "checkpoints"
    old.mkdir(parents=True)
    (old / "best.ckpt").write_bytes(b"best weights")
    state = {"dirpath": str(old), "best_model_path": str(old / "best.ckpt"),
             "best_model_score": 0.25, "kth_best_model_path": str(old / "best.ckpt"),
             "last_model_path": "", "best_k_models": {str(old / "best.ckpt"): 0.25},
             "monitor": "val/error"}
    moved = relocate_checkpoint_state(state, new)
    assert moved["dirpath"] == str(new) and moved["best_model_score"] == 0.25
    assert moved["best_model_path"] == str(new / "best.ckpt")
    assert (new / "best.ckpt").read_bytes() == b"best weights"
    assert moved["best_k_models"] == {str(new / "best.ckpt"): 0.25}
    assert moved["last_model_path"] == ""  # nothing tracked: nothing to move


def test_run_checkpoint_restores_the_best_score_from_another_folder(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "best.ckpt").write_bytes(b"x")
    saved = RunCheckpoint(dirpath=str(old), filename="best", monitor="val/error")
    saved.best_model_path, saved.best_model_score = str(old / "best.ckpt"), 0.1
    saved.best_k_models = {str(old / "best.ckpt"): 0.1}
    resumed = RunCheckpoint(dirpath=str(new), filename="best", monitor="val/error")
    resumed.load_state_dict(saved.state_dict())
    assert float(resumed.best_model_score) == 0.1  # plain ModelCheckpoint would leave None
    assert resumed.best_model_path == str(new / "best.ckpt") and (new / "best.ckpt").is_file()
