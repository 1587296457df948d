"""Embedding lookup: one step (``Embedding``) and a time loop (``TimeEmbedding``)."""
from __future__ import annotations

import numpy as np

from .. import _groups
from .. import _validate as v
from ..kernels.embedding import embedding_gather, embedding_row_sums, embedding_scatter_add
from ..sparse import RowGrad


def row_sums(dout: np.ndarray, ids: np.ndarray, bounds: np.ndarray, dense: np.ndarray) -> RowGrad:
    """The embedding gradient of dout (R, D) at ids (R,) as a RowGrad over the
    distinct ids, bit for bit the rows ``embedding_scatter_add`` makes (groups of
    rows at ``bounds``); ``dense`` is the (V, D) array it stands for."""
    rows, inverse = np.unique(ids, return_inverse=True)
    occ = np.argsort(inverse, kind="stable")  # each id's rows, in increasing order
    starts = np.zeros(rows.size + 1, np.int64)
    np.cumsum(np.bincount(inverse, minlength=rows.size), out=starts[1:])
    values = np.empty((rows.size, dout.shape[1]), dout.dtype)
    embedding_row_sums(dout, occ, starts, bounds, values)
    return RowGrad(rows.astype(np.int64), values, dense)


def zeros_like(W: np.ndarray) -> np.ndarray:
    """Zeros of W's shape, dtype and memory order, from memory the system gives
    zeroed: pages a sparse training step never writes are never made resident."""
    return np.zeros(W.shape, W.dtype, order="F" if W.flags.f_contiguous and not W.flags.c_contiguous else "C")


class Embedding:
    """Rows of ``W (V, D)`` picked by word ids: ``forward(idx (N,)) -> (N, D)``.

    ``backward(dout)`` writes ``dW``, accumulating every occurrence of a
    repeated id, and returns None.  With ``row_grads`` set (fastrnn's training
    step does), it leaves ``dW`` alone and makes ``row_grad``, the same
    gradient as a ``fastrnn.sparse.RowGrad`` of the batch's rows only.
    """

    _ids_spec, _ids_name = (None,), "idx"
    groups = 1
    """Groups of batch rows whose gradients are summed each on its own (``fastrnn._groups``)."""
    row_grads = False
    """Whether ``backward`` makes ``row_grad`` instead of writing ``dW``."""

    def __init__(self, W: np.ndarray):
        self.dtype = v.params_dtype(type(self).__name__, (W,), ("W",))
        if W.ndim != 2:
            raise ValueError(f"{type(self).__name__}: W must have shape (V, D), got {W.shape}")
        self.params = [W]
        self.grads = [zeros_like(W)]
        self._ids = None
        self.row_grad = None
        self.word_drop = None
        """A ``TimeDropout`` over the vocabulary (AWD-LSTM's embedding dropout: whole
        words dropped, one mask a call, word id i taking draw i of its row 0), or None."""
        self._scales = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """idx int array of shape ``_ids_spec`` -> idx.shape + (D,)."""
        W = self.params[0]
        V, D = W.shape
        ids = v.id_array(idx, self._ids_name, self._ids_spec, V)
        out = np.empty((ids.size, D), self.dtype)
        embedding_gather(np.ascontiguousarray(W), ids.reshape(-1), out)
        self._ids, self._scales = ids, None
        drop = self.word_drop
        if drop is not None and drop.train_flg:
            self._scales = drop.forward(np.ones((1, V), self.dtype))[0, ids.reshape(-1), None]
            out *= self._scales
        return out.reshape(ids.shape + (D,))

    def backward(self, dout: np.ndarray) -> None:
        """dout idx.shape + (D,); writes dW (V, D)."""
        if self._ids is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dW = self.grads[0]
        D = dW.shape[1]
        dout = v.float_array(dout, "dout", self._ids.shape + (D,), self.dtype)
        if self._scales is not None:
            dout = dout * self._scales.reshape(self._ids.shape + (1,))
        N = self._ids.shape[0]
        steps = self._ids.size // N  # T of a (N, T) batch, 1 of a step
        bounds = _groups.bounds(N, self.groups) * steps
        if self.row_grads:
            self.row_grad = row_sums(dout.reshape(-1, D), self._ids.reshape(-1), bounds, dW)
            return None
        target = dW if dW.flags.c_contiguous else np.empty(dW.shape, dW.dtype)
        embedding_scatter_add(dout.reshape(-1, D), self._ids.reshape(-1), target, bounds)
        if target is not dW:
            dW[...] = target
        return None


class TimeEmbedding(Embedding):
    """``forward(xs (N, T) int) -> (N, T, D)``; ``backward(dout (N, T, D)) -> None``."""

    _ids_spec, _ids_name = (None, None), "xs"
