"""Sparse link matrix (Graves et al. 2016, Methods "Sparse link matrix"): row-sparse storage
against the dense-storage reference, invariants, gradients and hand-computed cases."""

from functools import partial

import pytest
import torch

from memnets.ops.linkage import directional_read_weights, update_link, update_precedence
from memnets.ops.sparse_link import (
    SparseLink,
    empty_sparse_link,
    keep_top_k,
    prune_link,
    sparse_directional_read_weights,
    sparse_link_from_dense,
    sparse_link_reference,
    sparse_link_to_dense,
    update_sparse_link,
)

B, Hw, N, R = 3, 2, 9, 2
F64 = torch.float64


def soft_writes(gen: torch.Generator, steps: int, n: int = N) -> list[torch.Tensor]:
    """Peaked but soft write weightings (B, Hw, n), sums in (0, 1]."""
    return [
        torch.softmax(torch.randn(B, Hw, n, generator=gen, dtype=F64) * 4, -1)
        * torch.rand(B, Hw, 1, generator=gen, dtype=F64) ** 0.2
        for _ in range(steps)
    ]


def one_hot_write(slots: list[int], n: int) -> torch.Tensor:
    """(1, len(slots), n): head h writes slot slots[h] fully."""
    w = torch.zeros(1, len(slots), n, dtype=F64)
    w[0, torch.arange(len(slots)), torch.tensor(slots)] = 1.0
    return w


def test_keep_top_k_and_prune():
    x = torch.tensor([[0.1, 0.5, 0.2, 0.4]])
    torch.testing.assert_close(keep_top_k(x, 2), torch.tensor([[0.0, 0.5, 0.0, 0.4]]))
    torch.testing.assert_close(keep_top_k(x, 9), x)  # K ≥ N keeps everything
    torch.testing.assert_close(prune_link(x, 4), torch.tensor([[0.0, 0.5, 0.0, 0.4]]))  # < 1/4
    torch.testing.assert_close(prune_link(x, 5), torch.tensor([[0.0, 0.5, 0.2, 0.4]]))  # 0.2 = 1/5


def _link_n4() -> torch.Tensor:
    """A valid L̂_{t−1} for N=4, K=2: ≤ 2 entries per row, row/column sums ≤ 1, zero diagonal."""
    link = torch.zeros(1, 1, 4, 4, dtype=F64)
    link[0, 0, 0, 1], link[0, 0, 0, 3] = 0.2, 0.7
    link[0, 0, 1, 2] = 0.8
    link[0, 0, 2, 3] = 0.3
    link[0, 0, 3, 0] = 0.9
    return link


@pytest.mark.parametrize(
    "precedence, expected",
    [
        # ŵ = [.9, .06, 0, 0] (0.04 dropped), p̂ = [.3, .6, 0, 0], threshold 1/K = 0.5:
        # L[0,1] = (1 − .9 − .06)·.2 + .9·.6 = .548 (old and new column 1 merged);
        # L[1,2] = (1 − .06 − 0)·.8 = .752 (ŵ_2 = 0, not .04: .72 without the top-K);
        # pruned: L[0,3] = .1·.7, L[2,3] = .3 (no write, still < 1/K), L[3,0] = .1·.9, L[1,0] = .018.
        ([0.3, 0.6, 0.1, 0.0], {(0, 1): 0.548, (1, 2): 0.752}),
        # p̂ = [.6, .3, 0, 0]: the largest candidate of row 0, ŵ_0 p̂_0 = .54, is on the diagonal;
        # L[0,1] = .008 + .9·.3 = .278 is pruned.
        ([0.6, 0.3, 0.1, 0.0], {(1, 2): 0.752}),
    ],
)
def test_hand_computed_n4_k2(precedence, expected):
    link = _link_n4()
    p = torch.tensor([[precedence]], dtype=F64)
    w = torch.tensor([[[0.9, 0.06, 0.04, 0.0]]], dtype=F64)
    want = torch.zeros(4, 4, dtype=F64)
    for (i, j), value in expected.items():
        want[i, j] = value
    dense = sparse_link_reference(link, p, w, 2)
    torch.testing.assert_close(dense[0, 0], want)
    sparse = update_sparse_link(sparse_link_from_dense(link, 2), p, w, 2)
    assert sparse.values.shape == (1, 1, 4, 2)
    torch.testing.assert_close(sparse_link_to_dense(sparse, 4)[0, 0], want)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "plain_autograd"])
