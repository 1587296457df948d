"""Affine map over every time step: ``TimeAffine``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._matmul import matmul


class TimeAffine:
    """``forward(x (N, T, D)) -> x @ W + b (N, T, M)`` with ``W (D, M)``, ``b (M,)``.

    ``W`` may be a non-contiguous view, such as the transposed embedding matrix
    of weight tying.  The bias rides inside the matrix products as an extra
    input column of ones, so neither forward nor backward makes an extra pass
    over the (N*T, M) scores.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.dtype = v.params_dtype("TimeAffine", (W, b), ("W", "b"))
        if W.ndim != 2:
            raise ValueError(f"TimeAffine: W must have shape (D, M), got {W.shape}")
        v.check_shape(b.shape, (W.shape[1],), "TimeAffine: b")
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self._x1 = None
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, T, D) -> (N, T, M)."""
        W, b = self.params
        D, M = W.shape
        x = v.float_array(x, "x", (None, None, D), self.dtype)
        N, T, _ = x.shape
        x1 = np.empty((N * T, D + 1), self.dtype)  # [x, 1]
        x1[:, :D] = x.reshape(N * T, D)
        x1[:, D] = 1
        Wb = np.empty((D + 1, M), self.dtype)  # [W; b]
        Wb[:D] = W
        Wb[D] = b
        self._x1 = x1
        self._shape = (N, T, D)
        return matmul(x1, Wb).reshape(N, T, M)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, T, M) -> dx (N, T, D); writes dW = x^T dout and db = sum(dout)."""
        if self._x1 is None:
            raise RuntimeError("TimeAffine.backward called before forward")
        W, _ = self.params
        N, T, D = self._shape
        M = W.shape[1]
        dout = v.float_array(dout, "dout", (N, T, M), self.dtype).reshape(N * T, M)
        dWb = matmul(self._x1.T, dout)
        dW, db = self.grads
        dW[...] = dWb[:D]
        db[...] = dWb[D]
        return matmul(dout, W.T).reshape(N, T, D)
