"""Embedding gather and its race-free scatter-add gradient."""
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
def embedding_scatter_add(dout, ids, dW):
    """dW (V, D) = sum over r of onehot(ids[r]) dout[r]; dout (R, D)."""
    V = dW.shape[0]
    for p in prange(ID_PARTITIONS):
        for i in range(p, V, ID_PARTITIONS):
            dW[i, :] = 0
        for r in range(ids.shape[0]):
            i = ids[r]
            if i % ID_PARTITIONS == p:
                dW[i, :] += dout[r, :]
