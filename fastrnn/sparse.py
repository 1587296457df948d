"""Row-sparse gradients: ``RowGrad``, the gradient of a (V, D) param that is zero
but at a few rows, and what a training step does with it.

An embedding's gradient is nonzero only at the rows of the batch's words (at
most N*T of V), and the shortlist an adaptive head ties to the embedding adds
a fixed set of rows.  fastrnn's training step (``fastrnn.trainer.train_step``)
asks a language model for such gradients (``LanguageModel.sparse_backward``),
merges tied ones, clips, reduces them over processes and applies SGD on the
rows alone, so none of it costs time in V.  Each operation gives the bits the
dense operation gives on the whole array: rows without a gradient do not change,
the gradient norm is the same sum in the same order, and two processes (or two
row groups) add their rows as they add whole arrays.  ``densify`` writes the
dense gradient where a dense one is needed (an optimizer with state, a param
tied to a dense gradient, a small array).
"""
from __future__ import annotations

import numpy as np

from ._elementwise import KERNEL_MIN, scale_, sgd_
from ._elementwise import sum_of_squares as dense_sum_of_squares
from .kernels import optim


class RowGrad:
    """The gradient of a (V, D) param, zero but at ``rows``.

    ``rows`` (U,) sorted, distinct int64 ids; ``values`` (U, D) the gradient's
    rows there; ``dense`` the param's dense grad array (V, D), which
    ``densify`` fills.
    """

    def __init__(self, rows: np.ndarray, values: np.ndarray, dense: np.ndarray):
        self.rows, self.values, self.dense = rows, values, dense

    @property
    def shape(self) -> tuple:
        return self.dense.shape

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def densify(self) -> np.ndarray:
        """The dense gradient, written into ``dense`` (zeros but at the rows)."""
        self.dense[...] = 0
        self.dense[self.rows] = self.values
        return self.dense

    def _lane_kernel(self) -> bool:
        """Whether the dense array's sum and update run in kernels over its C-order
        elements (``fastrnn._elementwise``), which the row kernels reproduce."""
        return self.dense.size >= KERNEL_MIN and self.dense.flags.c_contiguous


def merge(a, b):
    """``a + b`` of two gradients of one param (``remove_duplicate``): a RowGrad when
    both are, else a dense array (a's own, or b's when a is a RowGrad)."""
    if isinstance(a, RowGrad) and isinstance(b, RowGrad):
        rows = np.union1d(a.rows, b.rows)
        values = np.zeros((rows.size, a.values.shape[1]), a.values.dtype)
        ia, ib = np.searchsorted(rows, a.rows), np.searchsorted(rows, b.rows)
        values[ia] = a.values
        values[ib] += b.values  # rows of both: a + b; of b alone: 0 + b
        values[np.setdiff1d(ia, ib, assume_unique=True)] += 0  # of a alone: a + 0, as the dense sum makes it
        return RowGrad(rows, values, a.dense)
    if isinstance(a, RowGrad) and isinstance(b, np.ndarray) and _one_pass(a, b):
        optim.rows_plus_transposed(a.dense, a.rows, a.values, b.T)  # a tied output weight's grad
        return a.dense
    a = densify(a)
    a += densify(b)
    return a


def _one_pass(a: RowGrad, b: np.ndarray) -> bool:
    """Whether ``merge(a, b)`` runs as one kernel: b the transpose of a C-contiguous
    array of a's shape and dtype, a's dense array C-contiguous."""
    return (b.shape == a.shape and b.dtype == a.dtype and b.T.flags.c_contiguous and a.dense.flags.c_contiguous
            and a.values.flags.c_contiguous and not np.may_share_memory(b, a.dense))


def densify(g):
    """g as a dense array."""
    return g.densify() if isinstance(g, RowGrad) else g


def sum_of_squares(g: RowGrad) -> float:
    """``_elementwise.sum_of_squares`` of the dense gradient, bit for bit."""
    if not g._lane_kernel():
        return dense_sum_of_squares(g.densify())
    return optim.sum_of_squares_rows(g.values, g.rows, g.dense.shape[0])


def scale(g: RowGrad, rate: float) -> None:
    """g *= rate, in place."""
    scale_(g.values, rate)


def sgd(p: np.ndarray, g: RowGrad, lr: float) -> None:
    """p -= lr * g, in place: ``_elementwise.sgd_`` of the dense gradient, bit for bit."""
    if g._lane_kernel() and p.flags.c_contiguous and p.shape == g.shape:
        optim.sgd_rows(p, g.rows, g.values, p.dtype.type(lr))
    else:
        sgd_(p, g.densify(), lr)
