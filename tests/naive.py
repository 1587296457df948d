"""Slow, obviously correct float64 implementations written from the formulas.

The oracle of every test: nothing here calls fastrnn.
"""
import math

import numpy as np


def rnn_forward(xs, Wx, Wh, b, h0):
    """hs[:, t] = tanh(hs[:, t-1] @ Wh + xs[:, t] @ Wx + b), hs[:, -1] = h0."""
    xs, Wx, Wh, b, h = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, b, h0))
    N, T, _ = xs.shape
    hs = np.zeros((N, T, Wh.shape[0]))
    for t in range(T):
        h = np.tanh(h @ Wh + xs[:, t] @ Wx + b)
        hs[:, t] = h
    return hs


def rnn_backward(xs, Wx, Wh, b, h0, dhs):
    """Gradients (dxs, dWx, dWh, db, dh0) of sum(hs * dhs) by backprop through time."""
    xs, Wx, Wh, h0, dhs = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, h0, dhs))
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
    for i, row in zip(np.ravel(ids), np.asanyarray(dout, np.float64).reshape(-1, dout.shape[-1])):
        dW[i] += row
    return dW


def softmax_cross_entropy(xs, ts, ignore=-1):
    """(loss, dxs): mean over non-ignored positions of -log softmax(xs)[t], and its gradient."""
    xs = np.asanyarray(xs, np.float64)
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


def bf16_round(x):
    """x rounded to the nearest bfloat16 (8 significant bits, ties to even), as
    float64: the spacing of the values near x is 2**(e - 8) for x = m * 2**e,
    m in [0.5, 1), and never below 2**-133 (bfloat16's subnormals); infinities
    and NaN stay what they are, and a value that rounds to 2**128 or beyond is
    an infinity (bfloat16 has float32's exponent range)."""
    x = np.asarray(x, np.float64).view(np.ndarray)
    _, e = np.frexp(x)
    q = np.ldexp(1.0, np.maximum(e, -125) - 8)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.where(np.isfinite(x), np.rint(x / q) * q, x)
    return np.where(np.abs(r) >= 2.0**128, np.copysign(np.inf, r), r)


class Bf16Operands(np.ndarray):
    """float64 values whose matrix products round both operands to bfloat16
    first (``bf16_round``) and then multiply exactly (in float64): given as the
    inputs of the oracles above, every product they make is of rounded operands,
    what fastrnn's ``precision="bf16"`` does with float32 sums."""

    def __matmul__(self, other):
        return np.matmul(bf16_round(self), bf16_round(other)).view(Bf16Operands)

    def __rmatmul__(self, other):
        return np.matmul(bf16_round(other), bf16_round(self)).view(Bf16Operands)

    def __array_function__(self, func, types, args, kwargs):  # hstack and the like keep the class
        out = super().__array_function__(func, types, args, kwargs)
        return out.view(Bf16Operands) if isinstance(out, np.ndarray) and out.dtype.kind == "f" else out


def bf16_operands(*arrays):
    """The arrays as float64 ``Bf16Operands``."""
    return tuple(np.asarray(a, np.float64).view(Bf16Operands) for a in arrays)


def rel_err(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the array's scale."""
    actual, expected = np.asanyarray(actual, np.float64), np.asanyarray(expected, np.float64)
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


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_forward(xs, Wx, Wh, b, h0, c0):
    """(hs, cs) of the LSTM with gates f, g, i, o along 4H (the reference's layout)."""
    xs, Wx, Wh, b, h, c = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, b, h0, c0))
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs, cs = np.zeros((N, T, H)), np.zeros((N, T, H))
    for t in range(T):
        a = xs[:, t] @ Wx + h @ Wh + b
        f, g, i, o = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + g * i
        h = o * np.tanh(c)
        hs[:, t], cs[:, t] = h, c
    return hs, cs


