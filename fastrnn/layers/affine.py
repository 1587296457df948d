"""Affine map over every time step: ``TimeAffine``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._matmul import linear_backward, matmul
from .._precision import Precision


def stacked_params(D: int, M: int, dtype) -> tuple:
    """``(W (D, M), b (M,))``: zero views of one ``(D + 1, M)`` array, b the row
    after W, which ``TimeAffine`` then multiplies by without copying them."""
    Wb = np.zeros((D + 1, M), dtype)
    return Wb[:D], Wb[D]


def _stack(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``[W; b]`` as a (D + 1, M) view when b lies in memory as the row right
    after W's last row (as ``stacked_params`` makes them), else None."""
    if not (W.flags.c_contiguous and b.flags.c_contiguous and W.dtype == b.dtype):
        return None
    if b.ctypes.data != W.ctypes.data + W.nbytes:
        return None
    return np.lib.stride_tricks.as_strided(W, (W.shape[0] + 1, W.shape[1]), W.strides)


class TimeAffine(Precision):
    """``forward(x (N, T, D)) -> x @ W + b (N, T, M)`` with ``W (D, M)``, ``b (M,)``.

    ``W`` may be a non-contiguous view, such as the transposed embedding matrix
    of weight tying.  The bias rides inside the matrix products as an extra
    input column of ones, so neither forward nor backward makes an extra pass
    over the (N*T, M) scores: the weight ``[W; b]`` is a view of the params
    when b directly follows W in memory (``stacked_params``), else a copy, and
    the grads ``dW`` and ``db`` are views of one ``(D + 1, M)`` array.
    ``precision="bf16"``: the products take bfloat16 operands (``fastrnn._precision``).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, *, precision: str = "fp32"):
        self.dtype = v.params_dtype("TimeAffine", (W, b), ("W", "b"))
        if W.ndim != 2:
            raise ValueError(f"TimeAffine: W must have shape (D, M), got {W.shape}")
        v.check_shape(b.shape, (W.shape[1],), "TimeAffine: b")
        D, M = W.shape
        self.params = [W, b]
        self._dWb = np.zeros((D + 1, M), self.dtype)
        self.grads = [self._dWb[:D], self._dWb[D]]
        self._Wb = None  # the copy of [W; b] when the params are not stacked
        self._x1 = None
        self._shape = None
        self.precision = precision

    def _weight(self) -> np.ndarray:
        """[W; b] (D + 1, M): a view of the params, or a copy in a kept buffer."""
        W, b = self.params
        Wb = _stack(W, b)
        if Wb is not None:
            return Wb
        if self._Wb is None:  # the copy keeps W's memory order: a plain copy of a transposed view
            self._Wb = np.empty((W.shape[0] + 1, W.shape[1]), self.dtype, order="F" if W.flags.f_contiguous else "C")
        self._Wb[:-1] = W
        self._Wb[-1] = b
        return self._Wb

    def _check(self, x) -> np.ndarray:
        """x as a checked (N, T, D) array of the params' dtype; nothing is kept."""
        return v.float_array(x, "x", (None, None, self.params[0].shape[0]), self.dtype)

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        """Keeps [x, 1] (N*T, D + 1) of a checked x (N, T, D) for backward; returns it."""
        N, T, D = x.shape
        x1 = np.empty((N * T, D + 1), self.dtype)
        x1[:, :D] = x.reshape(N * T, D)
        x1[:, D] = 1
        self._x1 = x1
        self._shape = (N, T, D)
        return x1

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, T, D) -> (N, T, M)."""
        x1 = self._inputs(self._check(x))
        N, T, _ = self._shape
        return matmul(x1, self._weight(), bf16=self.bf16).reshape(N, T, -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (N, T, M) -> dx (N, T, D); writes dW = x^T dout and db = sum(dout)."""
        if self._x1 is None:
            raise RuntimeError("TimeAffine.backward called before forward")
        N, T, D = self._shape
        M = self.params[0].shape[1]
        dout = v.float_array(dout, "dout", (N, T, M), self.dtype).reshape(N * T, M)
        return linear_backward(self._x1, dout, self.params[0], self._dWb, self.bf16).reshape(N, T, D)
