"""A model's last layer and its loss as one fused step: ``AffineSoftmaxLoss``,
built on ``SoftmaxPart`` (which the adaptive head uses for each of its parts)."""
from __future__ import annotations

import numpy as np

from .. import _groups
from .. import _matmul
from .._threads import blas_in_kernel
from ..kernels.head import GROUPS, column_tiles, head_backward, head_forward
from .affine import TimeAffine
from .loss import TimeSoftmaxWithLoss


class SoftmaxPart:
    """Softmax cross-entropy of the scores ``x1 @ Wb`` of R rows over V columns,
    made by ``kernels.head`` without storing the scores.

    ``forward`` keeps the exponentials in a buffer kept from call to call
    (grown when a call needs more, never seen outside) and the factor of each
    row and tile; ``backward`` makes the input gradient and the weight gradient
    from them.  x1 (R, K) may carry a column of ones for a bias row of Wb
    (K, V); the gradient's input width is WT's (V, D), D <= K.
    """

    def __init__(self):
        self._flat = np.empty(0, np.float32)
        self._E = self._c = self._scale = None

    def forward(self, x1: np.ndarray, Wb: np.ndarray, t: np.ndarray, keep: np.ndarray, scale: float,
                bf16: bool = False) -> float:
        """The sum over the rows where ``keep`` of ``-log softmax(x1 @ Wb)[t]`` (t (R,)
        labels; a label outside [0, V) is never looked up), in float64; the
        gradient ``backward`` makes is that sum's times ``scale``.  ``bf16``:
        this call's and the next backward's products take bfloat16 operands."""
        dtype = x1.dtype
        R, V = x1.shape[0], Wb.shape[1]
        tiles, width = column_tiles(R, V)
        size = tiles * R * width
        if self._flat.size < size or self._flat.dtype != dtype:
            self._flat = np.empty(size, dtype)
        E = self._flat[:size].reshape(tiles, R, width)
        tmax, tsum = np.empty((tiles, R), dtype), np.empty((tiles, R), dtype)
        tlabel = np.zeros(R, dtype)
        head_forward(np.ascontiguousarray(x1), Wb, t, E, tmax, tsum, tlabel, bf16, _matmul.OWN)
        m = tmax.max(axis=0)
        w = np.exp(tmax.astype(np.float64) - m)
        total = np.sum(w * tsum, axis=0)
        lse = m + np.log(total)
        self._E, self._c, self._scale, self._bf16 = E, (w * (scale / total)) * keep, scale, bf16
        return float(np.sum((lse - tlabel)[keep]))

    def backward(self, x1: np.ndarray, t: np.ndarray, WT: np.ndarray, dWb: np.ndarray, dx: np.ndarray,
                 accumulate: bool, dout: float = 1.0) -> None:
        """For the gradient dS of the last forward's loss sum times its scale and
        ``dout``, with the same x1 and t: writes dx (R, D) = dS @ W.T and
        dWb = x1.T @ dS, or adds the latter to dWb (``accumulate``)."""
        dtype = x1.dtype
        parts = np.empty((GROUPS, x1.shape[0], WT.shape[1]), dtype)
        head_backward(x1, self._E, (self._c * dout).astype(dtype), t, dtype.type(self._scale * dout), WT, dWb,
                      parts, dx, accumulate, self._bf16, _matmul.OWN)


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
        self._parts = {}  # a SoftmaxPart a group, kept from call to call

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
        valid = ts != ignore
        t = np.where(valid, ts, -1)  # an ignored row never looks up a label
        scale = 1 / count if count else 0.0
        loss, slices = 0.0, _groups.row_slices(N, T, self.groups)
        with blas_in_kernel():  # once around every group's products
            for g, rows in enumerate(slices):
                part = self._parts.setdefault(g, SoftmaxPart())
                loss += part.forward(x1[rows], Wb, t[rows], valid[rows], scale, self.affine.bf16)
        self._cache = (x1, slices, t, (N, T, D))
        return loss / count if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        """-> dh (N, T, D); writes the affine layer's dW and db."""
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        x1, slices, t, (N, T, D) = self._cache
        dx = np.empty((N * T, D), self.affine.dtype)
        WT = self.affine.params[0].T
        with blas_in_kernel():  # once around every group's products
            for g, rows in enumerate(slices):
                self._parts[g].backward(x1[rows], t[rows], WT, self.affine._dWb, dx[rows], g > 0, float(dout))
        return dx.reshape(N, T, D)