def lstm_backward(xs, Wx, Wh, b, h0, c0, dhs, dcT=None):
    """Gradients (dxs, dWx, dWh, db, dh0, dc0) of sum(hs * dhs) + sum(c_T * dcT)."""
    xs, Wx, Wh, b, h0, c0, dhs = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, b, h0, c0, dhs))
    hs, cs = lstm_forward(xs, Wx, Wh, b, h0, c0)
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dxs, dWx, dWh, db = np.zeros_like(xs), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh, dc = np.zeros_like(h0), (np.zeros_like(c0) if dcT is None else np.asanyarray(dcT, np.float64))
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        c_prev = cs[:, t - 1] if t > 0 else c0
        a = xs[:, t] @ Wx + h_prev @ Wh + b
        f, g, i, o = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        tc = np.tanh(cs[:, t])
        dh = dhs[:, t] + dh
        ds = dc + dh * o * (1 - tc ** 2)
        dA = np.hstack([ds * c_prev * f * (1 - f), ds * i * (1 - g ** 2), ds * g * i * (1 - i),
                        dh * tc * o * (1 - o)])
        dc = ds * f
        dWx += xs[:, t].T @ dA
        dWh += h_prev.T @ dA
        db += dA.sum(axis=0)
        dxs[:, t] = dA @ Wx.T
        dh = dA @ Wh.T
    return dxs, dWx, dWh, db, dh, dc


