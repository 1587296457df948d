"""The recurrent part of TimeRNN, forward and backprop through time.

The input projection ``xs @ Wx`` and the weight gradients are single matrix
products done by the caller; these kernels run only the sequential part.
Batch rows are independent, so each task takes a tile of rows through all T
steps: one parallel region per call, no synchronisation per step (the tiles
of each group of rows on its own, ``kernels.tiles``).
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .config import PJIT
from .mathfn import tanh
from .tiles import row_tiles


@njit(**PJIT)
def rnn_forward(xw, b, Wh, h0, hs, hprev, bounds):
    """h_t = tanh(h_{t-1} @ Wh + xw_t + b), the batch in groups of rows ``bounds``
    (``kernels.tiles``).

    xw (N, T, H) = xs @ Wx; b (H,); Wh (H, H); h0 (N, H).
    Writes hs (N, T, H) = h_t and hprev (N, T, H) = h_{t-1}.
    """
    T, H = xw.shape[1], xw.shape[2]
    tiles = row_tiles(bounds, 0)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
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
def rnn_backward(dhs, hs, Wh, dts, dh0, bounds):
    """Backprop through time of ``rnn_forward``: dh_{t-1} = dt_t @ Wh.T, the same
    groups of rows.

    dhs (N, T, H) upstream gradient; hs (N, T, H) forward outputs; Wh (H, H).
    Writes dts (N, T, H) = dL/d(pre-activation) and dh0 (N, H) = dL/dh0.
    """
    T, H = dhs.shape[1], dhs.shape[2]
    tiles = row_tiles(bounds, 0)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
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
