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
from numba import njit, prange, types
from numba.extending import overload

from . import bf16 as _bf16
from .blas import gemm, sum_parts
from .config import JIT, PJIT
from .gemm import packed_size, serial_matmul
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
def _product(A, B, C, Bp, own):
    """C = A @ B for A (M, K) and C (M, N) C-contiguous, B any view: on fastrnn's
    own core (``own``, Bp its workspace) or by BLAS."""
    if own:
        serial_matmul(A, A.shape[1], B, Bp, C)
    else:
        gemm(A, B, C)


def _scores(x1, x1r, W, tile, Bp, bf16, own):
    """tile = x1 @ W (``_product``), or with ``bf16`` (float32 only) of x1 rounded
    (x1r, ``kernels.bf16.rounded``) and W rounded (in kernels only)."""


@overload(_scores, jit_options=JIT)
def _scores_impl(x1, x1r, W, tile, Bp, bf16, own):
    if tile.dtype != types.float32:  # float64 layers have no bf16
        return lambda x1, x1r, W, tile, Bp, bf16, own: _product(x1, W, tile, Bp, own)

    def impl(x1, x1r, W, tile, Bp, bf16, own):
        if bf16:
            _bf16.rounded_gemm(x1r, W, tile)
        else:
            _product(x1, W, tile, Bp, own)
    return impl


@njit(**JIT)
def _group(g, count):
    """Tiles [first, stop) of group g of the count tiles."""
    groups = min(GROUPS, count)
    return g * count // groups, (g + 1) * count // groups


@njit(**PJIT)
def head_forward(x1, Wb, t, E, tmax, tsum, tlabel, bf16, own):
    """x1 (R, D+1) C-contiguous, Wb (D+1, V), t (R,) ids (any value outside [0, V)
    is never looked up); writes E (count, R, width), tmax and tsum (count, R),
    and tlabel (R,), the score at t[r] of each row whose label lies in [0, V).
    ``bf16``: the scores' products take bfloat16 operands (float32 only);
    else ``own``: they run on fastrnn's own core, not BLAS."""
    V = Wb.shape[1]
    R, D1 = E.shape[1], x1.shape[1]
    count, width = column_tiles(R, V)
    x1r = _bf16.rounded(x1) if bf16 else np.empty(0, np.uint16)  # rounded once for every tile
    for g in prange(min(GROUPS, count)):
        first, stop = _group(g, count)
        S = np.empty(R * width, E.dtype)
        Bp = np.empty(packed_size(D1, width, 1) if own else 0, E.dtype)
        for k in range(first, stop):
            c0, c1 = k * width, min(V, (k + 1) * width)
            tile = S[:R * (c1 - c0)].reshape(R, c1 - c0)  # C-contiguous rows, so loops vectorise
            _scores(x1, x1r, Wb[:, c0:c1], tile, Bp, bf16, own)
            for r in range(R):
                row = tile[r]
                label = t[r]
                if c0 <= label < c1:
                    tlabel[r] = row[label - c0]
                m = row_max(row)
                tmax[k, r] = m
                tsum[k, r] = exp_sum(row, m, E[k, r, :c1 - c0])


