"""Softmax with cross-entropy over rows of scores, fused, parallel over rows.

For a row ``x`` (V scores) with label ``t``: ``m = max(x)``,
``lse = m + log(sum(exp(x - m)))``, ``loss = lse - x[t]`` and
``dx = (exp(x - lse) - onehot(t)) * scale``.  Rows whose label equals
``ignore`` give loss 0 and a zero gradient.  Loss and gradient come from one
pass, so the exponentials are taken once and no other V-wide array exists.
"""
import math

import numpy as np

from numba import njit, prange

from .config import JIT, PJIT
from .mathfn import exp_nonpos

BLOCK = 1024
"""Scores of a row whose exponentials are taken against one running maximum."""


@njit(**JIT)
def row_max(row):
    """max(row) of a 1-D array, over eight interleaved partial maxima kept in
    registers, so that LLVM vectorises it (a single running max is a serial
    dependency chain)."""
    n = row.size
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = row[0]
    j = 0
    while j + 8 <= n:
        m0, m1, m2, m3 = max(m0, row[j]), max(m1, row[j + 1]), max(m2, row[j + 2]), max(m3, row[j + 3])
        m4, m5, m6, m7 = max(m4, row[j + 4]), max(m5, row[j + 5]), max(m6, row[j + 6]), max(m7, row[j + 7])
        j += 8
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for k in range(j, n):
        m = max(m, row[k])
    return m


@njit(**JIT)
def exp_sum(x, shift, out):
    """out = exp(x - shift) for 1-D x <= shift (elementwise); returns sum(out)."""
    s = x.dtype.type(0)
    for j in range(x.size):
        e = exp_nonpos(x[j] - shift)
        out[j] = e
        s += e
    return s


@njit(**PJIT)
def softmax_cross_entropy(x, t, ignore, scale, losses, dx):
    """x (R, V) float, t (R,) int64 in [0, V) or ``ignore``; writes losses (R,)
    and dx (R, V) = (softmax(x) - onehot(t)) * scale, both zero at ignored rows.

    One pass over x from memory: a row is read in blocks of ``BLOCK`` scores,
    each block's exponentials taken against the largest score seen so far,
    the running sum rescaled when that maximum grows; the row of dx, still in
    cache, is then brought to the final maximum and normalised.
    """
    R, V = x.shape
    blocks = (V + BLOCK - 1) // BLOCK
    for r in prange(R):
        label = t[r]
        out = dx[r]
        if label == ignore:
            losses[r] = 0
            out[:] = 0
            continue
        row = x[r]
        shifts = np.empty(blocks, x.dtype)  # the maximum each block's exponentials used
        m = row_max(row[:BLOCK])
        s = x.dtype.type(0)
        for k in range(blocks):
            b0, b1 = k * BLOCK, min(V, (k + 1) * BLOCK)
            bm = row_max(row[b0:b1])
            if bm > m:
                s *= exp_nonpos(m - bm)
                m = bm
            shifts[k] = m
            s += exp_sum(row[b0:b1], m, out[b0:b1])
        for k in range(blocks):
            c = exp_nonpos(shifts[k] - m) * (scale / s)
            block = out[k * BLOCK:min(V, (k + 1) * BLOCK)]
            for j in range(block.size):
                block[j] *= c
        out[label] -= scale
        losses[r] = m + math.log(s) - row[label]
