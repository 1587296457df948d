"""Embedding lookup: one step (``Embedding``) and a time loop (``TimeEmbedding``)."""
from __future__ import annotations

import numpy as np

from .. import _groups
from .. import _validate as v
from ..kernels.embedding import embedding_gather, embedding_scatter_add


class Embedding:
    """Rows of ``W (V, D)`` picked by word ids: ``forward(idx (N,)) -> (N, D)``.

    ``backward(dout)`` writes ``dW``, accumulating every occurrence of a
    repeated id, and returns None.
    """

    _ids_spec, _ids_name = (None,), "idx"
    groups = 1
    """Groups of batch rows whose gradients are summed each on its own (``fastrnn._groups``)."""

    def __init__(self, W: np.ndarray):
        self.dtype = v.params_dtype(type(self).__name__, (W,), ("W",))
        if W.ndim != 2:
            raise ValueError(f"{type(self).__name__}: W must have shape (V, D), got {W.shape}")
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self._ids = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """idx int array of shape ``_ids_spec`` -> idx.shape + (D,)."""
        W = self.params[0]
        V, D = W.shape
        ids = v.id_array(idx, self._ids_name, self._ids_spec, V)
        out = np.empty((ids.size, D), self.dtype)
        embedding_gather(np.ascontiguousarray(W), ids.reshape(-1), out)
        self._ids = ids
        return out.reshape(ids.shape + (D,))

    def backward(self, dout: np.ndarray) -> None:
        """dout idx.shape + (D,); writes dW (V, D)."""
        if self._ids is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dW = self.grads[0]
        D = dW.shape[1]
        dout = v.float_array(dout, "dout", self._ids.shape + (D,), self.dtype)
        target = dW if dW.flags.c_contiguous else np.empty(dW.shape, dW.dtype)
        N = self._ids.shape[0]
        steps = self._ids.size // N  # T of a (N, T) batch, 1 of a step
        embedding_scatter_add(dout.reshape(-1, D), self._ids.reshape(-1), target,
                              _groups.bounds(N, self.groups) * steps)
        if target is not dW:
            dW[...] = target
        return None


class TimeEmbedding(Embedding):
    """``forward(xs (N, T) int) -> (N, T, D)``; ``backward(dout (N, T, D)) -> None``."""

    _ids_spec, _ids_name = (None, None), "xs"
