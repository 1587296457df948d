"""Softmax with cross-entropy over rows of scores, fused, parallel over rows.

For a row ``x`` (V scores) with label ``t``: ``m = max(x)``,
``loss = (m - x[t]) + log(sum(exp(x - m)))`` and
``dx = (exp(x - m) / sum(exp(x - m)) - onehot(t)) * scale``.  Rows whose label equals
``ignore`` give loss 0 and a zero gradient.  Loss and gradient come from one
pass, so the exponentials are taken once and no other V-wide array exists.
"""
import math

import numpy as np

from numba import njit, prange

from .config import JIT, PJIT
from .mathfn import exp_nonpos
from .simd import LANES, vadd, vload, vmax, vmaxall, vsplat, vsum

BLOCK = 1024
"""Scores of a row whose exponentials are taken against one running maximum."""


@njit(**JIT)
def row_max(row):
    """max(row) of a contiguous 1-D array, LANES elements at a time."""
    n = row.size
    j = 0
    m = row[0]
    if n >= LANES:
        acc = vload(row, 0, LANES)
        j = LANES
        while j + LANES <= n:
            acc = vmax(acc, vload(row, j, LANES))
            j += LANES
        m = vmaxall(acc)
    for k in range(j, n):
        m = max(m, row[k])
    return m


@njit(**JIT)
def lane_sum(a):
    """sum(a) of a contiguous 1-D array in an order fixed by this source: each of
    2*LANES lanes sums every (2*LANES)-th element in turn, the lanes are added in
    a fixed tree (``vsum``), then the elements left over, in order."""
    n = a.size
    zero = a.dtype.type(0)
    acc0, acc1 = vsplat(zero, LANES), vsplat(zero, LANES)
    j = 0
    while j + 2 * LANES <= n:
        acc0 = vadd(acc0, vload(a, j, LANES))
        acc1 = vadd(acc1, vload(a, j + LANES, LANES))
        j += 2 * LANES
    s = vsum(vadd(acc0, acc1))
    for k in range(j, n):
        s += a[k]
    return s


@njit(**JIT)
def exp_sum(x, shift, out):
    """out = exp(x - shift) for 1-D x <= shift (elementwise); returns sum(out)
    (``lane_sum``'s order)."""
    for j in range(x.size):
        out[j] = exp_nonpos(x[j] - shift)
    return lane_sum(out)


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
        losses[r] = (m - row[label]) + math.log(s)  # m - x[t] first: exact when the scores are close
