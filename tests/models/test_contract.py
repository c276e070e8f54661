"""The MemoryNetwork contract, for every model config found in configs/model/ (DESIGN §7)."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class, instantiate

from memnets.models.base import MemoryNetwork
from tasks.batch import IGNORE_INDEX, Episode, Role, collate
from tasks.spec import TaskSpec
from tests.conftest import MODEL_NAMES, compose_cfg

FEATURES = TaskSpec("features", 5, "bits", 4, 0, 0, "step", ("g0", "g1"))
SENTENCES = TaskSpec("tokens", 4, "tokens", 1, vocab_size=12, num_classes=12,
                     granularity="sentence", group_names=("g0", "g1"))


def build(name: str) -> tuple[MemoryNetwork, TaskSpec]:
    cfg = compose_cfg([f"model={name}"])
    cls = get_class(cfg.model._target_)
    spec = FEATURES if "step" in cls.SUPPORTED_GRANULARITIES else SENTENCES
    torch.manual_seed(0)
    model = instantiate(cfg.model, _partial_=True)(spec=spec)
    return model.eval(), spec


def make_episode(spec: TaskSpec, T: int, gen: torch.Generator) -> Episode:
    """Random episode: INPUT steps with a QUERY and an ANSWER step every 4 steps."""
    role = torch.full((T,), int(Role.INPUT))
    role[2::4] = Role.QUERY
    role[3::4] = Role.ANSWER
    mask = role == Role.ANSWER
    if spec.input_kind == "features":
        inputs = torch.randn(T, spec.input_width, generator=gen)
        target = torch.randint(0, 2, (T, spec.target_width), generator=gen).float()
    else:
        inputs = torch.randint(1, spec.vocab_size, (T, spec.input_width), generator=gen)
        inputs[mask] = 0
        target = torch.randint(0, spec.num_classes, (T, 1), generator=gen)
        target[~mask] = IGNORE_INDEX
    return Episode(inputs, role, target, mask, group=int(torch.randint(0, 2, (1,), generator=gen)))


def outputs(model: MemoryNetwork, episodes: list[Episode]) -> torch.Tensor:
    with torch.no_grad():
        return model(collate(episodes)).logits


@pytest.fixture(params=MODEL_NAMES)
def model_and_spec(request):
    return build(request.param)


def test_logit_shapes(model_and_spec):
    model, spec = model_and_spec
    gen = torch.Generator().manual_seed(1)
    logits = outputs(model, [make_episode(spec, 9, gen), make_episode(spec, 12, gen)])
    expected = (2, 12, 4) if spec.target_kind == "bits" else (2, 12, 1, spec.num_classes)
    assert logits.shape == expected
    assert torch.isfinite(logits).all()


def test_causal_later_steps_do_not_change_earlier_outputs(model_and_spec):
    model, spec = model_and_spec
    gen = torch.Generator().manual_seed(2)
    ep = make_episode(spec, 12, gen)
    other = make_episode(spec, 12, gen)
    cut = 7  # an ANSWER step; steps after it get new content
    changed = ep._replace(inputs=torch.cat([ep.inputs[: cut + 1], other.inputs[cut + 1 :]]))
    a, b = outputs(model, [ep]), outputs(model, [changed])
    assert torch.allclose(a[:, : cut + 1], b[:, : cut + 1], atol=1e-5)
    assert not torch.allclose(a[:, cut + 1 :], b[:, cut + 1 :], atol=1e-5)


def test_padding_does_not_change_valid_outputs(model_and_spec):
    model, spec = model_and_spec
    gen = torch.Generator().manual_seed(3)
    short, long = make_episode(spec, 8, gen), make_episode(spec, 16, gen)
    alone = outputs(model, [short])
    padded = outputs(model, [short, long])[:1, :8]
    assert torch.allclose(alone, padded, atol=1e-5)


def test_batch_items_are_independent(model_and_spec):
    model, spec = model_and_spec
    gen = torch.Generator().manual_seed(4)
    a, b, c = (make_episode(spec, 12, gen) for _ in range(3))
    assert torch.allclose(outputs(model, [a, b])[0], outputs(model, [a, c])[0], atol=1e-5)


def test_trains_under_bf16_autocast(model_and_spec):
    """Mixed precision (what trainer.precision=bf16-mixed does around the forward): forward and
    backward run, gradients are finite, and the logits stay near the fp32 ones. The memory
    models' hand-written autograd nodes run outside autocast, in the state's precision."""
    model, spec = model_and_spec
    model.train()
    gen = torch.Generator().manual_seed(5)
    batch = collate([make_episode(spec, 9, gen), make_episode(spec, 6, gen)])
    with torch.no_grad():
        reference = model(batch).logits
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(batch).logits
    logits.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    scale = reference.abs().max().clamp_min(1.0)
    assert (logits.float() - reference).abs().max() <= 0.1 * scale  # bf16 has 8 mantissa bits
