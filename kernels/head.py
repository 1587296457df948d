"""The output head of a language model fused: affine map, softmax and
cross-entropy, forward and backward, without a (R, V) array of scores.

Forward: the scores ``x1 @ Wb`` (x1 (R, D+1) with a column of ones, Wb
(D+1, V) holding the bias as its last row) are made one column tile at a time
into a scratch tile that stays in cache; each row of a tile gives its maximum
``tmax[k, r]``, the sum ``tsum[k, r]`` of ``exp(score - tmax[k, r])``, and
those exponentials, stored tile by tile in E (count, R, width), each tile one
contiguous block.  The score of each row's label is kept.
Combining the tiles of a row gives its log-sum-exp and loss; the gradient of
the scores is then ``dS = c[k, r] * E - scale * onehot`` with one factor
``c[k, r] = exp(tmax[k, r] - max) / sum * scale`` a row and tile.

Backward: that factor is folded into the small operands, never applied to E:
``dWb[:, tile] = (c[k] * x1).T @ E[k]`` and the tile's part of
``dx = dS @ W.T`` is ``c[k] * (E[k] @ W.T[tile])``; the label terms
are then subtracted row by row.  Tiles go in ``GROUPS`` contiguous groups,
one a task, whose parts of dx are summed in group order: every split depends
on the shapes alone, so results do not depend on the thread count.
"""
import numpy as np
from numba import njit, prange

from .blas import gemm, sum_parts
from .config import JIT, PJIT
from .softmax import exp_sum, row_max

TILE_ELEMENTS = 1 << 19
"""Most scores in one scratch tile (2 MB in float32, which stays in cache)."""
GROUPS = 4
"""Groups of tiles, one a task."""


@njit(**JIT)
def column_tiles(R, V):
    """(count, width) of the column tiles of R rows of V scores: about GROUPS
    times as many tiles as it takes to hold at most TILE_ELEMENTS scores each
    (fewer when V is small), the last one possibly narrower."""
    per_group = max(1, (R * V + GROUPS * TILE_ELEMENTS - 1) // (GROUPS * TILE_ELEMENTS))
    count = min(V, GROUPS * per_group)
    width = (V + count - 1) // count
    return (V + width - 1) // width, width


@njit(**JIT)
def _group(g, count):
    """Tiles [first, stop) of group g of the count tiles."""
    groups = min(GROUPS, count)
    return g * count // groups, (g + 1) * count // groups


@njit(**PJIT)
def head_forward(x1, Wb, t, E, tmax, tsum, tlabel):
    """x1 (R, D+1), Wb (D+1, V), t (R,) ids (any value outside [0, V) is never
    looked up); writes E (count, R, width), tmax and tsum (count, R), and
    tlabel (R,), the score at t[r] of each row whose label lies in [0, V)."""
    V = Wb.shape[1]
    R = E.shape[1]
    count, width = column_tiles(R, V)
    for g in prange(min(GROUPS, count)):
        first, stop = _group(g, count)
        S = np.empty(R * width, E.dtype)
        for k in range(first, stop):
            c0, c1 = k * width, min(V, (k + 1) * width)
            tile = S[:R * (c1 - c0)].reshape(R, c1 - c0)  # C-contiguous rows, so loops vectorise
            gemm(x1, Wb[:, c0:c1], tile)
            for r in range(R):
                row = tile[r]
                label = t[r]
                if c0 <= label < c1:
                    tlabel[r] = row[label - c0]
                m = row_max(row)
                tmax[k, r] = m
                tsum[k, r] = exp_sum(row, m, E[k, r, :c1 - c0])


@njit(**PJIT)
def head_backward(x1, E, c, t, scale, WT, dWb, parts, dx, accumulate):
    """x1 (R, D+1), E (count, R, width) and c (count, R) from the forward; t (R,) labels,
    a label outside [0, V) (an ignored row, whose c is 0) adding no label term;
    WT (V, D) the transposed weight.  Writes dx (R, D), using parts (GROUPS, R, D)
    as scratch, and dWb (D+1, V), or adds this call's dWb to it (``accumulate``:
    each tile's part is made whole, then added).  Every tile's part is the same
    either way, so calls over groups of rows add up, in their order, as one
    process per group would."""
    V, R = WT.shape[0], E.shape[1]
    D1, D = x1.shape[1], WT.shape[1]
    count, width = column_tiles(R, V)
    groups = min(GROUPS, count)
    for g in prange(groups):
        first, stop = _group(g, count)
        X = np.empty((R, D1), x1.dtype)
        P = np.empty((R, D), x1.dtype)
        S = np.empty((D1, width if accumulate else 0), x1.dtype)
        part = parts[g]
        part[:] = 0
        for k in range(first, stop):
            c0, c1 = k * width, min(V, (k + 1) * width)
            for r in range(R):
                ck = c[k, r]
                for i in range(D1):
                    X[r, i] = ck * x1[r, i]
            out = S[:, :c1 - c0] if accumulate else dWb[:, c0:c1]
            gemm(X.T, E[k, :, :c1 - c0], out)
            gemm(E[k, :, :c1 - c0], WT[c0:c1], P)
            for r in range(R):
                ck = c[k, r]
                for j in range(D):
                    part[r, j] += ck * P[r, j]
                label = t[r]
                if c0 <= label < c1:
                    for i in range(D1):
                        out[i, label - c0] -= scale * x1[r, i]
                    for j in range(D):
                        part[r, j] -= scale * WT[label, j]
            if accumulate:
                dWb[:, c0:c1] += out
    sum_parts(parts[:groups], dx)
