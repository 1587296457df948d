"""The recurrent part of TimeRNN, forward and backprop through time.

The input projection ``xs @ Wx`` and the weight gradients are single matrix
products done by the caller; these kernels run only the sequential part.
Batch rows are independent, so each task takes a tile of rows through all T
steps: one parallel region per call, no synchronisation per step.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .config import PJIT
from .mathfn import tanh
from .tiles import batch_tiles, span


@njit(**PJIT)
def rnn_forward(xw, b, Wh, h0, hs, hprev):
    """h_t = tanh(h_{t-1} @ Wh + xw_t + b).

    xw (N, T, H) = xs @ Wx; b (H,); Wh (H, H); h0 (N, H).
    Writes hs (N, T, H) = h_t and hprev (N, T, H) = h_{t-1}.
    """
    N, T, H = xw.shape
    ntiles, tile = batch_tiles(N)
    for k in prange(ntiles):
        r0, r1 = span(k, tile, N)
        m = r1 - r0
        h = h0[r0:r0 + m].copy()
        a = np.empty_like(h)
        for t in range(T):
            gemm(h, Wh, a)
            for i in range(m):
                for j in range(H):
                    hprev[r0 + i, t, j] = h[i, j]
                    v = tanh(a[i, j] + xw[r0 + i, t, j] + b[j])
                    h[i, j] = v
                    hs[r0 + i, t, j] = v


@njit(**PJIT)
def rnn_backward(dhs, hs, Wh, dts, dh0):
    """Backprop through time of ``rnn_forward``: dh_{t-1} = dt_t @ Wh.T.

    dhs (N, T, H) upstream gradient; hs (N, T, H) forward outputs; Wh (H, H).
    Writes dts (N, T, H) = dL/d(pre-activation) and dh0 (N, H) = dL/dh0.
    """
    N, T, H = dhs.shape
    ntiles, tile = batch_tiles(N)
    for k in prange(ntiles):
        r0, r1 = span(k, tile, N)
        m = r1 - r0
        dh = np.zeros((m, H), dhs.dtype)
        dt = np.empty_like(dh)
        for t in range(T - 1, -1, -1):
            for i in range(m):
                for j in range(H):
                    y = hs[r0 + i, t, j]
                    g = dhs[r0 + i, t, j] + dh[i, j]
                    v = g - g * y * y
                    dt[i, j] = v
                    dts[r0 + i, t, j] = v
            gemm(dt, Wh.T, dh)
        dh0[r0:r0 + m] = dh
