"""The recurrent part of TimeLSTM, forward and backprop through time.

Gate layout along the 4H axis, as the reference: forget f, candidate g (tanh),
input i, output o.  ``c_t = f*c_{t-1} + g*i``, ``h_t = o*tanh(c_t)``.

The input projection ``xs @ Wx`` and the weight gradients are single matrix
products done by the caller.  Each step of a block (rows r0:r1, hidden units
j0:j1) does its recurrent product and then the gate non-linearities of those
units; ``kernels.tiles`` decides whether blocks are row tiles that run all T
steps (one parallel region a call) or unit tiles of every row (one a step),
for each group of rows on its own.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .config import JIT, PJIT
from .gates import activate
from .mathfn import tanh
from .tiles import row_tiles, span, unit_groups, unit_tiles


@njit(**JIT)
def _forward_block(t, r0, r1, j0, j1, a, xw, b, Wh, h0, c0, hs, cs, gates, hprev):
    """Step t of rows r0:r1, units j0:j1; a (r1-r0, 4*(j1-j0)) scratch (any strides)."""
    H = Wh.shape[0]
    w = j1 - j0
    hp = hs[r0:r1, t - 1] if t > 0 else h0[r0:r1]
    cp = cs[r0:r1, t - 1] if t > 0 else c0[r0:r1]
    if w == H:
        gemm(hp, Wh, a)
    else:
        for k in range(4):
            gemm(hp, Wh[:, k * H + j0:k * H + j1], a[:, k * w:(k + 1) * w])
    for i in range(r1 - r0):
        r = r0 + i
        act = gates[r, t]
        for k in range(4):
            cols = slice(k * H + j0, k * H + j1)
            activate(a[i, k * w:(k + 1) * w], xw[r, t, cols], b[cols], act[cols], k == 1)
        f, g, ig, o = act[j0:j1], act[H + j0:H + j1], act[2 * H + j0:2 * H + j1], act[3 * H + j0:3 * H + j1]
        h, c, hq, hpi, cpi = hs[r, t, j0:j1], cs[r, t, j0:j1], hprev[r, t, j0:j1], hp[i, j0:j1], cp[i, j0:j1]
        hq[:] = hpi
        for u in range(w):
            c[u] = f[u] * cpi[u] + g[u] * ig[u]
        for u in range(w):
            h[u] = o[u] * tanh(c[u])


@njit(**PJIT)
def lstm_forward(xw, b, Wh, h0, c0, hs, cs, gates, hprev, bounds):
    """LSTM over T steps, the batch in groups of rows ``bounds`` (``kernels.tiles``).

    xw (N, T, 4H) = xs @ Wx; b (4H,); Wh (H, 4H); h0, c0 (N, H).
    Writes hs, cs (N, T, H) = h_t, c_t; gates (N, T, 4H) = (f, g, i, o);
    hprev (N, T, H) = h_{t-1}.
    """
    T, H4 = xw.shape[1], xw.shape[2]
    H = H4 // 4
    tiles = row_tiles(bounds, H4 * H)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
        a = np.empty((r1 - r0, H4), xw.dtype)
        for t in range(T):
            _forward_block(t, r0, r1, 0, H, a, xw, b, Wh, h0, c0, hs, cs, gates, hprev)
    nunits, usize = unit_tiles(H)
    groups = unit_groups(bounds, H4 * H)
    for q in range(groups.shape[0]):
        g0, g1 = groups[q, 0], groups[q, 1]
        scratch = np.empty((nunits, g1 - g0, 4 * usize), xw.dtype)
        for t in range(T):
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _forward_block(t, g0, g1, j0, j1, scratch[k, :, :4 * (j1 - j0)], xw, b, Wh, h0, c0, hs, cs,
                               gates, hprev)


@njit(**JIT)
def _backward_block(t, r0, r1, j0, j1, dh, tc, dhs, WhT, c0, cs, gates, dA, dc):
    """Step t (backwards) of rows r0:r1, units j0:j1.

    WhT (4H, H) = Wh.T; dh (N, H) scratch gets dA_{t+1} @ Wh.T; tc (j1-j0,)
    scratch; dc (N, H) carries dL/dc_t -> dL/dc_{t-1}.
    """
    T = dhs.shape[1]
    H = WhT.shape[1]
    if t + 1 < T:
        gemm(dA[r0:r1, t + 1], WhT[:, j0:j1], dh[r0:r1, j0:j1])
    else:
        dh[r0:r1, j0:j1] = 0
    cp = cs[r0:r1, t - 1] if t > 0 else c0[r0:r1]
    for i in range(r1 - r0):
        r = r0 + i
        act, d = gates[r, t], dA[r, t]
        f, g, ig, o = act[j0:j1], act[H + j0:H + j1], act[2 * H + j0:2 * H + j1], act[3 * H + j0:3 * H + j1]
        df, dg, di, do = d[j0:j1], d[H + j0:H + j1], d[2 * H + j0:2 * H + j1], d[3 * H + j0:3 * H + j1]
        c, cpi, dci = cs[r, t, j0:j1], cp[i, j0:j1], dc[r, j0:j1]
        dht = dh[r, j0:j1]
        dht += dhs[r, t, j0:j1]  # dL/dh_t
        for u in range(j1 - j0):
            tc[u] = tanh(c[u])
        for u in range(j1 - j0):
            dci[u] += dht[u] * o[u] * (1 - tc[u] * tc[u])  # dL/d(c_t) in full
        for u in range(j1 - j0):
            do[u] = dht[u] * tc[u] * o[u] * (1 - o[u])
        for u in range(j1 - j0):
            df[u] = dci[u] * cpi[u] * f[u] * (1 - f[u])
        for u in range(j1 - j0):
            dg[u] = dci[u] * ig[u] * (1 - g[u] * g[u])
        for u in range(j1 - j0):
            di[u] = dci[u] * g[u] * ig[u] * (1 - ig[u])
        for u in range(j1 - j0):
            dci[u] *= f[u]


@njit(**PJIT)
def lstm_backward(dhs, WhT, c0, cs, gates, dA, dh0, dc, bounds):
    """Backprop through time of ``lstm_forward``, the same groups of rows.

    dhs (N, T, H) upstream gradient; WhT (4H, H) = Wh.T; c0 (N, H); cs, gates
    from the forward.  dc (N, H) holds dL/dc_T on entry and dL/dc_0 on exit.
    Writes dA (N, T, 4H) = dL/d(pre-activations) and dh0 (N, H) = dL/dh_0.
    """
    N, T, H = dhs.shape
    dh = np.empty((N, H), dhs.dtype)
    tiles = row_tiles(bounds, 4 * H * H)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
        tc = np.empty(H, dhs.dtype)
        for t in range(T - 1, -1, -1):
            _backward_block(t, r0, r1, 0, H, dh, tc, dhs, WhT, c0, cs, gates, dA, dc)
        gemm(dA[r0:r1, 0], WhT, dh0[r0:r1])
    nunits, usize = unit_tiles(H)
    groups = unit_groups(bounds, 4 * H * H)
    for q in range(groups.shape[0]):
        g0, g1 = groups[q, 0], groups[q, 1]
        scratch = np.empty((nunits, usize), dhs.dtype)
        for t in range(T - 1, -1, -1):
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _backward_block(t, g0, g1, j0, j1, dh, scratch[k, :j1 - j0], dhs, WhT, c0, cs, gates, dA, dc)
        for k in prange(nunits):
            j0, j1 = span(k, usize, H)
            gemm(dA[g0:g1, 0], WhT[:, j0:j1], dh0[g0:g1, j0:j1])
