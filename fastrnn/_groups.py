"""Groups of batch rows, so that one process computes what several would.

A layer whose ``groups`` is G treats a batch of N rows as G groups (group g is
rows ``g*N//G`` to ``(g+1)*N//G``): every sum over rows (weight gradients) is
each group's sum, the groups' sums then added in group order.  (Products whose
rows are batch rows need no groups: ``fastrnn._matmul.row_matmul`` makes each
row from its own row alone.)  A language model trains
with G = 2, so one process gets, bit for bit, what two data-parallel processes
(``fastrnn.parallel``), each holding one group and adding their gradients, get.
"""
from __future__ import annotations

import numpy as np

from ._matmul import matmul


def bounds(N: int, groups: int) -> np.ndarray:
    """(groups + 1,) int64 row offsets of the groups of N rows."""
    return np.array([g * N // groups for g in range(groups + 1)], np.int64)


def row_slices(N: int, T: int, groups: int) -> list:
    """Slices of the N*T flattened (batch-major) rows of each non-empty group."""
    b = bounds(N, groups) * T
    return [slice(b[g], b[g + 1]) for g in range(groups) if b[g + 1] > b[g]]


def product_T(X: np.ndarray, Y: np.ndarray, out: np.ndarray, slices: list, bf16: bool = False) -> None:
    """out = the sum over groups, in order, of X[rows].T @ Y[rows] (out any 2-D view)."""
    matmul(X[slices[0]].T, Y[slices[0]], out=out, bf16=bf16)
    for rows in slices[1:]:
        out += matmul(X[rows].T, Y[rows], bf16=bf16)


def column_sum(Y: np.ndarray, out: np.ndarray, slices: list) -> None:
    """out = the sum over groups, in order, of Y[rows].sum(axis=0)."""
    np.sum(Y[slices[0]], axis=0, out=out)
    for rows in slices[1:]:
        out += np.sum(Y[rows], axis=0)

