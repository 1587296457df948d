"""A model's last layer and its loss as one fused step: ``AffineSoftmaxLoss``."""
from __future__ import annotations

import numpy as np

from .. import _groups
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
    in place and leaves the loss layer's own cache alone.  With ``groups`` G,
    each group of batch rows (``fastrnn._groups``) goes through the kernels on
    its own, and the groups' weight gradients are added in group order.
    """

    def __init__(self, affine: TimeAffine, loss: TimeSoftmaxWithLoss, groups: int = 1):
        self.affine, self.loss, self.groups = affine, loss, groups
        self._cache = None
        self._E = {}  # the exponentials of each group, kept from call to call: never seen outside

    def _buffer(self, g: int, shape: tuple, dtype) -> np.ndarray:
        E = self._E.get(g)
        if E is None or E.shape != shape or E.dtype != dtype:
            E = self._E[g] = np.empty(shape, dtype)
        return E

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
        V = Wb.shape[1]
        valid = ts != ignore
        t = np.where(valid, ts, -1)  # an ignored row never looks up a label
        dtype = self.affine.dtype
        scale = 1 / count if count else 0.0
        loss, groups = 0.0, []
        with blas_in_kernel():  # once around every group's products
            for g, rows in enumerate(_groups.row_slices(N, T, self.groups)):
                R = rows.stop - rows.start
                tiles, width = column_tiles(R, V)
                E = self._buffer(g, (tiles, R, width), dtype)
                tmax, tsum = np.empty((tiles, R), dtype), np.empty((tiles, R), dtype)
                tlabel = np.zeros(R, dtype)
                head_forward(x1[rows], Wb, t[rows], E, tmax, tsum, tlabel)
                m = tmax.max(axis=0)
                w = np.exp(tmax.astype(np.float64) - m)
                total = np.sum(w * tsum, axis=0)
                lse = m + np.log(total)
                keep = valid[rows]
                loss += float(np.sum((lse - tlabel)[keep]))
                groups.append((rows, E, (w * (scale / total)) * keep))
        self._cache = (x1, groups, t, scale, (N, T, D))
        return loss / count if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        """-> dh (N, T, D); writes the affine layer's dW and db."""
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        x1, groups, t, scale, (N, T, D) = self._cache
        dtype = self.affine.dtype
        dout = float(dout)
        dx = np.empty((N * T, D), dtype)
        WT = self.affine.params[0].T
        with blas_in_kernel():  # once around every group's products
            for g, (rows, E, c) in enumerate(groups):
                parts = np.empty((GROUPS, rows.stop - rows.start, D), dtype)
                head_backward(x1[rows], E, (c * dout).astype(dtype), t[rows], dtype.type(scale * dout), WT,
                              self.affine._dWb, parts, dx[rows], g > 0)
        return dx.reshape(N, T, D)
