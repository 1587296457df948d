"""The fused output head (TimeAffine + TimeSoftmaxWithLoss in one step) against the oracle."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import naive
from fastrnn.kernels.head import GROUPS, column_tiles
from fastrnn.layers.affine import stacked_params
from fastrnn.layers.head import AffineSoftmaxLoss
from fastrnn.time_layers import TimeAffine, TimeSoftmaxWithLoss
from support import TOL, randn


def oracle(h, W, b, ts, ignore=-1, dout=1.0):
    """(loss, dh, dW, db) in float64 from the formulas."""
    N, T, D = h.shape
    h2 = np.asarray(h, np.float64).reshape(N * T, D)
    scores = (h2 @ W.astype(np.float64) + b.astype(np.float64)).reshape(N, T, -1)
    loss, dS = naive.softmax_cross_entropy(scores, ts, ignore)
    dS = dS.reshape(N * T, -1) * dout
    return loss, (dS @ W.T.astype(np.float64)).reshape(N, T, D), h2.T @ dS, dS.sum(axis=0)


def make_params(rng, D, V, dtype, layout):
    if layout == "stacked":
        W, b = stacked_params(D, V, dtype)
        W[...], b[...] = randn(rng, (D, V), dtype), randn(rng, (V,), dtype, 0.1)
        return W, b
    if layout == "tied":  # W a transposed (F-ordered) view, as in weight tying
        return randn(rng, (V, D), dtype).T, randn(rng, (V,), dtype, 0.1)
    return randn(rng, (D, V), dtype), randn(rng, (V,), dtype, 0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,V,layout", [(1, 1, 3, 1, "separate"), (2, 3, 5, 2, "stacked"),
                                            (3, 4, 7, 17, "tied"), (2, 5, 4, 700, "stacked"),
                                            (30, 35, 6, 8011, "separate")])  # the last: many column tiles
def test_fused_head_matches_oracle(rng, dtype, N, T, D, V, layout, products):
    W, b = make_params(rng, D, V, dtype, layout)
    h = randn(rng, (N, T, D), dtype, 2.0)
    ts = rng.integers(0, V, (N, T))
    ts[0, 0] = -1
    head = AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss())
    loss = head.forward(h, ts)
    dh = head.backward(dout=2.5)
    want = oracle(h, W, b, ts, dout=2.5)
    assert abs(loss - want[0]) <= TOL[dtype] * abs(want[0])
    for got, exp in zip((dh, *head.affine.grads), want[1:]):
        assert got.dtype == dtype
        assert naive.rel_err(got, exp) <= TOL[dtype]
    assert naive.rel_err(head.backward(), oracle(h, W, b, ts)[1]) <= TOL[dtype]  # backward again


def test_the_largest_case_has_several_tiles_a_group_and_a_narrower_last_tile():
    count, width = column_tiles(30 * 35, 8011)
    assert count > GROUPS and (count - 1) * width < 8011 < count * width


def test_custom_ignore_label_inside_the_vocabulary(rng):
    W, b = make_params(rng, 4, 9, np.float64, "separate")
    h = randn(rng, (2, 3, 4), np.float64)
    ts = np.array([[4, 1, 4], [0, 8, 2]])
    loss_layer = TimeSoftmaxWithLoss()
    loss_layer.ignore_label = 4
    head = AffineSoftmaxLoss(TimeAffine(W, b), loss_layer)
    loss = head.forward(h, ts)
    want = oracle(h, W, b, ts, ignore=4)
    assert abs(loss - want[0]) <= 1e-12
    assert naive.rel_err(head.backward(), want[1]) <= TOL[np.float64]
    assert naive.rel_err(head.affine.grads[0], want[2]) <= TOL[np.float64]


def test_every_label_ignored_gives_zero_loss_and_grads(rng):
    W, b = make_params(rng, 4, 9, np.float32, "separate")
    head = AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss())
    assert head.forward(randn(rng, (2, 3, 4), np.float32), np.full((2, 3), -1)) == 0.0
    np.testing.assert_array_equal(head.backward(), 0)
    np.testing.assert_array_equal(head.affine.grads[0], 0)


def test_huge_scores_stay_finite(rng):
    W = np.array([[1e30, -1e30, 0.0, 3e38]], np.float32)
    head = AffineSoftmaxLoss(TimeAffine(W, np.zeros(4, np.float32)), TimeSoftmaxWithLoss())
    h = np.ones((1, 1, 1), np.float32)
    loss = head.forward(h, np.array([[0]]))
    dh = head.backward()
    want = oracle(h, W, np.zeros(4, np.float32), np.array([[0]]))
    assert np.isfinite(loss) and abs(loss - want[0]) / want[0] <= 1e-6
    assert np.all(np.isfinite(dh)) and np.all(np.isfinite(head.affine.grads[0]))


def test_bad_labels_raise_before_any_kernel(rng):
    W, b = make_params(rng, 4, 9, np.float32, "separate")
    head = AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss())
    h = randn(rng, (2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"ts holds word id 9, outside \[0, 9\)"):
        head.forward(h, np.full((2, 3), 9))
    with pytest.raises(ValueError, match=r"x must have shape \(\*, \*, 4\), got \(2, 3, 5\)"):
        head.forward(randn(rng, (2, 3, 5), np.float32), np.zeros((2, 3), int))
    with pytest.raises(RuntimeError):
        AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss()).backward()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_bit_identical_with_1_and_2_threads(rng, products):
    W, b = make_params(rng, 6, 8011, np.float32, "stacked")
    h = randn(rng, (30, 35, 6), np.float32)
    ts = rng.integers(0, 8011, (30, 35))
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            head = AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss())
            out.append([head.forward(h, ts), head.backward(), *[g.copy() for g in head.affine.grads]])
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b_ in zip(*out):
        np.testing.assert_array_equal(a, b_)


def test_scipy_blas_fallback_gives_the_same_products():
    """FASTRNN_BLAS=scipy binds SciPy's LP64 BLAS instead of NumPy's ILP64 OpenBLAS."""
    code = ("import numpy as np; from fastrnn.kernels import blas; from fastrnn._matmul import matmul;"
            "r = np.random.default_rng(0); A = r.standard_normal((70, 33)); B = r.standard_normal((33, 301));"
            "print(blas.BLAS); print(np.abs(matmul(A, B) - A @ B).max(), np.abs(matmul(B.T, A.T) - B.T @ A.T).max())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, FASTRNN_BLAS="scipy")).stdout.split("\n")
    assert out[0].startswith("SciPy")
    assert max(map(float, out[1].split())) <= 1e-12
