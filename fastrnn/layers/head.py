"""A model's last layer and its loss as one fused step: ``AffineSoftmaxLoss``."""
from __future__ import annotations

import numpy as np

from .._threads import blas_in_kernel
from ..kernels.head import GROUPS, column_tiles, head_backward, head_forward
from .affine import TimeAffine
from .loss import TimeSoftmaxWithLoss


class AffineSoftmaxLoss:
    """``TimeAffine`` followed by ``TimeSoftmaxWithLoss``, computed by
    ``kernels.head`` without materialising the (N*T, V) scores: the same loss,
    and the affine's grads and input gradient, as the two layers give.

    The models use it in ``forward`` / ``backward`` (``predict`` still returns
    the scores through the affine layer).  It writes the affine layer's grads
    in place and leaves the loss layer's own cache alone.
    """

    def __init__(self, affine: TimeAffine, loss: TimeSoftmaxWithLoss):
        self.affine, self.loss = affine, loss
        self._cache = None
        self._E = None  # the exponentials, kept from call to call: never seen outside

    def _buffer(self, shape: tuple, dtype) -> np.ndarray:
        if self._E is None or self._E.shape != shape or self._E.dtype != dtype:
            self._E = np.empty(shape, dtype)
        return self._E

    @staticmethod
    def fuses(affine, loss) -> bool:
        """Whether the pair is exactly a TimeAffine and a TimeSoftmaxWithLoss (not subclasses)."""
        return type(affine) is TimeAffine and type(loss) is TimeSoftmaxWithLoss

    def forward(self, h: np.ndarray, ts) -> float:
        """h (N, T, D) hidden states, ts (N, T) labels -> mean cross-entropy."""
        h = self.affine._check(h)
        N, T, D = h.shape
        ts, ignore, count = self.loss._labels(ts, N, T, self.affine.params[0].shape[1])
        x1 = self.affine._inputs(h)  # every check is done: only now is anything kept
        Wb = self.affine._weight()
        R, V = N * T, Wb.shape[1]
        valid = ts != ignore
        t = np.where(valid, ts, -1)  # an ignored row never looks up a label
        tiles, width = column_tiles(R, V)
        dtype = self.affine.dtype
        E = self._buffer((tiles, R, width), dtype)
        tmax, tsum = np.empty((tiles, R), dtype), np.empty((tiles, R), dtype)
        tlabel = np.zeros(R, dtype)
        with blas_in_kernel():
            head_forward(x1, Wb, t, E, tmax, tsum, tlabel)
        m = tmax.max(axis=0)
        w = np.exp(tmax.astype(np.float64) - m)
        total = np.sum(w * tsum, axis=0)
        lse = m + np.log(total)
        scale = 1 / count if count else 0.0
        c = (w * (scale / total)) * valid
        self._cache = (x1, E, c, t, scale, (N, T, D))
        return float(np.sum((lse - tlabel)[valid]) / count) if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        """-> dh (N, T, D); writes the affine layer's dW and db."""
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        x1, E, c, t, scale, (N, T, D) = self._cache
        dtype = self.affine.dtype
        dout = float(dout)
        dx = np.empty((N * T, D), dtype)
        parts = np.empty((GROUPS, N * T, D), dtype)
        with blas_in_kernel():
            head_backward(x1, E, (c * dout).astype(dtype), t, dtype.type(scale * dout),
                          self.affine.params[0].T, self.affine._dWb, parts, dx)
        return dx.reshape(N, T, D)
