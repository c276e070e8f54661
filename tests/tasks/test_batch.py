import pytest
import torch

from tasks.batch import IGNORE_INDEX, Episode, Role, collate, validate_batch
from tasks.spec import TaskSpec

SPEC = TaskSpec("tokens", 2, "tokens", 1, vocab_size=9, num_classes=9, granularity="sentence",
                group_names=("a", "b"))


def episode(T: int, group: int = 0) -> Episode:
    role = torch.full((T,), int(Role.INPUT))
    role[-1] = Role.ANSWER
    target = torch.full((T, 1), IGNORE_INDEX)
    target[-1, 0] = 3
    return Episode(torch.randint(1, 9, (T, 2)), role, target, role == Role.ANSWER, group)


def test_collate_right_pads_with_pad_role_and_ignored_targets():
    batch = collate([episode(3), episode(5, group=1)])
    validate_batch(batch, SPEC)
    assert batch.inputs.shape == (2, 5, 2)
    assert batch.lengths.tolist() == [3, 5]
    assert (batch.role[0, 3:] == Role.PAD).all() and (batch.inputs[0, 3:] == 0).all()
    assert (batch.target[0, 3:] == IGNORE_INDEX).all() and not batch.target_mask[0, 3:].any()
    assert batch.group.tolist() == [0, 1]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b._replace(target_mask=b.target_mask.clone().fill_(True)), "padding step"),
        (lambda b: b._replace(group=torch.tensor([0, 2])), "group"),
        (lambda b: b._replace(inputs=b.inputs.float()), "inputs"),
        (lambda b: b._replace(lengths=torch.tensor([5, 5])), "right padding"),
        (lambda b: b._replace(target=b.target.masked_fill(b.target_mask[..., None], 11)), "class ids"),
    ],
)
def test_validate_batch_names_the_broken_field(corrupt, message):
    batch = collate([episode(3), episode(5)])
    with pytest.raises(ValueError, match=message):
        validate_batch(corrupt(batch), SPEC)


def test_spec_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="input_kind"):
        TaskSpec("pixels", 1, "bits", 1, 0, 0, "step", ("g",))
