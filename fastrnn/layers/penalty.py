"""AWD-LSTM's activation penalties (Merity et al. 2017), as pass-through layers:
AR, ``alpha * mean(hs**2)`` of the last layer's dropped output, and TAR,
``beta * mean((hs[:, t+1] - hs[:, t])**2)`` of its output before dropout."""
from __future__ import annotations

import numpy as np

from .. import _validate as v


class TimeActivationPenalty:
    """``forward(hs (N, T, H)) -> hs``; ``backward(dhs) -> dhs`` plus the gradient of
    ``coefficient * mean(hs**2)`` (AR; ``temporal=True``: TAR, the mean of the
    squared differences of consecutive steps), times ``dloss``, the scale of the
    loss the model's backward was given (its share of a data-parallel batch).
    Only while ``train_flg``; ``loss`` is the last training forward's penalty
    (which a language model's ``forward`` does not add to the cross-entropy it
    returns, as AWD-LSTM reports it)."""

    def __init__(self, coefficient: float, temporal: bool = False):
        self.params, self.grads = [], []
        self.coefficient = v.non_negative(coefficient, "coefficient")
        self.temporal = bool(temporal)
        self.train_flg, self.dloss, self.loss = True, 1.0, 0.0
        self._hs = None

    def forward(self, hs: np.ndarray) -> np.ndarray:
        if not self.train_flg:
            self._hs = None
            return hs
        self._hs = hs
        terms = hs[:, 1:] - hs[:, :-1] if self.temporal else hs
        self.loss = self.coefficient * float(np.mean(np.square(terms, dtype=np.float64))) if terms.size else 0.0
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        hs = self._hs
        if hs is None:
            return dhs
        dhs = v.float_array(dhs, "dhs", hs.shape, hs.dtype)
        if not self.temporal:
            return dhs + hs * hs.dtype.type(self.dloss * (2 * self.coefficient / hs.size))
        grad = dhs.copy()
        N, T, H = hs.shape
        if T > 1:
            d = (hs[:, 1:] - hs[:, :-1]) * hs.dtype.type(self.dloss * (2 * self.coefficient / (N * (T - 1) * H)))
            grad[:, 1:] += d
            grad[:, :-1] -= d
        return grad
