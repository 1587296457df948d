"""The recurrent part of TimeRNN, forward and backprop through time.

The input projection ``xs @ Wx`` and the weight gradients are single matrix
products done by the caller; these kernels run only the sequential part, on
weights packed once a call (``kernels.gemm``: ``Wh`` and ``Wh.T`` in panels
of NR units).  ``kernels.tiles.split`` decides whether tasks are tiles of
rows that run all T steps (one parallel region a call) or ranges of unit
chunks of every row (one region a step); results do not depend on it.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, PJIT
from .gemm import NR, panels
from .mathfn import tanh
from .packed import products
from .tiles import split


@njit(**JIT)
def _forward_step(t, r0, r1, k0, k1, xw, b, Whp, h0, hs, hprev):
    """Step t of rows r0:r1, unit chunks k0:k1."""
    N, T, H = hs.shape
    A, a_rs, base = (hs.reshape(-1), T * H, (t - 1) * H) if t > 0 else (h0.reshape(-1), H, 0)
    products(H, A, base, a_rs, Whp, 1, H, hs.reshape(-1), t * H, T * H, r0, r1, k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    for r in range(r0, r1):
        h, x = hs[r, t, u0:u1], xw[r, t, u0:u1]
        hprev[r, t, u0:u1] = A[r * a_rs + base + u0:r * a_rs + base + u1]
        for u in range(u1 - u0):
            h[u] = tanh(h[u] + x[u] + b[u0 + u])


@njit(**PJIT)
def rnn_forward(xw, b, Whp, h0, hs, hprev, threads):
    """h_t = tanh(h_{t-1} @ Wh + xw_t + b).

    xw (N, T, H) = xs @ Wx; b (H,); Whp = Wh (H, H) packed by ``pack(Wh, 1, .)``;
    h0 (N, H).  Writes hs (N, T, H) = h_t and hprev (N, T, H) = h_{t-1}.
    """
    N, T, H = hs.shape
    rows, chunks = split(N, panels(H), Whp.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            for t in range(T):
                _forward_step(t, rows[q, 0], rows[q, 1], 0, panels(H), xw, b, Whp, h0, hs, hprev)
        return
    for t in range(T):
        for q in prange(chunks.shape[0]):
            _forward_step(t, 0, N, chunks[q, 0], chunks[q, 1], xw, b, Whp, h0, hs, hprev)


@njit(**JIT)
def _backward_step(t, r0, r1, k0, k1, dh, dhs, hs, WhTp, dts):
    """Step t (backwards) of rows r0:r1, unit chunks k0:k1: dh (N, H) scratch
    gets dt_{t+1} @ Wh.T, then dts[:, t] = (dh + dhs_t) * (1 - h_t**2)."""
    N, T, H = dhs.shape
    u0, u1 = k0 * NR, min(H, k1 * NR)
    if t + 1 < T:
        products(H, dts.reshape(-1), (t + 1) * H, T * H, WhTp, 1, H, dh.reshape(-1), 0, H, r0, r1, k0, k1)
    else:
        dh[r0:r1, u0:u1] = 0
    for r in range(r0, r1):
        d, y, up, dt = dh[r, u0:u1], hs[r, t, u0:u1], dhs[r, t, u0:u1], dts[r, t, u0:u1]
        for u in range(u1 - u0):
            g = up[u] + d[u]
            dt[u] = g - g * y[u] * y[u]


@njit(**PJIT)
def rnn_backward(dhs, hs, WhTp, dts, dh0, threads):
    """Backprop through time of ``rnn_forward``: dh_{t-1} = dt_t @ Wh.T.

    dhs (N, T, H) upstream gradient; hs (N, T, H) forward outputs; WhTp = Wh.T
    packed by ``pack(Wh.T, 1, .)``.  Writes dts (N, T, H) = dL/d(pre-
    activation) and dh0 (N, H) = dL/dh0.
    """
    N, T, H = dhs.shape
    dh = np.empty((N, H), dhs.dtype)
    rows, chunks = split(N, panels(H), WhTp.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            r0, r1 = rows[q, 0], rows[q, 1]
            for t in range(T - 1, -1, -1):
                _backward_step(t, r0, r1, 0, panels(H), dh, dhs, hs, WhTp, dts)
            products(H, dts.reshape(-1), 0, T * H, WhTp, 1, H, dh0.reshape(-1), 0, H, r0, r1, 0, panels(H))
        return
    for t in range(T - 1, -1, -1):
        for q in prange(chunks.shape[0]):
            _backward_step(t, 0, N, chunks[q, 0], chunks[q, 1], dh, dhs, hs, WhTp, dts)
    for q in prange(chunks.shape[0]):
        products(H, dts.reshape(-1), 0, T * H, WhTp, 1, H, dh0.reshape(-1), 0, H, 0, N, chunks[q, 0], chunks[q, 1])
