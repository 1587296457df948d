"""TimeDropout, TimeBiLSTM and TimeSigmoidWithLoss against NumPy oracles."""
import numpy as np
import pytest

import naive
from fastrnn.time_layers import TimeBiLSTM, TimeDropout, TimeSigmoidWithLoss
from support import TOL, randn, rnn_params


def test_dropout_eval_is_identity_and_train_masks(rng):
    xs = randn(rng, (4, 5, 6), np.float32)
    layer = TimeDropout(0.3, seed=1)
    layer.train_flg = False
    assert layer.forward(xs) is xs
    layer.train_flg = True
    out = layer.forward(xs)
    kept = out != 0
    np.testing.assert_allclose(out[kept], xs[kept] / 0.7, rtol=1e-6)
    dout = randn(rng, xs.shape, np.float32)
    np.testing.assert_allclose(layer.backward(dout), np.where(kept, dout / 0.7, 0), rtol=1e-6)


Z = 5.0
"""Bound, in standard deviations, of the dropout count test: a correct layer fails it
with probability 5.7e-7 per ratio (two-sided normal tail), whatever its seed."""


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_dropout_keeps_with_probability_one_minus_ratio(ratio):
    n = 200_000
    xs = np.full((40, 50, 100), 2.0, np.float32)
    out = TimeDropout(ratio, seed=11).forward(xs)
    kept = int(np.count_nonzero(out))
    p = 1 - ratio
    assert abs(kept - n * p) <= Z * np.sqrt(n * p * (1 - p)), f"kept {kept} of {n}, expected {n * p:.0f}"
    np.testing.assert_allclose(out[out != 0], 2.0 / p, rtol=1e-6)  # inverted dropout: scaled by 1/(1-ratio)


def test_dropout_reproducibility(rng):
    xs = np.ones((50, 40, 30), np.float32)
    np.testing.assert_array_equal(TimeDropout(0.5, seed=7).forward(xs), TimeDropout(0.5, seed=7).forward(xs))
    np.random.seed(3)
    a = TimeDropout(0.5).forward(xs)
    np.random.seed(3)
    np.testing.assert_array_equal(TimeDropout(0.5).forward(xs), a)  # seeded by np.random.seed
    with pytest.raises(ValueError, match="dropout_ratio"):
        TimeDropout(1.0)


@pytest.mark.parametrize("ratio,row0,dtype,locked", [(0.5, 0, np.float32, False), (0.3, 17, np.float64, False),
                                                     (0.0, 3, np.float32, False), (0.4, 5, np.float32, True)])
def test_dropout_masks_follow_the_stated_generator(rng, ratio, row0, dtype, locked):
    """Forward and backward of three calls against masks computed from the generator's
    formulas (SplitMix64 of the seed, the call, the row's place and the element; locked:
    one mask a row for every time step)."""
    layer = TimeDropout(ratio, seed=41, locked=locked)
    layer.row0 = row0
    for call in range(3):
        xs, dout = randn(rng, (3, 4, 5), dtype), randn(rng, (3, 4, 5), dtype)
        mask = naive.dropout_mask(41, call, row0, xs.shape, ratio, locked)
        np.testing.assert_allclose(layer.forward(xs), xs * mask, rtol=1e-6)
        np.testing.assert_allclose(layer.backward(dout), dout * mask, rtol=1e-6)
        np.testing.assert_array_equal(layer.mask, mask.astype(dtype))
    assert layer.calls == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bilstm_is_forward_and_reversed_lstm(rng, dtype):
    N, T, D, H = 3, 6, 4, 5
    p1, p2 = rnn_params(rng, D, H, dtype, 4), rnn_params(rng, D, H, dtype, 4)
    xs, dhs = randn(rng, (N, T, D), dtype), randn(rng, (N, T, 2 * H), dtype)
    layer = TimeBiLSTM(*p1, *p2)
    out = layer.forward(xs)
    zeros = np.zeros((N, H))
    fwd = naive.lstm_forward(xs, *p1, zeros, zeros)[0]
    bwd = naive.lstm_forward(xs[:, ::-1], *p2, zeros, zeros)[0][:, ::-1]
    assert naive.rel_err(out, np.concatenate([fwd, bwd], axis=2)) <= TOL[dtype]
    dxs = layer.backward(dhs)
    g1 = naive.lstm_backward(xs, *p1, zeros, zeros, dhs[:, :, :H])
    g2 = naive.lstm_backward(xs[:, ::-1], *p2, zeros, zeros, dhs[:, ::-1, H:])
    assert naive.rel_err(dxs, g1[0] + g2[0][:, ::-1]) <= TOL[dtype]
    for got, want in zip(layer.grads, [*g1[1:4], *g2[1:4]]):
        assert naive.rel_err(got, want) <= TOL[dtype]
    assert all(p is q for p, q in zip(layer.params, [*p1, *p2]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_with_loss(rng, dtype):
    xs = randn(rng, (4, 6), dtype, 3.0)
    xs[0, :3] = [80.0, -80.0, 0.0]  # large scores stay finite
    ts = rng.integers(0, 2, (4, 6))
    layer = TimeSigmoidWithLoss()
    loss = layer.forward(xs, ts)
    x = xs.astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    want = np.mean(np.logaddexp(0, np.where(ts == 1, -x, x)))  # -log p(label), finite at +-80
    assert loss == pytest.approx(want, rel=TOL[dtype])
    assert naive.rel_err(layer.backward(2.0), (p - ts) * 2.0 / ts.size) <= TOL[dtype]
    with pytest.raises(ValueError, match=r"ts holds word id 2, outside \[0, 2\)"):
        layer.forward(xs, ts + 1)
