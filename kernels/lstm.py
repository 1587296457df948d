"""The recurrent part of TimeLSTM, forward and backprop through time.

Gate layout along the 4H axis, as the reference: forget f, candidate g (tanh),
input i, output o.  ``c_t = f*c_{t-1} + g*i``, ``h_t = o*tanh(c_t)``.

The input projection ``xs @ Wx`` and the weight gradients are single matrix
products done by the caller.  The recurrent products run on weights packed
once a call (``kernels.gemm``): the forward's ``Wh`` as panels of NR units of
one gate, a chunk of NR units having its four gates' panels side by side; the
backward's ``Wh.T`` as panels of NR units.  Each block of a step's product is
followed at once by the cell update of its units, while it is in cache.
``kernels.tiles.split`` decides whether tasks are tiles of rows that run all
T steps (one parallel region a call) or ranges of unit chunks of every row
(one region a step).  Every element of a product is one chain of fused
multiply-adds in order, so results do not depend on the split.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, PJIT
from .gates import activate
from .gemm import NR, panels
from .mathfn import tanh
from .packed import products
from .tiles import split


@njit(**JIT)
def _forward_step(t, r0, r1, k0, k1, xw, b, Whp, h0, c0, hs, cs, gates, hprev):
    """Step t of rows r0:r1, unit chunks k0:k1: the products straight into
    ``gates``, then the cell update of those units, row by row."""
    N, T, H = hs.shape
    if t > 0:
        A, a_rs, base = hs.reshape(-1), T * H, (t - 1) * H
        C, c_rs = cs.reshape(-1), T * H
    else:
        A, a_rs, base = h0.reshape(-1), H, 0
        C, c_rs = c0.reshape(-1), H
    products(H, A, base, a_rs, Whp, 4, H, gates.reshape(-1), t * 4 * H, T * 4 * H, r0, r1, k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    for r in range(r0, r1):
        act = gates[r, t]
        for g in range(4):
            cols = slice(g * H + u0, g * H + u1)
            activate(act[cols], xw[r, t, cols], b[cols], g == 1)
        f, gg = act[u0:u1], act[H + u0:H + u1]
        ig, o = act[2 * H + u0:2 * H + u1], act[3 * H + u0:3 * H + u1]
        hp, cp = A[r * a_rs + base + u0:r * a_rs + base + u1], C[r * c_rs + base + u0:r * c_rs + base + u1]
        h, c = hs[r, t, u0:u1], cs[r, t, u0:u1]
        hprev[r, t, u0:u1] = hp
        for u in range(u1 - u0):
            c[u] = f[u] * cp[u] + gg[u] * ig[u]
        for u in range(u1 - u0):
            h[u] = o[u] * tanh(c[u])


@njit(**PJIT)
def lstm_forward(xw, b, Whp, h0, c0, hs, cs, gates, hprev, threads):
    """LSTM over T steps.

    xw (N, T, 4H) = xs @ Wx; b (4H,); Whp = Wh (H, 4H) packed by
    ``pack(Wh, 4, .)``; h0, c0 (N, H).  Writes hs, cs (N, T, H) = h_t, c_t;
    gates (N, T, 4H) = (f, g, i, o); hprev (N, T, H) = h_{t-1}.
    """
    N, T, H = hs.shape
    rows, chunks = split(N, panels(H), Whp.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            for t in range(T):
                _forward_step(t, rows[q, 0], rows[q, 1], 0, panels(H), xw, b, Whp, h0, c0, hs, cs, gates, hprev)
        return
    for t in range(T):
        for q in prange(chunks.shape[0]):
            _forward_step(t, 0, N, chunks[q, 0], chunks[q, 1], xw, b, Whp, h0, c0, hs, cs, gates, hprev)


@njit(**JIT)
def _backward_step(t, r0, r1, k0, k1, dh, dhs, WhTp, c0, cs, gates, dA, dc):
    """Step t (backwards) of rows r0:r1, unit chunks k0:k1.

    dh (N, H) scratch gets dh_t = dA_{t+1} @ Wh.T + dhs_t; WhTp = Wh.T (4H, H)
    packed by ``pack(Wh.T, 1, .)``.  dc (N, H) holds dL/dc_{t+1} through the
    cell on entry and dL/dc_t on exit.
    """
    N, T, H = dhs.shape
    u0, u1 = k0 * NR, min(H, k1 * NR)
    if t + 1 < T:
        products(4 * H, dA.reshape(-1), (t + 1) * 4 * H, T * 4 * H, WhTp, 1, H, dh.reshape(-1), 0, H, r0, r1, k0, k1)
    else:
        dh[r0:r1, u0:u1] = 0
    for r in range(r0, r1):
        act, d = gates[r, t], dA[r, t]
        f, g = act[u0:u1], act[H + u0:H + u1]
        ig, o = act[2 * H + u0:2 * H + u1], act[3 * H + u0:3 * H + u1]
        df, dg = d[u0:u1], d[H + u0:H + u1]
        di, do = d[2 * H + u0:2 * H + u1], d[3 * H + u0:3 * H + u1]
        c, dci = cs[r, t, u0:u1], dc[r, u0:u1]
        cpi = cs[r, t - 1, u0:u1] if t > 0 else c0[r, u0:u1]
        dht = dh[r, u0:u1]
        dht += dhs[r, t, u0:u1]  # dL/dh_t
        for u in range(u1 - u0):
            tc = tanh(c[u])
            dci[u] += dht[u] * o[u] * (1 - tc * tc)  # dL/d(c_t) in full
            do[u] = dht[u] * tc * o[u] * (1 - o[u])
        for u in range(u1 - u0):
            df[u] = dci[u] * cpi[u] * f[u] * (1 - f[u])
        for u in range(u1 - u0):
            dg[u] = dci[u] * ig[u] * (1 - g[u] * g[u])
        for u in range(u1 - u0):
            di[u] = dci[u] * g[u] * ig[u] * (1 - ig[u])
        for u in range(u1 - u0):
            dci[u] *= f[u]


@njit(**PJIT)
def lstm_backward(dhs, WhTp, c0, cs, gates, dA, dh0, dc, threads):
    """Backprop through time of ``lstm_forward``.

    dhs (N, T, H) upstream gradient; WhTp = Wh.T packed by ``pack(Wh.T, 1, .)``;
    c0 (N, H); cs, gates from the forward.  dc (N, H) holds dL/dc_T on entry and
    dL/dc_0 on exit.  Writes dA (N, T, 4H) = dL/d(pre-activations) and dh0 (N, H).
    """
    N, T, H = dhs.shape
    dh = np.empty((N, H), dhs.dtype)
    rows, chunks = split(N, panels(H), WhTp.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            r0, r1 = rows[q, 0], rows[q, 1]
            for t in range(T - 1, -1, -1):
                _backward_step(t, r0, r1, 0, panels(H), dh, dhs, WhTp, c0, cs, gates, dA, dc)
            products(4 * H, dA.reshape(-1), 0, T * 4 * H, WhTp, 1, H, dh0.reshape(-1), 0, H, r0, r1, 0, panels(H))
        return
    for t in range(T - 1, -1, -1):
        for q in prange(chunks.shape[0]):
            _backward_step(t, 0, N, chunks[q, 0], chunks[q, 1], dh, dhs, WhTp, c0, cs, gates, dA, dc)
    for q in prange(chunks.shape[0]):
        products(4 * H, dA.reshape(-1), 0, T * 4 * H, WhTp, 1, H, dh0.reshape(-1), 0, H, 0, N, chunks[q, 0],
                 chunks[q, 1])
