"""The recurrent part of TimeGRU, forward and backprop through time.

Gate layout along the 3H axis, as the reference: update z, reset r, candidate.
``h_hat = tanh(x@Wxh + (r*h_{t-1})@Whh + bh)``, ``h_t = (1-z)*h_{t-1} + z*h_hat``.

The candidate's product needs the reset gate of every unit first, so a step
has two phases, each a recurrent product on weights packed once a call
(``kernels.gemm``) followed by the non-linearities of its units; see
``kernels.lstm`` for the split into tasks.  Results do not depend on it.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, PJIT
from .gates import activate
from .gemm import NR, panels
from .packed import products
from .tiles import split


@njit(**JIT)
def _forward_gates(t, r0, r1, k0, k1, xw, b, Wzr, h0, hs, gates, rh, hprev):
    """Phase 1 of step t: z, r and r*h_{t-1} of rows r0:r1, unit chunks k0:k1.
    Wzr = Wh[:, :2H] packed by ``pack(., 2, .)``."""
    N, T, H = hs.shape
    A, a_rs, base = (hs.reshape(-1), T * H, (t - 1) * H) if t > 0 else (h0.reshape(-1), H, 0)
    products(H, A, base, a_rs, Wzr, 2, H, gates.reshape(-1), t * 3 * H, T * 3 * H, r0, r1, k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    for r in range(r0, r1):
        for g in range(2):
            cols = slice(g * H + u0, g * H + u1)
            activate(gates[r, t, cols], xw[r, t, cols], b[cols], False)
        hq, rg, rhi = hprev[r, t, u0:u1], gates[r, t, H + u0:H + u1], rh[r, t, u0:u1]
        hq[:] = A[r * a_rs + base + u0:r * a_rs + base + u1]
        for u in range(u1 - u0):
            rhi[u] = rg[u] * hq[u]


@njit(**JIT)
def _forward_candidate(t, r0, r1, k0, k1, xw, b, Whh, hs, gates, rh, hprev):
    """Phase 2 of step t: candidate and h_t of rows r0:r1, unit chunks k0:k1.
    Whh = Wh[:, 2H:] packed by ``pack(., 1, .)``."""
    N, T, H = hs.shape
    products(H, rh.reshape(-1), t * H, T * H, Whh, 1, H, gates.reshape(-1), t * 3 * H + 2 * H, T * 3 * H, r0, r1,
             k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    cols = slice(2 * H + u0, 2 * H + u1)
    for r in range(r0, r1):
        hh = gates[r, t, cols]
        activate(hh, xw[r, t, cols], b[cols], True)
        h, hpi, z = hs[r, t, u0:u1], hprev[r, t, u0:u1], gates[r, t, u0:u1]
        for u in range(u1 - u0):
            h[u] = hpi[u] + z[u] * (hh[u] - hpi[u])


@njit(**PJIT)
def gru_forward(xw, b, Wzr, Whh, h0, hs, gates, rh, hprev, threads):
    """GRU over T steps.

    xw (N, T, 3H) = xs @ Wx; b (3H,); Wzr, Whh = Wh[:, :2H], Wh[:, 2H:] packed
    by ``pack`` with 2 and 1 gates; h0 (N, H).  Writes hs (N, T, H) = h_t;
    gates (N, T, 3H) = (z, r, h_hat); rh (N, T, H) = r*h_{t-1}; hprev (N, T, H) = h_{t-1}.
    """
    N, T, H = hs.shape
    n = panels(H)
    rows, chunks = split(N, n, Wzr.nbytes + Whh.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            r0, r1 = rows[q, 0], rows[q, 1]
            for t in range(T):
                _forward_gates(t, r0, r1, 0, n, xw, b, Wzr, h0, hs, gates, rh, hprev)
                _forward_candidate(t, r0, r1, 0, n, xw, b, Whh, hs, gates, rh, hprev)
        return
    for t in range(T):
        for q in prange(chunks.shape[0]):
            _forward_gates(t, 0, N, chunks[q, 0], chunks[q, 1], xw, b, Wzr, h0, hs, gates, rh, hprev)
        for q in prange(chunks.shape[0]):
            _forward_candidate(t, 0, N, chunks[q, 0], chunks[q, 1], xw, b, Whh, hs, gates, rh, hprev)


@njit(**JIT)
def _backward_update(t, r0, r1, k0, k1, dh, carry, dhs, WzrT, gates, hprev, dA):
    """Phase 1 of step t (backwards): dL/dh_t, then the update-gate and
    candidate pre-activation grads of rows r0:r1, unit chunks k0:k1.

    WzrT = Wh[:, :2H].T (2H, H) packed by ``pack(., 1, .)``.  On entry carry
    holds the part of dL/dh_t that does not go through the gate products of
    step t+1; on exit, dL/dh_t * (1 - z_t).
    """
    N, T, H = dhs.shape
    u0, u1 = k0 * NR, min(H, k1 * NR)
    if t + 1 < T:
        products(2 * H, dA.reshape(-1), (t + 1) * 3 * H, T * 3 * H, WzrT, 1, H, dh.reshape(-1), 0, H, r0, r1, k0, k1)
    else:
        dh[r0:r1, u0:u1] = 0
    for r in range(r0, r1):
        z, hh, hpi = gates[r, t, u0:u1], gates[r, t, 2 * H + u0:2 * H + u1], hprev[r, t, u0:u1]
        dz, dhh = dA[r, t, u0:u1], dA[r, t, 2 * H + u0:2 * H + u1]
        d, cr = dh[r, u0:u1], carry[r, u0:u1]
        d += dhs[r, t, u0:u1]
        d += cr  # dL/dh_t
        for u in range(u1 - u0):
            dz[u] = d[u] * (hh[u] - hpi[u]) * z[u] * (1 - z[u])
        for u in range(u1 - u0):
            dhh[u] = d[u] * z[u] * (1 - hh[u] * hh[u])
        for u in range(u1 - u0):
            cr[u] = d[u] * (1 - z[u])


@njit(**JIT)
def _backward_reset(t, r0, r1, k0, k1, dh, carry, WhhT, gates, hprev, dA):
    """Phase 2 of step t (backwards): the reset-gate grads of rows r0:r1, unit
    chunks k0:k1; adds the path through r*h_{t-1} to carry.  WhhT =
    Wh[:, 2H:].T (H, H) packed by ``pack(., 1, .)``."""
    N, T, H3 = dA.shape
    H = H3 // 3
    products(H, dA.reshape(-1), t * 3 * H + 2 * H, T * 3 * H, WhhT, 1, H, dh.reshape(-1), 0, H, r0, r1, k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    for r in range(r0, r1):
        rg, hpi, dr = gates[r, t, H + u0:H + u1], hprev[r, t, u0:u1], dA[r, t, H + u0:H + u1]
        dhr, cr = dh[r, u0:u1], carry[r, u0:u1]
        for u in range(u1 - u0):
            dr[u] = dhr[u] * hpi[u] * rg[u] * (1 - rg[u])
        for u in range(u1 - u0):
            cr[u] += dhr[u] * rg[u]


@njit(**JIT)
def _first_state_grad(r0, r1, k0, k1, dA, WzrT, carry, dh0):
    """dh0 = dA[:, 0, :2H] @ Wh[:, :2H].T + carry, rows r0:r1, unit chunks k0:k1."""
    N, T, H3 = dA.shape
    H = H3 // 3
    products(2 * H, dA.reshape(-1), 0, T * H3, WzrT, 1, H, dh0.reshape(-1), 0, H, r0, r1, k0, k1)
    u0, u1 = k0 * NR, min(H, k1 * NR)
    dh0[r0:r1, u0:u1] += carry[r0:r1, u0:u1]


@njit(**PJIT)
def gru_backward(dhs, WzrT, WhhT, gates, hprev, dA, dh0, threads):
    """Backprop through time of ``gru_forward``.

    dhs (N, T, H) upstream gradient; WzrT, WhhT = Wh[:, :2H].T, Wh[:, 2H:].T
    packed by ``pack(., 1, .)``; gates, hprev from the forward.  Writes
    dA (N, T, 3H) = dL/d(pre-activations) and dh0 (N, H).
    """
    N, T, H = dhs.shape
    n = panels(H)
    dh = np.empty((N, H), dhs.dtype)
    carry = np.zeros((N, H), dhs.dtype)
    rows, chunks = split(N, n, WzrT.nbytes + WhhT.nbytes, threads)
    if chunks.shape[0] == 0:
        for q in prange(rows.shape[0]):
            r0, r1 = rows[q, 0], rows[q, 1]
            for t in range(T - 1, -1, -1):
                _backward_update(t, r0, r1, 0, n, dh, carry, dhs, WzrT, gates, hprev, dA)
                _backward_reset(t, r0, r1, 0, n, dh, carry, WhhT, gates, hprev, dA)
            _first_state_grad(r0, r1, 0, n, dA, WzrT, carry, dh0)
        return
    for t in range(T - 1, -1, -1):
        for q in prange(chunks.shape[0]):
            _backward_update(t, 0, N, chunks[q, 0], chunks[q, 1], dh, carry, dhs, WzrT, gates, hprev, dA)
        for q in prange(chunks.shape[0]):
            _backward_reset(t, 0, N, chunks[q, 0], chunks[q, 1], dh, carry, WhhT, gates, hprev, dA)
    for q in prange(chunks.shape[0]):
        _first_state_grad(0, N, chunks[q, 0], chunks[q, 1], dA, WzrT, carry, dh0)
