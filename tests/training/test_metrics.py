import torch

from memnets.training.metrics import (
    GroupedErrors,
    episode_ids,
    failed,
    masked_loss,
    step_errors,
)
from tasks.batch import IGNORE_INDEX
from tasks.spec import TaskSpec


def test_episode_ids_number_runs_of_answer_steps_across_the_batch():
    mask = torch.tensor([[0, 1, 1, 0, 1, 0], [1, 0, 0, 0, 1, 1]], dtype=torch.bool)
    ids, count = episode_ids(mask)
    assert count.tolist() == [2, 2]
    assert ids.tolist() == [[-1, 0, 0, -1, 1, -1], [2, -1, -1, -1, 3, 3]]


def test_question_is_right_only_if_every_answer_word_is_right():
    spec = TaskSpec("tokens", 1, "tokens", 1, 5, 5, "word", ("qa1", "qa2"))
    # story 0 (qa1): a two-word answer with one word wrong, then a right one-word answer.
    # story 1 (qa2): one right two-word answer.
    target = torch.tensor([[2, 3, IGNORE_INDEX, 4], [1, 1, IGNORE_INDEX, IGNORE_INDEX]])[..., None]
    mask = target[..., 0] != IGNORE_INDEX
    pred = torch.tensor([[2, 1, 0, 4], [1, 1, 0, 0]])
    logits = torch.nn.functional.one_hot(pred, 5).float()[:, :, None, :]  # (B, T, 1, C)
    assert step_errors(logits, target, mask, "tokens").tolist() == [[0, 1, 0, 0], [0, 0, 0, 0]]
    metric = GroupedErrors(spec)
    metric.update(logits, target, mask, torch.tensor([0, 1]))
    out = metric.compute()
    assert abs(out["error"].item() - 1 / 3) < 1e-6
    assert out["group/qa1/error"].item() == 0.5 and out["group/qa2/error"].item() == 0
    assert out["failed_groups"].item() == 1  # qa1 above 5 %
    assert abs(out["mean_group_error"].item() - 0.25) < 1e-6
    assert abs(out["step_acc"].item() - 4 / 5) < 1e-6


def test_bit_errors_per_sequence_and_sequence_error():
    spec = TaskSpec("features", 3, "bits", 2, 0, 0, "step", ("short",))
    target = torch.zeros(2, 3, 2)
    target[0, 2] = torch.tensor([1.0, 1.0])
    mask = torch.tensor([[0, 1, 1], [0, 1, 1]], dtype=torch.bool)
    logits = torch.full((2, 3, 2), -5.0)  # predicts all zeros: 2 wrong bits in sequence 0
    logits[1, 0] = 5.0  # a wrong bit off the mask does not count
    metric = GroupedErrors(spec)
    metric.update(logits, target, mask, torch.tensor([0, 0]))
    out = metric.compute()
    assert out["bit_errors"].item() == 1.0 and out["error"].item() == 0.5


def test_masked_loss_ignores_unmasked_steps():
    target = torch.zeros(1, 2, 3)
    logits = torch.zeros(1, 2, 3)
    logits[0, 0] = 1e4  # a huge error on a step without a target
    mask = torch.tensor([[False, True]])
    loss = masked_loss(logits, target, mask, "bits")
    assert torch.isclose(loss, torch.log(torch.tensor(2.0)))


def test_exactly_five_percent_wrong_is_not_a_failed_task_and_the_counts_are_logged():
    """Issue 17, defect 2: 50 wrong of 1000 is 5%, which passes; 51 of 1000 fails."""
    spec = TaskSpec("tokens", 1, "tokens", 1, 3, 3, "sentence", ("qa1", "qa2"))
    target = torch.ones(2000, 1, 1, dtype=torch.long)  # 2000 one-step questions
    mask = torch.ones(2000, 1, dtype=torch.bool)
    pred = torch.ones(2000, 1, dtype=torch.long)
    pred[:50] = 2  # qa1: 50 of 1000 wrong
    pred[1000:1051] = 2  # qa2: 51 of 1000 wrong
    logits = torch.nn.functional.one_hot(pred, 3).float()[:, :, None, :]
    group = torch.tensor([0] * 1000 + [1] * 1000)
    metric = GroupedErrors(spec)
    metric.update(logits, target, mask, group)
    out = metric.compute()
    assert out["group/qa1/wrong"].item() == 50 and out["group/qa1/total"].item() == 1000
    assert out["group/qa2/wrong"].item() == 51
    assert out["failed_groups"].item() == 1  # qa2 only
    assert failed(torch.tensor([50.0, 51.0]), torch.tensor([1000.0, 1000.0])).tolist() == [
        False, True]
