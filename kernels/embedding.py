"""Embedding gather and its race-free scatter-add gradient, dense (V, D) or
row-sparse (the rows of the ids alone)."""
import numpy as np
from numba import njit, prange

from .config import PJIT

ID_PARTITIONS = 64
"""The scatter-add splits word ids by ``id % ID_PARTITIONS``; each partition is
one task that owns its rows of dW, so no two threads write one row and the
summation order of a repeated id is the order of occurrence, whatever the
thread count."""


@njit(**PJIT)
def embedding_gather(W, ids, out):
    """out (R, D) = W[ids]; W (V, D), ids (R,) int64 in [0, V)."""
    for r in prange(ids.shape[0]):
        out[r, :] = W[ids[r], :]


@njit(**PJIT)
def embedding_scatter_add(dout, ids, dW, bounds):
    """dW (V, D) = sum over r of onehot(ids[r]) dout[r]; dout (R, D).

    The rows come in groups (``bounds``: group g is rows bounds[g]:bounds[g+1]):
    each group's sum for an id is made in order of occurrence, and the groups'
    sums are then added in group order, as processes that each hold one group
    would add theirs (``fastrnn.parallel``).
    """
    V, D = dW.shape
    G = bounds.size - 1
    scratch = np.empty((V if G > 1 else 0, D), dW.dtype)  # a later group's sums, rows of its ids only
    pending = np.full(V if G > 1 else 0, -1, np.int64)  # the group whose sum scratch[i] holds
    for p in prange(ID_PARTITIONS):
        for i in range(p, V, ID_PARTITIONS):
            dW[i, :] = 0
        for r in range(bounds[0], bounds[1]):
            i = ids[r]
            if i % ID_PARTITIONS == p:
                dW[i, :] += dout[r, :]
        for g in range(1, G):
            for r in range(bounds[g], bounds[g + 1]):
                i = ids[r]
                if i % ID_PARTITIONS != p:
                    continue
                if pending[i] == g:
                    scratch[i, :] += dout[r, :]
                else:
                    scratch[i, :] = dout[r, :]
                    pending[i] = g
            for r in range(bounds[g], bounds[g + 1]):
                i = ids[r]
                if i % ID_PARTITIONS == p and pending[i] == g:
                    dW[i, :] += scratch[i, :]
                    pending[i] = -1


@njit(**PJIT)
def embedding_row_sums(dout, occ, starts, bounds, values):
    """values[u] = the row of dW that ``embedding_scatter_add`` makes for the u-th
    distinct id, bit for bit, without a (V, D) array: occ[starts[u]:starts[u+1]]
    are the rows r of dout (R, D) holding that id, in increasing order; each
    group's (``bounds``) sum is made in order of occurrence, and the groups'
    sums are added to zero in group order."""
    U, D = values.shape
    G = bounds.size - 1
    chunks = min(U, 64)
    for c in prange(chunks):
        scratch = np.empty(D, values.dtype)
        for u in range(c * U // chunks, (c + 1) * U // chunks):
            v = values[u]
            v[:] = 0
            k, end = starts[u], starts[u + 1]
            while k < end and occ[k] < bounds[1]:
                v += dout[occ[k]]
                k += 1
            for g in range(1, G):
                if k < end and occ[k] < bounds[g + 1]:
                    scratch[:] = dout[occ[k]]
                    k += 1
                    while k < end and occ[k] < bounds[g + 1]:
                        scratch += dout[occ[k]]
                        k += 1
                    v += scratch