@njit(**PJIT)
def head_backward(x1, E, c, t, scale, WT, dWb, parts, dx, accumulate, bf16, own):
    """x1 (R, D+1), E (count, R, width) and c (count, R) from the forward; t (R,) labels,
    a label outside [0, V) (an ignored row, whose c is 0) adding no label term;
    WT (V, D) the transposed weight.  Writes dx (R, D), using parts (GROUPS, R, D)
    as scratch, and dWb (D+1, V), or adds this call's dWb to it (``accumulate``:
    each tile's part is made whole, then added).  Every tile's part is the same
    either way, so calls over groups of rows add up, in their order, as one
    process per group would.  ``bf16``: ``_pair_backward``; else ``own``: the
    products run on fastrnn's own core, not BLAS."""
    V, R = WT.shape[0], E.shape[1]
    D1, D = x1.shape[1], WT.shape[1]
    count, width = column_tiles(R, V)
    groups = min(GROUPS, count)
    if bf16:
        _pair_backward(x1, E, c, t, scale, WT, dWb, parts, accumulate)
        sum_parts(parts[:groups], dx)
        return
    x1T = np.ascontiguousarray(x1.T) if own else np.empty((0, 0), x1.dtype)
    for g in prange(groups):
        first, stop = _group(g, count)
        X = np.empty((D1, R) if own else (R, D1), x1.dtype)  # own: rows of x1.T, the product's unit-stride k
        P = np.empty((R, D), x1.dtype)
        S = np.empty((D1, width if accumulate or own else 0), x1.dtype)
        Bp = np.empty(max(packed_size(R, width, 1), packed_size(width, D, 1)) if own else 0, x1.dtype)
        part = parts[g]
        part[:] = 0
        for k in range(first, stop):
            c0, c1 = k * width, min(V, (k + 1) * width)
            w = c1 - c0
            if own:
                for i in range(D1):
                    for r in range(R):
                        X[i, r] = c[k, r] * x1T[i, r]
                out = S[:, :w]
                serial_matmul(X, R, E[k, :, :w], Bp, S)
                serial_matmul(E[k], w, WT[c0:c1], Bp, P)
            else:
                for r in range(R):
                    ck = c[k, r]
                    for i in range(D1):
                        X[r, i] = ck * x1[r, i]
                out = S[:, :w] if accumulate else dWb[:, c0:c1]
                gemm(X.T, E[k, :, :w], out)
                gemm(E[k, :, :w], WT[c0:c1], P)
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
            elif own:
                dWb[:, c0:c1] = out
    sum_parts(parts[:groups], dx)


@njit(**PJIT)
def _pair_backward(x1, E, c, t, scale, WT, dWb, parts, accumulate):
    """``head_backward``'s products with bfloat16 operands: each tile's gradient
    dS = c * E - scale * onehot is made in float32 and rounded as it is stored
    (in cache), then multiplied with the rounded x1 and W.T: dWb = x1.T @ dS and
    its part of dx = dS @ W.T, the products of the gradient itself."""
    V, R = WT.shape[0], E.shape[1]
    D1 = x1.shape[1]
    count, width = column_tiles(R, V)
    x1Tr = _bf16.rounded(x1.T)  # rounded once for every tile
    for g in prange(min(GROUPS, count)):
        first, stop = _group(g, count)
        dS = _bf16.row_buffer(R, width)  # rounded rows of the tile's gradient
        dSp = np.empty(_bf16.packed_size(R, width, 1), np.uint16)  # and packed as the right operand
        W = np.empty(D1 * width, np.float32)
        P = np.empty((R, WT.shape[1]), np.float32)
        part = parts[g]
        part[:] = 0
        for k in range(first, stop):
            c0, c1 = k * width, min(V, (k + 1) * width)
            w = c1 - c0
            Kp = _bf16.padded(w)
            if w < width:
                dS[:] = 0
            for r in range(R):
                ck, row, e = c[k, r], dS[r * Kp:r * Kp + w], E[k, r, :w]
                for j in range(w):
                    row[j] = _bf16.bf16(ck * e[j])
                if c0 <= t[r] < c1:
                    row[t[r] - c0] = _bf16.bf16(ck * e[t[r] - c0] - scale)
            _bf16.pack_here(dS[:R * Kp].reshape(R, Kp)[:, :w], dSp)
            dW = W[:D1 * w].reshape(D1, w)
            _bf16.blocks(_bf16.padded(R), x1Tr, dSp, 1, w, W, 0, w, D1, 0, _bf16.panels(w))
            for i in range(D1):  # row by row: unit-stride loops
                target, src = dWb[i, c0:c1], dW[i]
                if accumulate:
                    for j in range(w):
                        target[j] += src[j]
                else:
                    target[:] = src
            _bf16.blocks(Kp, dS, _bf16.panels_of(WT[c0:c1]), 1, WT.shape[1], P.reshape(-1), 0, WT.shape[1], R, 0,
                         _bf16.panels(WT.shape[1]))
            part += P
