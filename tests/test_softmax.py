import numpy as np
import pytest

import naive
from fastrnn.time_layers import TimeSoftmaxWithLoss
from support import TOL, randn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,V", [(1, 1, 1), (1, 1, 2), (3, 4, 17), (20, 35, 1000), (2, 3, 10001)])
def test_matches_oracle(rng, dtype, N, T, V):
    xs = randn(rng, (N, T, V), dtype, 3.0)
    ts = rng.integers(0, V, (N, T))
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    dxs = layer.backward()
    want_loss, want_dxs = naive.softmax_cross_entropy(xs, ts)
    assert abs(loss - want_loss) / max(abs(want_loss), 1e-300) <= TOL[dtype] or abs(loss - want_loss) <= 1e-12
    assert dxs.dtype == dtype
    assert naive.rel_err(dxs, want_dxs) <= TOL[dtype]


def test_ignore_label_and_dout(rng):
    xs = randn(rng, (4, 6, 9), np.float32)
    ts = rng.integers(0, 9, (4, 6))
    ts[0, :3] = -1
    ts[2, 5] = -1
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    dxs = layer.backward(dout=2.5)
    want_loss, want_dxs = naive.softmax_cross_entropy(xs, ts)
    assert abs(loss - want_loss) <= 1e-5 * want_loss
    assert naive.rel_err(dxs, 2.5 * want_dxs) <= TOL[np.float32]
    assert np.all(dxs[0, :3] == 0) and np.all(dxs[2, 5] == 0)


def test_custom_ignore_label(rng):
    xs = randn(rng, (2, 3, 5), np.float64)
    ts = np.array([[4, 4, 1], [0, 4, 2]])
    layer = TimeSoftmaxWithLoss()
    layer.ignore_label = 4
    loss = layer.forward(xs, ts)
    want_loss, want_dxs = naive.softmax_cross_entropy(xs, ts, ignore=4)
    assert abs(loss - want_loss) <= 1e-12
    assert naive.rel_err(layer.backward(), want_dxs) <= TOL[np.float64]


def test_all_labels_ignored_gives_zero_loss_and_grad(rng):
    layer = TimeSoftmaxWithLoss()
    assert layer.forward(randn(rng, (2, 3, 4), np.float32), np.full((2, 3), -1)) == 0.0
    np.testing.assert_array_equal(layer.backward(), 0)


def test_one_hot_labels_equal_ids(rng):
    xs = randn(rng, (3, 4, 6), np.float32)
    ts = rng.integers(0, 6, (3, 4))
    a, b = TimeSoftmaxWithLoss(), TimeSoftmaxWithLoss()
    assert a.forward(xs, ts) == b.forward(xs, np.eye(6, dtype=np.int32)[ts])
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_huge_scores_stay_finite():
    xs = np.array([[[1e30, -1e30, 0.0, 3e38]]], dtype=np.float32)
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, np.array([[0]]))
    dxs = layer.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(dxs))
    want_loss, want_dxs = naive.softmax_cross_entropy(xs, np.array([[0]]))
    assert abs(loss - want_loss) / want_loss <= 1e-6
    assert naive.rel_err(dxs, want_dxs) <= TOL[np.float32]


def test_backward_leaves_scores_untouched(rng):
    xs = randn(rng, (2, 3, 7), np.float32)
    copy = xs.copy()
    layer = TimeSoftmaxWithLoss()
    layer.forward(xs, rng.integers(0, 7, (2, 3)))
    layer.backward()
    np.testing.assert_array_equal(xs, copy)
