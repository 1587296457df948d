import numpy as np
import pytest

import naive
from fastrnn.time_layers import Embedding, TimeAffine, TimeEmbedding
from support import TOL, randn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,V,D", [(1, 1, 1, 1), (3, 4, 5, 2), (20, 35, 50, 16), (7, 3, 1000, 5)])
def test_time_embedding_matches_oracle(rng, dtype, N, T, V, D):
    W = randn(rng, (V, D), dtype)
    ids = rng.integers(0, min(V, 4), (N, T))  # few distinct ids: many repeats
    dout = randn(rng, (N, T, D), dtype)
    layer = TimeEmbedding(W)
    out = layer.forward(ids)
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(out, W[ids])
    assert naive.rel_err(layer.grads[0], naive.embedding_backward(ids, dout, V)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("V", [64, 1000, 10_000])
def test_embedding_gradient_over_the_whole_vocabulary(rng, dtype, V):
    """Ids spread over every partition of the scatter-add, with repeats, compared in full."""
    N, T, D = 20, 35, 7
    ids = rng.integers(0, V, (N, T))
    ids[0, :10] = V - 1  # the last row, repeated
    ids[1, :5] = 0
    dout = randn(rng, (N, T, D), dtype)
    layer = TimeEmbedding(randn(rng, (V, D), dtype))
    layer.forward(ids)
    layer.backward(dout)
    assert naive.rel_err(layer.grads[0], naive.embedding_backward(ids, dout, V)) <= TOL[dtype]


def test_embedding_backward_overwrites_previous_grad(rng):
    W = randn(rng, (10, 3), np.float32)
    layer = TimeEmbedding(W)
    layer.forward(np.array([[1, 2]]))
    layer.backward(np.ones((1, 2, 3), np.float32))
    layer.forward(np.array([[5, 5]]))
    layer.backward(np.ones((1, 2, 3), np.float32))
    expected = np.zeros((10, 3))
    expected[5] = 2
    np.testing.assert_array_equal(layer.grads[0], expected)


def test_embedding_step_and_int32_ids(rng):
    W = randn(rng, (9, 4), np.float32)
    layer = Embedding(W)
    idx = np.array([3, 0, 3], dtype=np.int32)
    np.testing.assert_array_equal(layer.forward(idx), W[idx])
    layer.backward(np.ones((3, 4), np.float32))
    assert naive.rel_err(layer.grads[0], naive.embedding_backward(idx, np.ones((3, 4)), 9)) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,M", [(1, 1, 1, 1), (2, 3, 4, 5), (20, 35, 16, 300)])
def test_time_affine_matches_oracle(rng, dtype, N, T, D, M, products):
    W, b = randn(rng, (D, M), dtype), randn(rng, (M,), dtype)
    x, dout = randn(rng, (N, T, D), dtype), randn(rng, (N, T, M), dtype)
    layer = TimeAffine(W, b)
    out = layer.forward(x)
    dx = layer.backward(dout)
    x64, d64 = x.astype(np.float64).reshape(-1, D), dout.astype(np.float64).reshape(-1, M)
    assert naive.rel_err(out, (x64 @ W + b).reshape(N, T, M)) <= TOL[dtype]
    assert naive.rel_err(dx, (d64 @ W.astype(np.float64).T).reshape(N, T, D)) <= TOL[dtype]
    assert naive.rel_err(layer.grads[0], x64.T @ d64) <= TOL[dtype]
    assert naive.rel_err(layer.grads[1], d64.sum(axis=0)) <= TOL[dtype]


def test_time_affine_with_transposed_weight_view(rng, products):
    """Weight tying: the affine weight is embed_W.T, a Fortran-ordered view."""
    embed_W = randn(rng, (40, 6), np.float32)
    W = embed_W.T
    layer = TimeAffine(W, np.zeros(40, np.float32))
    assert layer.params[0] is W and not W.flags.c_contiguous
    x, dout = randn(rng, (3, 5, 6), np.float32), randn(rng, (3, 5, 40), np.float32)
    out = layer.forward(x)
    layer.backward(dout)
    x64, d64 = x.astype(np.float64).reshape(-1, 6), dout.astype(np.float64).reshape(-1, 40)
    assert naive.rel_err(out, (x64 @ embed_W.T.astype(np.float64)).reshape(3, 5, 40)) <= TOL[np.float32]
    assert naive.rel_err(layer.grads[0], x64.T @ d64) <= TOL[np.float32]
    embed_W[0, 0] += 1.0  # an in-place change of the shared buffer is seen through the view
    assert naive.rel_err(layer.forward(x), (x64 @ embed_W.T.astype(np.float64)).reshape(3, 5, 40)) <= TOL[np.float32]
