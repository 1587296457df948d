"""Slow, obviously correct float64 implementations written from the formulas.

The oracle of every test: nothing here calls fastrnn.
"""
import numpy as np


def rnn_forward(xs, Wx, Wh, b, h0):
    """hs[:, t] = tanh(hs[:, t-1] @ Wh + xs[:, t] @ Wx + b), hs[:, -1] = h0."""
    xs, Wx, Wh, b, h = (np.asarray(a, np.float64) for a in (xs, Wx, Wh, b, h0))
    N, T, _ = xs.shape
    hs = np.zeros((N, T, Wh.shape[0]))
    for t in range(T):
        h = np.tanh(h @ Wh + xs[:, t] @ Wx + b)
        hs[:, t] = h
    return hs


def rnn_backward(xs, Wx, Wh, b, h0, dhs):
    """Gradients (dxs, dWx, dWh, db, dh0) of sum(hs * dhs) by backprop through time."""
    xs, Wx, Wh, h0, dhs = (np.asarray(a, np.float64) for a in (xs, Wx, Wh, h0, dhs))
    hs = rnn_forward(xs, Wx, Wh, b, h0)
    N, T, _ = xs.shape
    dxs = np.zeros_like(xs)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dh = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        dt = (dhs[:, t] + dh) * (1 - hs[:, t] ** 2)
        dWx += xs[:, t].T @ dt
        dWh += h_prev.T @ dt
        db += dt.sum(axis=0)
        dxs[:, t] = dt @ Wx.T
        dh = dt @ Wh.T
    return dxs, dWx, dWh, db, dh


def embedding_backward(ids, dout, V):
    dW = np.zeros((V, dout.shape[-1]))
    for i, row in zip(np.ravel(ids), np.asarray(dout, np.float64).reshape(-1, dout.shape[-1])):
        dW[i] += row
    return dW


def softmax_cross_entropy(xs, ts, ignore=-1):
    """(loss, dxs): mean over non-ignored positions of -log softmax(xs)[t], and its gradient."""
    xs = np.asarray(xs, np.float64)
    N, T, V = xs.shape
    x = xs.reshape(-1, V)
    t = np.ravel(ts)
    keep = t != ignore
    count = keep.sum()
    z = x - x.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    rows = np.flatnonzero(keep)
    loss = -log_p[rows, t[rows]].sum() / count if count else 0.0
    dx = p.copy()
    dx[rows, t[rows]] -= 1
    dx[~keep] = 0
    dx = dx / count if count else np.zeros_like(dx)
    return loss, dx.reshape(N, T, V)


def rel_err(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the array's scale."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected))
    return np.max(np.abs(actual - expected)) / (scale if scale > 0 else 1.0)


def numerical_grad(f, x, eps=1e-6):
    """Central differences of scalar f() w.r.t. every element of x (float64, changed in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g
