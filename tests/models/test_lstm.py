import torch

from memnets.models.lstm import LSTMBaseline
from tasks.batch import Role
from tasks.spec import TaskSpec

SPEC = TaskSpec("features", 5, "bits", 4, 0, 0, "step", ("g",))


def test_fused_nn_lstm_equals_the_step_loop_forward_and_backward():
    torch.manual_seed(0)
    model = LSTMBaseline(SPEC, hidden_size=7, num_layers=3).double()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    role = torch.full((3, 6), int(Role.INPUT))
    fused, _ = model.scan(x, role)
    model.fused = False
    loop, _ = model.scan(x, role)
    assert torch.allclose(fused, loop, atol=1e-12)
    g_fused = torch.autograd.grad(fused.sum(), list(model.parameters()))
    model.fused = False
    g_loop = torch.autograd.grad(model.scan(x, role)[0].sum(), list(model.parameters()))
    for a, b in zip(g_fused, g_loop, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_trace_records_the_cell_state_per_step():
    model = LSTMBaseline(SPEC, hidden_size=7)
    x = torch.randn(2, 4, 5)
    _, aux = model.scan(x, torch.ones(2, 4, dtype=torch.long), trace=True)
    assert aux["cell"].shape == (2, 4, 7)
