"""TimeLSTM / LSTM and TimeGRU / GRU against the float64 oracle, finite differences and torch
(finite differences and stateful chunking for TimeRNN too)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import naive
from fastrnn.time_layers import GRU, LSTM, TimeGRU, TimeLSTM, TimeRNN
from support import TOL, randn, rnn_params

SHAPES = [  # N, T, D, H
    (1, 1, 1, 1),
    (1, 5, 3, 4),
    (4, 1, 6, 3),
    (3, 7, 5, 8),
    (20, 35, 16, 24),
    (17, 6, 5, 9),  # two uneven batch tiles
    (70, 4, 9, 7),  # more than one batch tile
    (13, 4, 6, 70),  # several panels of units, the last partial; more rows than a block
    (12, 3, 5, 300),  # small batch, weight over 1 MB: split over hidden units
]


def lstm_case(rng, N, T, D, H, dtype):
    Wx, Wh, b = rnn_params(rng, D, H, dtype, gates=4)
    xs, dhs = randn(rng, (N, T, D), dtype), randn(rng, (N, T, H), dtype)
    h0, c0 = randn(rng, (N, H), dtype, 0.5), randn(rng, (N, H), dtype, 0.5)
    return Wx, Wh, b, xs, dhs, h0, c0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_time_lstm_matches_oracle(rng, dtype, N, T, D, H):
    Wx, Wh, b, xs, dhs, h0, c0 = lstm_case(rng, N, T, D, H, dtype)
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    layer.set_state(h0, c0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    assert hs.dtype == dtype and dxs.dtype == dtype
    want_hs, want_cs = naive.lstm_forward(xs, Wx, Wh, b, h0, c0)
    assert naive.rel_err(hs, want_hs) <= TOL[dtype]
    assert naive.rel_err(layer.c, want_cs[:, -1]) <= TOL[dtype]
    expected = naive.lstm_backward(xs, Wx, Wh, b, h0, c0, dhs)
    for got, want in zip([dxs, *layer.grads, layer.dh], expected):
        assert naive.rel_err(got, want) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_time_gru_matches_oracle(rng, dtype, N, T, D, H):
    Wx, Wh, b = rnn_params(rng, D, H, dtype, gates=3)
    xs, dhs, h0 = randn(rng, (N, T, D), dtype), randn(rng, (N, T, H), dtype), randn(rng, (N, H), dtype, 0.5)
    layer = TimeGRU(Wx, Wh, b, stateful=True)
    layer.set_state(h0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    assert hs.dtype == dtype and dxs.dtype == dtype
    assert naive.rel_err(hs, naive.gru_forward(xs, Wx, Wh, b, h0)) <= TOL[dtype]
    expected = naive.gru_backward(xs, Wx, Wh, b, h0, dhs)
    for got, want in zip([dxs, *layer.grads, layer.dh], expected):
        assert naive.rel_err(got, want) <= TOL[dtype]


@pytest.mark.parametrize("cls,gates", [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
def test_finite_differences(rng, cls, gates):
    N, T, D, H = 2, 4, 3, 5
    Wx, Wh, b = rnn_params(rng, D, H, np.float64, gates)
    xs, dhs = randn(rng, (N, T, D), np.float64), randn(rng, (N, T, H), np.float64)
    layer = cls(Wx, Wh, b)

    def loss():
        return float(np.sum(layer.forward(xs) * dhs))

    loss()
    dxs = layer.backward(dhs)
    for got, arr in [(dxs, xs), *zip(layer.grads, layer.params)]:
        assert naive.rel_err(got, naive.numerical_grad(loss, arr)) <= 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_step_matches_oracle(rng, dtype):
    Wx, Wh, b, xs, dhs, h0, c0 = lstm_case(rng, 3, 1, 4, 5, dtype)
    dc_next = randn(rng, (3, 5), dtype)
    cell = LSTM(Wx, Wh, b)
    h_next, c_next = cell.forward(xs[:, 0], h0, c0)
    dx, dh_prev, dc_prev = cell.backward(dhs[:, 0], dc_next)
    want_hs, want_cs = naive.lstm_forward(xs, Wx, Wh, b, h0, c0)
    assert h_next.dtype == dtype and dx.dtype == dtype
    assert naive.rel_err(h_next, want_hs[:, 0]) <= TOL[dtype]
    assert naive.rel_err(c_next, want_cs[:, 0]) <= TOL[dtype]
    exp = naive.lstm_backward(xs, Wx, Wh, b, h0, c0, dhs, dcT=dc_next)
    for got, want in zip([dx, *cell.grads, dh_prev, dc_prev], [exp[0][:, 0], *exp[1:]]):
        assert naive.rel_err(got, want) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_step_matches_oracle(rng, dtype):
    Wx, Wh, b = rnn_params(rng, 4, 5, dtype, gates=3)
    x, h_prev, dh_next = randn(rng, (3, 4), dtype), randn(rng, (3, 5), dtype), randn(rng, (3, 5), dtype)
    cell = GRU(Wx, Wh, b)
    h_next = cell.forward(x, h_prev)
    dx, dh_prev = cell.backward(dh_next)
    assert h_next.dtype == dtype and dx.dtype == dtype
    assert naive.rel_err(h_next, naive.gru_forward(x[:, None], Wx, Wh, b, h_prev)[:, 0]) <= TOL[dtype]
    exp = naive.gru_backward(x[:, None], Wx, Wh, b, h_prev, dh_next[:, None])
    for got, want in zip([dx, *cell.grads, dh_prev], [exp[0][:, 0], *exp[1:]]):
        assert naive.rel_err(got, want) <= TOL[dtype]


ORACLE = {TimeRNN: (naive.rnn_forward, naive.rnn_backward), TimeLSTM: (naive.lstm_forward, naive.lstm_backward),
          TimeGRU: (naive.gru_forward, naive.gru_backward)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,gates", [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
@pytest.mark.parametrize("N,H", [(5, 6), (12, 260)])
def test_stateful_chunks_equal_one_call(rng, dtype, cls, gates, N, H):
    """35 steps in one call equal 20 + 15 bit for bit; the backward of the second chunk
    is truncated BPTT from the carried state (a constant), as the oracle computes it."""
    Wx, Wh, b = rnn_params(rng, 8, H, dtype, gates)
    xs, dhs = randn(rng, (N, 35, 8), dtype), randn(rng, (N, 15, H), dtype)
    whole = cls(Wx, Wh, b, stateful=True).forward(xs)
    chunked = cls(Wx, Wh, b, stateful=True)
    parts = [chunked.forward(xs[:, :20]), chunked.forward(xs[:, 20:])]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    dxs = chunked.backward(dhs)
    forward, backward = ORACLE[cls]
    h0 = np.zeros((N, H))
    states = (h0, h0) if cls is TimeLSTM else (h0,)
    first = forward(xs[:, :20], Wx, Wh, b, *states)
    carried = (first[0][:, -1], first[1][:, -1]) if cls is TimeLSTM else (first[:, -1],)
    expected = backward(xs[:, 20:], Wx, Wh, b, *carried, dhs)
    for got, want in zip([dxs, *chunked.grads, chunked.dh], expected):
        assert naive.rel_err(got, want) <= TOL[dtype]


LAYERS_UNDER = """
import sys, numpy as np
from fastrnn.time_layers import TimeGRU, TimeLSTM, TimeRNN
rng = np.random.default_rng(7)
out = {}
for cls, G in ((TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)):
    for dtype in (np.float32, np.float64):
        D, H = 40, 70
        Wx = (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(dtype)
        Wh, b = (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(dtype), np.zeros(G * H, dtype)
        xs, dhs = rng.standard_normal((12, 35, D)).astype(dtype), rng.standard_normal((12, 35, H)).astype(dtype)
        whole = cls(Wx, Wh, b, stateful=True)
        key = f"{cls.__name__}-{np.dtype(dtype).name}"
        out[key + "-hs"] = whole.forward(xs)
        out[key + "-dxs"], out[key + "-dh"] = whole.backward(dhs), whole.dh
        chunked = cls(Wx, Wh, b, stateful=True)
        out[key + "-chunked"] = np.concatenate([chunked.forward(xs[:, :20]), chunked.forward(xs[:, 20:])], axis=1)
np.savez(sys.argv[1], **out)
"""


def test_rows_do_not_depend_on_the_blas_kernel(tmp_path):
    """Under OpenBLAS's own choice of kernel and under its Haswell (the one it runs on
    AMD Zen 1-3), Sandybridge and Nehalem kernels, 35 steps in one call equal 20 + 15,
    and hs, dxs and dh are the same bits whichever kernel runs: a recurrent layer's
    forward and input gradient make no BLAS product (only its weight gradients do)."""
    runs = {}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    for kind in ("own choice", "Haswell", "Sandybridge", "Nehalem"):
        env = clean | ({} if kind == "own choice" else {"OPENBLAS_CORETYPE": kind, "OPENBLAS_L2_SIZE": "524288"})
        path = tmp_path / f"{kind}.npz"
        subprocess.run([sys.executable, "-c", LAYERS_UNDER, str(path)], env=env, check=True)
        runs[kind] = np.load(path)
    first = runs["own choice"]
    for kind, run in runs.items():
        for key in first:
            if key.endswith("-chunked"):
                np.testing.assert_array_equal(run[key], run[key.replace("-chunked", "-hs")], err_msg=kind + key)
            np.testing.assert_array_equal(run[key], first[key], err_msg=f"{kind}: {key}")


def test_lstm_state_handling(rng):
    Wx, Wh, b, xs, _, h0, c0 = lstm_case(rng, 2, 5, 3, 4, np.float32)
    layer = TimeLSTM(Wx, Wh, b)
    first = layer.forward(xs)
    np.testing.assert_array_equal(layer.forward(xs), first)  # stateless: from zeros each call
    stateful = TimeLSTM(Wx, Wh, b, stateful=True)
    stateful.set_state(h0)  # c defaults to zeros
    hs = stateful.forward(xs)
    assert naive.rel_err(hs, naive.lstm_forward(xs, Wx, Wh, b, h0, np.zeros_like(c0))[0]) <= TOL[np.float32]
    stateful.reset_state()
    assert stateful.h is None and stateful.c is None
    np.testing.assert_array_equal(stateful.forward(xs), first)


@pytest.mark.parametrize("cls,gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_identity_and_inplace_updates(rng, cls, gates):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32, gates)
    layer = cls(Wx, Wh, b)
    params, grads = list(layer.params), list(layer.grads)
    xs = randn(rng, (2, 5, 3), np.float32)
    hs = layer.forward(xs)
    layer.backward(np.ones_like(hs))
    assert all(a is b for a, b in zip(layer.params, params)) and params[1] is Wh
    assert all(a is b for a, b in zip(layer.grads, grads))
    assert all(np.any(g != 0) for g in grads)
    Wh -= 0.5 * grads[1]
    assert not np.array_equal(layer.forward(xs), hs)


def test_matches_torch_lstm(rng, torch):
    N, T, D, H = 6, 12, 5, 7
    Wx, Wh, b, xs, dhs, h0, c0 = lstm_case(rng, N, T, D, H, np.float64)
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    layer.set_state(h0, c0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)

    to_torch = np.r_[2 * H:3 * H, 0:H, H:2 * H, 3 * H:4 * H]  # (f, g, i, o) -> torch's (i, f, g, o)
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx[:, to_torch].T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(Wh[:, to_torch].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[to_torch]))
        lstm.bias_hh_l0.zero_()
    x = torch.from_numpy(xs).requires_grad_()
    h = torch.from_numpy(h0[None].copy()).requires_grad_()
    out, _ = lstm(x, (h, torch.from_numpy(c0[None].copy())))
    out.backward(torch.from_numpy(dhs))
    from_torch = np.argsort(to_torch)
    assert naive.rel_err(hs, out.detach().numpy()) <= 1e-12
    assert naive.rel_err(dxs, x.grad.numpy()) <= 1e-12
    assert naive.rel_err(layer.dh, h.grad.numpy()[0]) <= 1e-12
    assert naive.rel_err(layer.grads[0], lstm.weight_ih_l0.grad.numpy().T[:, from_torch]) <= 1e-12
    assert naive.rel_err(layer.grads[1], lstm.weight_hh_l0.grad.numpy().T[:, from_torch]) <= 1e-12
    assert naive.rel_err(layer.grads[2], lstm.bias_ih_l0.grad.numpy()[from_torch]) <= 1e-12


@pytest.mark.parametrize("cls,gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_bad_input(rng, cls, gates):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32, gates)
    G, name = gates, cls.__name__
    with pytest.raises(ValueError, match=rf"{name}: Wh must have shape \(4, {4 * G}\), got \(4, {4 * G - 1}\)"):
        cls(Wx, Wh[:, :-1], b)
    with pytest.raises(ValueError, match=rf"{name}: Wx must have shape \(D, {G}\*H\), got \(3, {4 * G - 1}\)"):
        cls(Wx[:, :-1], Wh, b)
    with pytest.raises(ValueError, match=rf"{name}: b must have shape \({4 * G},\), got \({4 * G - 1},\)"):
        cls(Wx, Wh, b[:-1])
    layer = cls(Wx, Wh, b, stateful=True)
    with pytest.raises(ValueError, match=r"xs must have shape \(\*, \*, 3\), got \(2, 5, 4\)"):
        layer.forward(randn(rng, (2, 5, 4), np.float32))
    with pytest.raises(TypeError, match="xs must hold real numbers, got dtype bool"):
        layer.forward(np.zeros((2, 5, 3), bool))
    layer.forward(randn(rng, (2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="xs has batch size 3 but the carried state h has 2"):
        layer.forward(randn(rng, (3, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"dhs must have shape \(2, 5, 4\), got \(2, 4, 4\)"):
        layer.backward(np.ones((2, 4, 4), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        cls(Wx, Wh, b).backward(np.ones((2, 5, 4), np.float32))


def test_lstm_set_state_checks_c(rng):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32, 4)
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    with pytest.raises(ValueError, match=r"c must have shape \(2, 4\), got \(3, 4\)"):
        layer.set_state(np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32))
