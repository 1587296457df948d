"""The recurrent part of TimeGRU, forward and backprop through time.

Gate layout along the 3H axis, as the reference: update z, reset r, candidate.
``h_hat = tanh(x@Wxh + (r*h_{t-1})@Whh + bh)``, ``h_t = (1-z)*h_{t-1} + z*h_hat``.

The candidate's product needs the reset gate of every unit first, so a step
has two phases, each a recurrent product followed by the non-linearities of a
block of units; see ``kernels.lstm`` and ``kernels.tiles`` for the blocks.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm
from .config import JIT, PJIT
from .gates import activate
from .tiles import row_tiles, span, unit_groups, unit_tiles


@njit(**JIT)
def _gate_products(x, W, H, ngates, j0, j1, a):
    """a[:, k*w:(k+1)*w] = x @ W[:, k*H+j0:k*H+j1] for the first ngates gates, w = j1-j0."""
    w = j1 - j0
    if w == H:
        gemm(x, W[:, :ngates * H], a[:, :ngates * H])
    else:
        for k in range(ngates):
            gemm(x, W[:, k * H + j0:k * H + j1], a[:, k * w:(k + 1) * w])


@njit(**JIT)
def _forward_gates(t, r0, r1, j0, j1, a, xw, b, Wh, h0, hs, gates, rh, hprev):
    """Phase 1 of step t: z, r and r*h_{t-1} of rows r0:r1, units j0:j1."""
    H = Wh.shape[0]
    w = j1 - j0
    hp = hs[r0:r1, t - 1] if t > 0 else h0[r0:r1]
    _gate_products(hp, Wh, H, 2, j0, j1, a)
    for i in range(r1 - r0):
        r = r0 + i
        for k in range(2):
            cols = slice(k * H + j0, k * H + j1)
            activate(a[i, k * w:(k + 1) * w], xw[r, t, cols], b[cols], gates[r, t, cols], False)
        hq, hpi, rg, rhi = hprev[r, t, j0:j1], hp[i, j0:j1], gates[r, t, H + j0:H + j1], rh[r, t, j0:j1]
        hq[:] = hpi
        for u in range(w):
            rhi[u] = rg[u] * hpi[u]


@njit(**JIT)
def _forward_candidate(t, r0, r1, j0, j1, a, xw, b, Wh, hs, gates, rh, hprev):
    """Phase 2 of step t: candidate and h_t of rows r0:r1, units j0:j1."""
    H = Wh.shape[0]
    w = j1 - j0
    gemm(rh[r0:r1, t], Wh[:, 2 * H + j0:2 * H + j1], a[:, :w])
    cols = slice(2 * H + j0, 2 * H + j1)
    for i in range(r1 - r0):
        r = r0 + i
        hh = gates[r, t, cols]
        activate(a[i, :w], xw[r, t, cols], b[cols], hh, True)
        h, hpi, z = hs[r, t, j0:j1], hprev[r, t, j0:j1], gates[r, t, j0:j1]
        for u in range(w):
            h[u] = hpi[u] + z[u] * (hh[u] - hpi[u])


@njit(**PJIT)
def gru_forward(xw, b, Wh, h0, hs, gates, rh, hprev, bounds):
    """GRU over T steps, the batch in groups of rows ``bounds`` (``kernels.tiles``).

    xw (N, T, 3H) = xs @ Wx; b (3H,); Wh (H, 3H); h0 (N, H).  Writes
    hs (N, T, H) = h_t; gates (N, T, 3H) = (z, r, h_hat); rh (N, T, H) =
    r*h_{t-1}; hprev (N, T, H) = h_{t-1}.
    """
    T, H3 = xw.shape[1], xw.shape[2]
    H = H3 // 3
    tiles = row_tiles(bounds, H3 * H)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
        a = np.empty((r1 - r0, 2 * H), xw.dtype)
        for t in range(T):
            _forward_gates(t, r0, r1, 0, H, a, xw, b, Wh, h0, hs, gates, rh, hprev)
            _forward_candidate(t, r0, r1, 0, H, a, xw, b, Wh, hs, gates, rh, hprev)
    nunits, usize = unit_tiles(H)
    groups = unit_groups(bounds, H3 * H)
    for q in range(groups.shape[0]):
        g0, g1 = groups[q, 0], groups[q, 1]
        scratch = np.empty((nunits, g1 - g0, 2 * usize), xw.dtype)
        for t in range(T):
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _forward_gates(t, g0, g1, j0, j1, scratch[k, :, :2 * (j1 - j0)], xw, b, Wh, h0, hs, gates, rh, hprev)
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _forward_candidate(t, g0, g1, j0, j1, scratch[k, :, :2 * (j1 - j0)], xw, b, Wh, hs, gates, rh,
                                   hprev)


@njit(**JIT)
def _backward_update(t, r0, r1, j0, j1, dh, carry, dhs, WhT, gates, hprev, dA):
    """Phase 1 of step t (backwards): dL/dh_t, then the update-gate and
    candidate pre-activation grads of rows r0:r1, units j0:j1.

    WhT (3H, H) = Wh.T.  On entry carry holds the part of dL/dh_t that does
    not go through the gate products of step t+1; on exit, dL/dh_t * (1 - z_t).
    """
    T = dhs.shape[1]
    H = WhT.shape[1]
    if t + 1 < T:
        gemm(dA[r0:r1, t + 1, :2 * H], WhT[:2 * H, j0:j1], dh[r0:r1, j0:j1])
    else:
        dh[r0:r1, j0:j1] = 0
    for r in range(r0, r1):
        z, hh, hpi = gates[r, t, j0:j1], gates[r, t, 2 * H + j0:2 * H + j1], hprev[r, t, j0:j1]
        dz, dhh = dA[r, t, j0:j1], dA[r, t, 2 * H + j0:2 * H + j1]
        d, cr = dh[r, j0:j1], carry[r, j0:j1]
        d += dhs[r, t, j0:j1]
        d += cr  # dL/dh_t
        for u in range(j1 - j0):
            dz[u] = d[u] * (hh[u] - hpi[u]) * z[u] * (1 - z[u])
        for u in range(j1 - j0):
            dhh[u] = d[u] * z[u] * (1 - hh[u] * hh[u])
        for u in range(j1 - j0):
            cr[u] = d[u] * (1 - z[u])


@njit(**JIT)
def _backward_reset(t, r0, r1, j0, j1, dh, carry, WhT, gates, hprev, dA):
    """Phase 2 of step t (backwards): the reset-gate grads of rows r0:r1,
    units j0:j1; adds the path through r*h_{t-1} to carry."""
    H = WhT.shape[1]
    gemm(dA[r0:r1, t, 2 * H:], WhT[2 * H:, j0:j1], dh[r0:r1, j0:j1])
    for r in range(r0, r1):
        rg, hpi, dr = gates[r, t, H + j0:H + j1], hprev[r, t, j0:j1], dA[r, t, H + j0:H + j1]
        dhr, cr = dh[r, j0:j1], carry[r, j0:j1]
        for u in range(j1 - j0):
            dr[u] = dhr[u] * hpi[u] * rg[u] * (1 - rg[u])
        for u in range(j1 - j0):
            cr[u] += dhr[u] * rg[u]


@njit(**PJIT)
def gru_backward(dhs, WhT, gates, hprev, dA, dh0, bounds):
    """Backprop through time of ``gru_forward``, the same groups of rows.

    dhs (N, T, H) upstream gradient; WhT (3H, H) = Wh.T; gates, hprev from
    the forward.  Writes dA (N, T, 3H) = dL/d(pre-activations) and dh0 (N, H).
    """
    N, T, H = dhs.shape
    dh = np.empty((N, H), dhs.dtype)
    carry = np.zeros((N, H), dhs.dtype)
    tiles = row_tiles(bounds, 3 * H * H)
    for k in prange(tiles.shape[0]):
        r0, r1 = tiles[k, 0], tiles[k, 1]
        for t in range(T - 1, -1, -1):
            _backward_update(t, r0, r1, 0, H, dh, carry, dhs, WhT, gates, hprev, dA)
            _backward_reset(t, r0, r1, 0, H, dh, carry, WhT, gates, hprev, dA)
        gemm(dA[r0:r1, 0, :2 * H], WhT[:2 * H], dh0[r0:r1])
        dh0[r0:r1] += carry[r0:r1]
    nunits, usize = unit_tiles(H)
    groups = unit_groups(bounds, 3 * H * H)
    for q in range(groups.shape[0]):
        g0, g1 = groups[q, 0], groups[q, 1]
        for t in range(T - 1, -1, -1):
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _backward_update(t, g0, g1, j0, j1, dh, carry, dhs, WhT, gates, hprev, dA)
            for k in prange(nunits):
                j0, j1 = span(k, usize, H)
                _backward_reset(t, g0, g1, j0, j1, dh, carry, WhT, gates, hprev, dA)
        for k in prange(nunits):
            j0, j1 = span(k, usize, H)
            gemm(dA[g0:g1, 0, :2 * H], WhT[:2 * H, j0:j1], dh0[g0:g1, j0:j1])
            dh0[g0:g1, j0:j1] += carry[g0:g1, j0:j1]
