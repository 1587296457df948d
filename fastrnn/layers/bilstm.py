"""Bidirectional LSTM: ``TimeBiLSTM``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from .lstm import TimeLSTM


class TimeBiLSTM:
    """A forward TimeLSTM (Wx1, Wh1, b1) and one over the reversed sequence (Wx2, Wh2, b2).

    ``forward(xs (N, T, D)) -> (N, T, 2H)``: the forward outputs, then the
    backward LSTM's outputs put back in time order, on the last axis.
    ``backward(dhs (N, T, 2H)) -> dxs (N, T, D)``, the sum of both directions.
    ``precision`` ("fp32" or "bf16") is both LSTMs' (``fastrnn._precision``).
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful: bool = False, *, precision: str = "fp32"):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful, precision=precision)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful, precision=precision)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs: np.ndarray) -> np.ndarray:
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(xs[:, ::-1])
        return np.concatenate((o1, o2[:, ::-1]), axis=2)

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        N, T, H = self.forward_lstm._forward_shape()
        dhs = v.float_array(dhs, "dhs", (N, T, 2 * H), self.forward_lstm.dtype)
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])
        return dxs1 + dxs2[:, ::-1]

    @property
    def precision(self) -> str:
        return self.forward_lstm.precision

    @precision.setter
    def precision(self, value: str) -> None:
        self.forward_lstm.precision = self.backward_lstm.precision = value

    def check_batch(self, N: int) -> None:
        self.forward_lstm.check_batch(N)
        self.backward_lstm.check_batch(N)

    def reset_state(self) -> None:
        self.forward_lstm.reset_state()
        self.backward_lstm.reset_state()