@pytest.mark.parametrize("k", [2, 6, 12])  # 12 > N: the rows hold every column
def test_row_sparse_equals_dense_reference_values_and_gradients(k, lean):
    """Several steps of soft writes from L̂_0 = 0, the precedence built from the same writes,
    forward and backward reads (sharpened every other step): equal values and gradients, for
    the recomputing (lean) and the plain-autograd row-sparse paths."""
    gen = torch.Generator().manual_seed(0)
    writes = [w.requires_grad_(True) for w in soft_writes(gen, 10)]
    reads = [
        torch.softmax(torch.randn(B, R, N, generator=gen, dtype=F64), -1).requires_grad_(True) for _ in writes
    ]
    sharp = (torch.rand(B, R, Hw, generator=gen, dtype=F64) + 1).requires_grad_(True)
    weights = [torch.randn(2, B, R, Hw, N, generator=gen, dtype=F64) for _ in writes]

    def run(row_sparse: bool):
        link = (
            empty_sparse_link(B, Hw, N, k, "cpu", F64) if row_sparse else torch.zeros(B, Hw, N, N, dtype=F64)
        )
        p = torch.zeros(B, Hw, N, dtype=F64)
        loss, links = 0.0, []
        for t, (w, r, g) in enumerate(zip(writes, reads, weights, strict=True)):
            if row_sparse:
                link = update_sparse_link(link, p, w, k, lean=lean)
                links.append(sparse_link_to_dense(link, N))
                read = partial(sparse_directional_read_weights, lean=lean)
            else:
                link = sparse_link_reference(link, p, w, k)
                links.append(link)
                read = directional_read_weights
            p = update_precedence(p, w)
            s = sharp if t % 2 else None
            loss = loss + (read(link, r, True, s) * g[0]).sum() + (read(link, r, False, s) * g[1]).sum()
        grads = torch.autograd.grad(loss, [*writes, *reads, sharp])
        return torch.stack(links), loss.detach(), grads

    links, loss, grads = run(True)
    ref_links, ref_loss, ref_grads = run(False)
    torch.testing.assert_close(links, ref_links, rtol=0, atol=1e-15)
    torch.testing.assert_close(loss, ref_loss)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # Not a vacuous case: links survive the prune, some rows hold several, and the sparse
    # approximation differs from the exact dense link.
    nonzero = (ref_links > 0).sum(-1)  # (T, B, Hw, N)
    assert nonzero.sum() > 10 and (nonzero >= 2).any() == (k >= 6)
    assert grads[0].abs().sum() > 0


def test_invariants_over_random_steps():
    """≤ K stored pairs per row with distinct columns, values 0 or ≥ 1/K, row and column sums
    ≤ 1, zero diagonal (N = 7, K = 3)."""
    gen = torch.Generator().manual_seed(1)
    n, k = 7, 3
    link = empty_sparse_link(B, Hw, n, k, "cpu", F64)
    p = torch.zeros(B, Hw, n, dtype=F64)
    for w in soft_writes(gen, 30, n):
        link = update_sparse_link(link, p, w, k)
        p = update_precedence(p, w)
        assert link.values.shape == link.columns.shape == (B, Hw, n, k)
        assert link.columns.dtype == torch.long
        sorted_cols = link.columns.sort(-1).values
        assert (sorted_cols[..., 1:] != sorted_cols[..., :-1]).all()  # distinct in a row
        assert ((link.values == 0) | (link.values >= 1 / k)).all()
        dense = sparse_link_to_dense(link, n)
        assert (dense.diagonal(dim1=-2, dim2=-1) == 0).all()
        assert (dense.sum(-1) <= 1 + 1e-12).all() and (dense.sum(-2) <= 1 + 1e-12).all()
    assert (link.values > 0).sum() > 0


