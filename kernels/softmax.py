"""Softmax with cross-entropy over rows of scores, fused, parallel over rows.

For a row ``x`` (V scores) with label ``t``: ``m = max(x)``,
``lse = m + log(sum(exp(x - m)))``, ``loss = lse - x[t]`` and
``dx = (exp(x - lse) - onehot(t)) * scale``.  Rows whose label equals
``ignore`` give loss 0 and a zero gradient.  Forward keeps only ``lse`` per
row; backward recomputes the exponentials, so no V-wide temporary exists.
"""
import math

from numba import njit, prange

from .config import JIT, PJIT
from .mathfn import exp_nonpos

LANES = 16


@njit(**JIT)
def row_max(row):
    """max(row) of a 1-D array, over LANES interleaved partial maxima so that
    LLVM vectorises it (a single running max is a serial dependency chain)."""
    n = row.size
    if n < LANES:
        m = row[0]
        for j in range(1, n):
            m = row[j] if row[j] > m else m
        return m
    acc = row[:LANES].copy()
    for j in range(LANES, n - n % LANES, LANES):
        for k in range(LANES):
            v = row[j + k]
            acc[k] = v if v > acc[k] else acc[k]
    m = acc[0]
    for k in range(1, LANES):
        m = acc[k] if acc[k] > m else m
    for j in range(n - n % LANES, n):
        m = row[j] if row[j] > m else m
    return m


@njit(**PJIT)
def softmax_cross_entropy_forward(x, t, ignore, losses, lse):
    """x (R, V) float, t (R,) int64 in [0, V) or ``ignore``;
    writes losses (R,) and lse (R,) (log-sum-exp, 0 at ignored rows)."""
    R, V = x.shape
    for r in prange(R):
        label = t[r]
        if label == ignore:
            losses[r] = 0
            lse[r] = 0
            continue
        row = x[r]
        m = row_max(row)
        s = exp_nonpos(row[0] - m)
        for j in range(1, V):
            s += exp_nonpos(row[j] - m)
        lse[r] = m + math.log(s)
        losses[r] = lse[r] - row[label]


@njit(**PJIT)
def softmax_cross_entropy_backward(x, t, ignore, lse, scale, dx):
    """dx (R, V) = (softmax(x) - onehot(t)) * scale, zero rows where t == ignore."""
    R, V = x.shape
    for r in prange(R):
        label = t[r]
        out = dx[r]
        if label == ignore:
            out[:] = 0
            continue
        row = x[r]
        c = lse[r]
        for j in range(V):
            out[j] = exp_nonpos(row[j] - c) * scale
        out[label] -= scale
