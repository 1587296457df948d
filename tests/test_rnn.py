import numpy as np
import pytest

import naive
from fastrnn.time_layers import RNN, TimeRNN
from support import TOL, randn, rnn_params

SHAPES = [  # N, T, D, H
    (1, 1, 1, 1),
    (1, 5, 3, 4),
    (4, 1, 6, 3),
    (3, 7, 5, 8),
    (20, 35, 16, 24),
    (37, 6, 9, 7),  # more than one batch tile
    (13, 4, 6, 70),  # several panels of units, the last partial; more rows than a block
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_time_rnn_matches_oracle(rng, dtype, N, T, D, H):
    Wx, Wh, b = rnn_params(rng, D, H, dtype)
    xs = randn(rng, (N, T, D), dtype)
    dhs = randn(rng, (N, T, H), dtype)
    h0 = randn(rng, (N, H), dtype, 0.5)
    layer = TimeRNN(Wx, Wh, b, stateful=True)
    layer.set_state(h0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    assert hs.dtype == dtype and dxs.dtype == dtype
    assert naive.rel_err(hs, naive.rnn_forward(xs, Wx, Wh, b, h0)) <= TOL[dtype]
    expected = naive.rnn_backward(xs, Wx, Wh, b, h0, dhs)
    for got, want in zip([dxs, *layer.grads, layer.dh], expected):
        assert naive.rel_err(got, want) <= TOL[dtype]


def test_time_rnn_noncontiguous_input(rng):
    Wx, Wh, b = rnn_params(rng, 6, 5, np.float32)
    xs_tm = randn(rng, (9, 4, 6), np.float32)  # time-major buffer
    xs = xs_tm.transpose(1, 0, 2)  # (N, T, D) view, not contiguous
    dhs = randn(rng, (4, 9, 10), np.float32)[:, :, ::2]
    layer = TimeRNN(Wx, Wh, b)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    h0 = np.zeros((4, 5))
    assert naive.rel_err(hs, naive.rnn_forward(xs, Wx, Wh, b, h0)) <= TOL[np.float32]
    assert naive.rel_err(dxs, naive.rnn_backward(xs, Wx, Wh, b, h0, dhs)[0]) <= TOL[np.float32]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_step_matches_oracle(rng, dtype):
    Wx, Wh, b = rnn_params(rng, 3, 4, dtype)
    x, h_prev, dh_next = randn(rng, (2, 3), dtype), randn(rng, (2, 4), dtype), randn(rng, (2, 4), dtype)
    cell = RNN(Wx, Wh, b)
    h_next = cell.forward(x, h_prev)
    dx, dh_prev = cell.backward(dh_next)
    assert h_next.dtype == dtype and dx.dtype == dtype
    assert naive.rel_err(h_next, naive.rnn_forward(x[:, None], Wx, Wh, b, h_prev)[:, 0]) <= TOL[dtype]
    exp = naive.rnn_backward(x[:, None], Wx, Wh, b, h_prev, dh_next[:, None])
    for got, want in zip([dx, *cell.grads, dh_prev], [exp[0][:, 0], *exp[1:]]):
        assert naive.rel_err(got, want) <= TOL[dtype]


def test_stateless_starts_from_zero_each_call(rng):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32)
    xs = randn(rng, (2, 5, 3), np.float32)
    layer = TimeRNN(Wx, Wh, b)
    first = layer.forward(xs)
    np.testing.assert_array_equal(layer.forward(xs), first)
    np.testing.assert_array_equal(layer.h, first[:, -1])
    layer.reset_state()
    assert layer.h is None


def test_identity_and_inplace_updates(rng):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32)
    layer = TimeRNN(Wx, Wh, b)
    params, grads = list(layer.params), list(layer.grads)
    assert params[0] is Wx and params[1] is Wh and params[2] is b
    xs = randn(rng, (2, 5, 3), np.float32)
    hs = layer.forward(xs)
    layer.backward(np.ones_like(hs))
    assert all(a is b for a, b in zip(layer.params, params))
    assert all(a is b for a, b in zip(layer.grads, grads))
    assert np.any(grads[0] != 0)
    Wh -= 0.5 * grads[1]  # in-place update, as optimizers do
    b += 1.0
    after = layer.forward(xs)
    assert naive.rel_err(after, naive.rnn_forward(xs, Wx, Wh, b, np.zeros((2, 4)))) <= TOL[np.float32]
    assert not np.array_equal(after, hs)


def test_matches_torch_rnn(rng, torch):
    N, T, D, H = 6, 12, 5, 7
    Wx, Wh, b = rnn_params(rng, D, H, np.float64)
    xs, dhs = randn(rng, (N, T, D), np.float64), randn(rng, (N, T, H), np.float64)
    layer = TimeRNN(Wx, Wh, b)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)

    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    x = torch.from_numpy(xs).requires_grad_()
    out, _ = rnn(x)
    out.backward(torch.from_numpy(dhs))
    assert naive.rel_err(hs, out.detach().numpy()) <= 1e-12
    assert naive.rel_err(dxs, x.grad.numpy()) <= 1e-12
    assert naive.rel_err(layer.grads[0], rnn.weight_ih_l0.grad.numpy().T) <= 1e-12
    assert naive.rel_err(layer.grads[1], rnn.weight_hh_l0.grad.numpy().T) <= 1e-12
    assert naive.rel_err(layer.grads[2], rnn.bias_ih_l0.grad.numpy()) <= 1e-12
