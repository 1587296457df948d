"""Row-sparse embedding gradients (``fastrnn.sparse``): each operation of the
training step gives the bits the dense operation gives on the whole array."""
import numpy as np
import pytest

from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm, sparse
from fastrnn._elementwise import sgd_, sum_of_squares
from fastrnn.layers.embedding import TimeEmbedding
from fastrnn.optimizer import SGD, AdaGrad, Adam, Momentum
from fastrnn.trainer import remove_duplicate, train_step
from fastrnn.util import clip_grads


def row_grad_and_dense(rng, V, D, N, T, groups, dtype):
    """(RowGrad, dense grad) of one embedding backward: ids with repeats, the first and last rows."""
    W = rng.standard_normal((V, D)).astype(dtype)
    ids = rng.integers(0, V, (N, T))
    ids[0, :3] = V - 1
    ids[-1, -2:] = 0
    dout = rng.standard_normal((N, T, D)).astype(dtype)
    layer = TimeEmbedding(W)
    layer.groups = groups
    layer.forward(ids)
    layer.backward(dout)
    dense = layer.grads[0].copy()
    layer.row_grads = True
    layer.forward(ids)
    layer.backward(dout)
    return layer.row_grad, dense, W


SHAPES = [  # V, D, N, T: D a multiple of the lanes or not, V*D with and without a tail past the lanes
    (5000, 650, 20, 35), (2000, 64, 7, 9), (333, 101, 5, 9), (70, 100, 4, 6), (40, 3, 3, 4)]


@pytest.mark.parametrize("V,D,N,T", SHAPES)
@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_equal_the_dense_gradient_bit_for_bit(rng, V, D, N, T, groups, dtype):
    g, dense, W = row_grad_and_dense(rng, V, D, N, T, groups, dtype)
    assert np.all(np.diff(g.rows) > 0)
    assert not np.any(np.delete(dense, g.rows, axis=0))  # no gradient elsewhere
    np.testing.assert_array_equal(g.values, dense[g.rows])
    assert sparse.sum_of_squares(g) == sum_of_squares(dense)
    p_dense, p_rows = W.copy(), W.copy()
    sgd_(p_dense, dense, 0.37)
    sparse.sgd(p_rows, g, 0.37)
    np.testing.assert_array_equal(p_rows, p_dense)
    np.testing.assert_array_equal(g.densify(), dense)


def test_merge_adds_rows_as_the_dense_sum_does(rng):
    dense = np.zeros((50, 4), np.float32)
    a = sparse.RowGrad(np.array([1, 5, 9]), rng.standard_normal((3, 4)).astype(np.float32), dense)
    b = sparse.RowGrad(np.array([0, 5, 30]), rng.standard_normal((3, 4)).astype(np.float32), dense.copy())
    a.values[0, 0] = -0.0  # a negative zero alone in a row becomes +0 in the dense sum
    want = a.densify().copy() + b.densify()
    m = sparse.merge(a, b)
    np.testing.assert_array_equal(m.rows, [0, 1, 5, 9, 30])
    got = m.densify()
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got[1, 0]) == np.signbit(want[1, 0])


@pytest.mark.parametrize("V,D,U", [(130, 70, 9), (64, 64, 64), (3, 1, 0), (1000, 33, 200)])
def test_merge_adds_a_transposed_dense_grad_as_the_dense_sum_does(rng, V, D, U):
    """A tied output weight's grad (given as the transpose of a (D, V) array) added to
    the embedding's row grad: the dense sum's bits, signs of zeros included."""
    rows = np.sort(rng.choice(V, U, replace=False))
    values = rng.standard_normal((U, D)).astype(np.float32)
    bT = rng.standard_normal((D, V)).astype(np.float32)
    bT[rng.random((D, V)) < 0.1] = -0.0  # -0 alone stays -0 only where a row adds to it
    values[rng.random((U, D)) < 0.1] = -0.0
    a = sparse.RowGrad(rows, values, np.full((V, D), np.nan, np.float32))
    want = np.zeros((V, D), np.float32)
    want[rows] = values
    want += bT.T
    got = sparse.merge(a, bT.T)
    assert got is a.dense
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    strided = sparse.merge(sparse.RowGrad(rows, values, np.empty((V, D), np.float32)), bT[:, ::-1].T[::-1])
    np.testing.assert_array_equal(strided, want)  # not the transpose of a C-ordered array: NumPy's sum


def dense_step(model, optimizer, xs, ts, max_grad):
    model.forward(xs, ts)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    clip_grads(grads, max_grad)
    optimizer.update(params, grads)


MODELS = [(SimpleRnnlm, (300, 20, 30), {}), (Rnnlm, (500, 30, 40), {}), (BetterRnnlm, (400, 32, 32), {}),
          (Rnnlm, (500, 30, 40), dict(head="adaptive", cutoffs=[20, 100])),
          (BetterRnnlm, (400, 32, 32), dict(head="adaptive", cutoffs=[50, 150], div_value=2))]


@pytest.mark.parametrize("cls,args,head", MODELS)
@pytest.mark.parametrize("optimizer", [lambda: SGD(5.0), lambda: Momentum(0.5), lambda: Adam(0.01)])
def test_training_step_is_the_dense_step_bit_for_bit(cls, args, head, optimizer):
    runs = []
    for step in (train_step, dense_step):
        np.random.seed(3)
        order = np.random.default_rng(7).permutation(args[0]) if head else None
        model = cls(*args, **head, **({"order": order} if head else {}))
        opt = optimizer()
        rng = np.random.default_rng(1)
        for i in range(4):
            xs, ts = rng.integers(0, args[0], (6, 7)), rng.integers(0, args[0], (6, 7))
            if step is train_step:
                train_step(model, opt, xs, ts, 0.25, i + 1)
            else:
                dense_step(model, opt, xs, ts, 0.25)
        runs.append(model.params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_the_sparse_step_leaves_the_dense_embedding_grad_unwritten():
    """Its pages are never touched: at a large vocabulary they never become resident.
    (An array below the kernels' size goes through NumPy, densified.)"""
    np.random.seed(0)
    model = Rnnlm(5000, 16, 16, head="adaptive")
    rng = np.random.default_rng(0)
    train_step(model, SGD(1.0), rng.integers(0, 5000, (4, 5)), rng.integers(0, 5000, (4, 5)), 0.25, 1)
    assert not np.any(model.grads[0])


def test_a_users_optimizer_gets_dense_grads():
    """An optimizer of the user's own (the reference's, say) sees plain arrays."""
    seen = []

    class Plain:
        def update(self, params, grads):
            seen.extend(type(g) for g in grads)

    np.random.seed(0)
    model = Rnnlm(100, 8, 8)
    train_step(model, Plain(), np.zeros((2, 3), int), np.ones((2, 3), int), 0.25, 1)
    assert set(seen) == {np.ndarray}
    assert np.any(model.grads[0])


def test_adagrad_densifies_row_grads(rng):
    p = rng.standard_normal((40000, 2)).astype(np.float32)
    g, dense, _ = row_grad_and_dense(rng, 40000, 2, 3, 4, 1, np.float32)
    a, b = AdaGrad(0.1), AdaGrad(0.1)
    q = p.copy()
    a.update([p], [g])
    b.update([q], [dense])
    np.testing.assert_array_equal(p, q)