@pytest.mark.parametrize("k", [1, 2, 5])
def test_one_hot_writes_give_the_exact_dense_link(k):
    """With one-hot writes every entry of the exact L_t is 0 or 1, so top-K and the prune change
    nothing: the sparse link equals the paper's dense L_t exactly. Two heads, different orders,
    slots rewritten."""
    n = 6
    orders = [(0, 3), (1, 4), (2, 0), (0, 1), (5, 2), (3, 5)]  # (head 0 slot, head 1 slot)
    exact = torch.zeros(1, 2, n, n, dtype=F64)
    sparse = empty_sparse_link(1, 2, n, k, "cpu", F64)
    p = torch.zeros(1, 2, n, dtype=F64)
    for slots in orders:
        w = one_hot_write(list(slots), n)
        exact = update_link(exact, p, w)
        sparse = update_sparse_link(sparse, p, w, k)
        p = update_precedence(p, w)
        torch.testing.assert_close(sparse_link_to_dense(sparse, n), exact, rtol=0, atol=0)
    # The last writes: head 0 wrote 3 after 5, head 1 wrote 5 after 2; head 0's rewrite of
    # slot 0 (step 4) cleared column 0, so the link 'slot 1 after slot 0' is gone.
    assert exact[0, 0, 3, 5] == 1.0 and exact[0, 1, 5, 2] == 1.0 and exact[0, 0, 1, 0] == 0.0


def test_reads_hand_computed():
    """L̂ with L[1,0] = 1 (slot 1 written after slot 0) and L[2,1] = 0.6: f = L w, b = Lᵀ w."""
    link = SparseLink(
        torch.tensor([[[[0.0, 0.0], [1.0, 0.0], [0.6, 0.0]]]], dtype=F64),
        torch.tensor([[[[1, 2], [0, 2], [1, 0]]]]),
    )  # (1, 1, 3, 2)
    reads = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]], dtype=F64)  # (1, R=2, 3)
    fwd = sparse_directional_read_weights(link, reads, True)
    bwd = sparse_directional_read_weights(link, reads, False)
    assert fwd.shape == bwd.shape == (1, 2, 1, 3)
    torch.testing.assert_close(fwd[0, :, 0], torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.3]], dtype=F64))
    torch.testing.assert_close(bwd[0, :, 0], torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.3, 0.0]], dtype=F64))


def test_gradcheck_update_and_reads():
    gen = torch.Generator().manual_seed(2)
    k = 4
    link = empty_sparse_link(B, Hw, N, k, "cpu", F64)
    p = torch.zeros(B, Hw, N, dtype=F64)
    for w in soft_writes(gen, 8):
        link = update_sparse_link(link, p, w, k)
        p = update_precedence(p, w)
    values, columns = link
    assert (values > 0).sum() > 10
    w = soft_writes(gen, 1)[0]

    def update(v, p_, w_):
        return sparse_link_to_dense(update_sparse_link(SparseLink(v, columns), p_, w_, k), N)

    inputs = [t.clone().requires_grad_(True) for t in (values, p, w)]
    assert torch.autograd.gradcheck(update, inputs)
    # Reads are linear in the values: any positive values on distinct columns (here row i holds
    # i+1..i+K mod N, so every column is read and sharpen sees no ties at zero).
    cyclic = (torch.arange(N)[:, None] + 1 + torch.arange(k)) % N  # (N, K)
    v = torch.rand(B, Hw, N, k, generator=gen, dtype=F64).requires_grad_(True)
    reads = torch.softmax(torch.randn(B, R, N, generator=gen, dtype=F64), -1).requires_grad_(True)
    s = (torch.rand(B, R, Hw, generator=gen, dtype=F64) + 1).requires_grad_(True)
    link = SparseLink(v, cyclic.expand(B, Hw, N, k))
    for forward in (True, False):
        assert torch.autograd.gradcheck(
            lambda v_, r, s_, f=forward: sparse_directional_read_weights(link._replace(values=v_), r, f, s_),
            (v, reads, s),
        )
        assert torch.autograd.gradcheck(
            lambda v_, r, f=forward: sparse_directional_read_weights(link._replace(values=v_), r, f),
            (v, reads),
        )


def test_dense_round_trip_and_empty_link():
    gen = torch.Generator().manual_seed(3)
    empty = empty_sparse_link(2, 1, 5, 3, "cpu", F64)
    assert empty.columns[0, 0, 4].tolist() == [0, 1, 2] and (empty.values == 0).all()
    assert empty_sparse_link(2, 1, 5, 8, "cpu", F64).values.shape == (2, 1, 5, 5)  # K > N
    dense = prune_link(torch.rand(2, 1, 5, 5, generator=gen, dtype=F64) ** 4, 3)
    dense = dense * (dense.argsort(-1).argsort(-1) >= 2)  # ≤ 3 nonzeros per row
    torch.testing.assert_close(sparse_link_to_dense(sparse_link_from_dense(dense, 3), 5), dense)