def gru_forward(xs, Wx, Wh, b, h0):
    """hs of the GRU with gates z, r, candidate along 3H (the reference's layout)."""
    xs, Wx, Wh, b, h = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, b, h0))
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs = np.zeros((N, T, H))
    for t in range(T):
        ax = xs[:, t] @ Wx + b
        z = sigmoid(ax[:, :H] + h @ Wh[:, :H])
        r = sigmoid(ax[:, H:2 * H] + h @ Wh[:, H:2 * H])
        h_hat = np.tanh(ax[:, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
        h = (1 - z) * h + z * h_hat
        hs[:, t] = h
    return hs


def gru_backward(xs, Wx, Wh, b, h0, dhs):
    """Gradients (dxs, dWx, dWh, db, dh0) of sum(hs * dhs), written as the reference's step."""
    xs, Wx, Wh, b, h0, dhs = (np.asanyarray(a, np.float64) for a in (xs, Wx, Wh, b, h0, dhs))
    hs = gru_forward(xs, Wx, Wh, b, h0)
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dxs, dWx, dWh, db = np.zeros_like(xs), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        x = xs[:, t]
        ax = x @ Wx + b
        z = sigmoid(ax[:, :H] + h_prev @ Wh[:, :H])
        r = sigmoid(ax[:, H:2 * H] + h_prev @ Wh[:, H:2 * H])
        h_hat = np.tanh(ax[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:])
        dh_next = dhs[:, t] + dh
        dt = dh_next * z * (1 - h_hat ** 2)
        dhr = dt @ Wh[:, 2 * H:].T
        dz = dh_next * (h_hat - h_prev) * z * (1 - z)
        dr = dhr * h_prev * r * (1 - r)
        dA = np.hstack([dz, dr, dt])
        dWx += x.T @ dA
        dWh[:, :2 * H] += h_prev.T @ dA[:, :2 * H]
        dWh[:, 2 * H:] += (r * h_prev).T @ dt
        db += dA.sum(axis=0)
        dxs[:, t] = dA @ Wx.T
        dh = dh_next * (1 - z) + r * dhr + dA[:, :2 * H] @ Wh[:, :2 * H].T
    return dxs, dWx, dWh, db, dh


def language_model_loss(embed_W, cells, affine_W, affine_b, xs, ts, states=None, masks=None, head=None,
                        word_scales=None, ar=0.0, tar=0.0):
    """Mean cross-entropy of a language model (float64): embedding, then each
    cell ``("rnn" | "lstm" | "gru", Wx, Wh, b)`` in turn, then the affine map (or
    ``head(hs (N*T, H), ts)``, an output layer's loss, when given).

    ``states`` gives each cell's initial state (h0, or (h0, c0) for an LSTM;
    zeros when None).  ``masks`` (len(cells) + 1 arrays, or None) are inverted-
    dropout masks, scale included, applied to the embedding output and to each
    cell's output.  ``word_scales`` (V,) multiplies each word's embedding row
    (embedding dropout); ``ar`` adds ar * mean(h**2) of the last cell's masked
    output, ``tar`` adds tar * mean((h[:, t+1] - h[:, t])**2) of its output
    before the mask (AWD-LSTM's AR and TAR).  Returns (loss, last states).
    """
    hs = np.asanyarray(embed_W, np.float64)[xs]
    if word_scales is not None:
        hs = hs * np.asanyarray(word_scales, np.float64)[xs][..., None]
    N = xs.shape[0]
    masks = masks if masks is not None else [None] * (len(cells) + 1)
    last = []
    for k, (kind, Wx, Wh, b) in enumerate(cells):
        if masks[k] is not None:
            hs = hs * masks[k]
        H = Wh.shape[0]
        s = states[k] if states is not None else None
        if kind in ("rnn", "gru"):
            h0 = np.zeros((N, H)) if s is None else s
            hs = (rnn_forward if kind == "rnn" else gru_forward)(hs, Wx, Wh, b, h0)
            last.append(hs[:, -1])
        else:
            h0, c0 = (np.zeros((N, H)), np.zeros((N, H))) if s is None else s
            hs, cs = lstm_forward(hs, Wx, Wh, b, h0, c0)
            last.append((hs[:, -1], cs[:, -1]))
    penalty = tar * np.mean((hs[:, 1:] - hs[:, :-1]) ** 2) if tar else 0.0
    if masks[-1] is not None:
        hs = hs * masks[-1]
    penalty += ar * np.mean(hs ** 2) if ar else 0.0
    if head is not None:
        return head(hs.reshape(-1, hs.shape[-1]), ts) + penalty, last
    scores = hs @ np.asanyarray(affine_W, np.float64) + np.asanyarray(affine_b, np.float64)
    return softmax_cross_entropy(scores, ts)[0] + penalty, last


def log_softmax(S):
    S = S - S.max(axis=1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=1, keepdims=True))


def adaptive_log_prob(x, W, b, tails, cutoffs, order=None):
    """log p (R, V) of every word, in id order, of an adaptive softmax (float64).

    Ranks k (``order[k]`` the word of rank k; None: ids are ranks) below
    cutoffs[0] are the head's columns k; ranks in [cutoffs[i], cutoffs[i+1])
    (the last up to V) are cluster i's: the head's column cutoffs[0] + i plus the
    log softmax of ``(x @ P_i) @ W_i`` at k - cutoffs[i]."""
    x = np.asanyarray(x, np.float64)
    c0, V = cutoffs[0], cutoffs[-1] + tails[-1][1].shape[1]
    bounds = list(cutoffs) + [V]
    head = log_softmax(x @ np.asanyarray(W, np.float64) + np.asanyarray(b, np.float64))
    by_rank = np.empty((x.shape[0], V))
    by_rank[:, :c0] = head[:, :c0]
    for i, (P, Wt) in enumerate(tails):
        tail = log_softmax(x @ np.asanyarray(P, np.float64) @ np.asanyarray(Wt, np.float64))
        by_rank[:, bounds[i]:bounds[i + 1]] = head[:, [c0 + i]] + tail
    out = np.empty_like(by_rank)
    out[:, np.arange(V) if order is None else order] = by_rank
    return out


def adaptive_loss(x, W, b, tails, cutoffs, ts, order=None, ignore=-1):
    """(loss, dx, dW, db, [(dP_i, dW_i), ...]) of the mean of -log p(t) over the
    labels t of ts (R,) other than ``ignore``, by the chain rule through each part:
    the head's softmax for every row, cluster i's for the rows whose label is in it."""
    x, W, b = (np.asanyarray(a, np.float64) for a in (x, W, b))
    tails = [(np.asanyarray(P, np.float64), np.asanyarray(Wt, np.float64)) for P, Wt in tails]
    c0, V = cutoffs[0], cutoffs[-1] + tails[-1][1].shape[1]
    rank_of = np.empty(V, int)
    rank_of[np.arange(V) if order is None else order] = np.arange(V)
    ts = np.ravel(ts)
    keep = ts != ignore
    count = keep.sum()
    loss = -adaptive_log_prob(x, W, b, tails, cutoffs, order)[np.flatnonzero(keep), ts[keep]].sum()
    dS = np.exp(log_softmax(x @ W + b))
    dx, dtails = np.zeros_like(x), []
    for r in range(x.shape[0]):
        if not keep[r]:
            dS[r] = 0
            continue
        k = rank_of[ts[r]]
        cluster = np.searchsorted(cutoffs, k, side="right") - 1
        dS[r, k if cluster < 0 else c0 + cluster] -= 1
    for i, (P, Wt) in enumerate(tails):
        rows = [r for r in range(x.shape[0]) if keep[r]
                and np.searchsorted(cutoffs, rank_of[ts[r]], side="right") - 1 == i]
        p = x[rows] @ P
        ds = np.exp(log_softmax(p @ Wt))
        for j, r in enumerate(rows):
            ds[j, rank_of[ts[r]] - cutoffs[i]] -= 1
        ds /= max(count, 1)
        dp = ds @ Wt.T
        dx[rows] += dp @ P.T
        dtails.append((x[rows].T @ dp, p.T @ ds))
    dS /= max(count, 1)
    dx += dS @ W.T
    return (loss / count if count else 0.0), dx, x.T @ dS, dS.sum(axis=0), dtails


MASK64 = (1 << 64) - 1
GOLDEN64 = 0x9E3779B97F4A7C15


def splitmix_draw(k, j):
    """Draw j of key k: SplitMix64's output function of k + (j + 1) * golden (Python ints, mod 2**64)."""
    z = (k + (j + 1) * GOLDEN64) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dropout_mask(seed, call, row0, shape, ratio, locked=False):
    """The float64 mask (0 or 1 / (1 - ratio)) of a TimeDropout layer of ``seed`` at its
    ``call``-th training forward, for rows row0.. of a batch of ``shape`` (rows: axis 0);
    ``locked``: element (n, t, d) takes draw d of its row, whatever t."""
    call_key = splitmix_draw(splitmix_draw(0, seed), call)
    threshold = round(ratio * 2**32)
    out = np.zeros(shape)
    for index in np.ndindex(*shape):
        row_key = splitmix_draw(call_key, row0 + index[0])
        draw = index[-1] if locked else int(np.ravel_multi_index(index[1:], shape[1:]))
        if splitmix_draw(row_key, draw) >> 32 >= threshold:
            out[index] = 1 / (1 - ratio)
    return out


def bptt_length(seed, step, mean):
    """The window length of ``step`` under variable-length BPTT, from its stated rule
    in exact rationals: base ``mean`` (or ``mean / 2`` when draw 0's high 32 bits are
    below round(0.05 * 2**32)), plus ``mean / 14`` times the sum of draws 1-12's high
    32 bits over 2**32 less 6; floored, clipped to [max(1, mean / 14 rounded half up), mean +
    max(1, mean // 7)]."""
    from fractions import Fraction

    k = splitmix_draw(splitmix_draw(splitmix_draw(0, 0x62707474), seed), step)
    high = [splitmix_draw(k, i) >> 32 for i in range(13)]
    base = Fraction(mean, 2) if high[0] < round(0.05 * 2**32) else Fraction(mean)
    z = Fraction(sum(high[1:]), 2**32) - 6
    length = math.floor(base + z * Fraction(mean, 14))
    return min(max(length, max(1, math.floor(Fraction(mean, 14) + Fraction(1, 2)))), mean + max(1, mean // 7))
