"""Language models built from ``fastrnn.time_layers``, as in the reference."""
from __future__ import annotations

import numpy as np

from . import io
from .time_layers import TimeAffine, TimeEmbedding, TimeRNN, TimeSoftmaxWithLoss


class BaseModel:
    """``predict``, ``forward``, ``backward``, ``reset_state`` and params files.

    Subclasses set ``layers`` (applied in order by ``predict``), ``loss_layer``
    and ``params`` / ``grads`` (the layers' own arrays, in layer order).
    """

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, T) word ids -> scores before softmax (N, T, V)."""
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Mean cross-entropy of the next-word scores of xs (N, T) against ts (N, T)."""
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def reset_state(self) -> None:
        for layer in self.layers:
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def _file_name(self, file_name):
        return file_name if file_name is not None else f"{type(self).__name__}.npz"

    def save_params(self, file_name=None) -> None:
        """Write params to ``file_name`` (default ``<ClassName>.npz``), atomically."""
        io.save_params(self._file_name(file_name), self.params, type(self).__name__)

    def load_params(self, file_name=None) -> None:
        """Read params written by ``save_params`` into this model's arrays, in place."""
        io.load_params(self._file_name(file_name), self.params, type(self).__name__)


class SimpleRnnlm(BaseModel):
    """TimeEmbedding -> TimeRNN(stateful) -> TimeAffine -> TimeSoftmaxWithLoss (float32)."""

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rn = np.random.randn
        embed_W = (rn(V, D) / 100).astype("f")
        rnn_Wx = (rn(D, H) / np.sqrt(D)).astype("f")
        rnn_Wh = (rn(H, H) / np.sqrt(H)).astype("f")
        rnn_b = np.zeros(H).astype("f")
        affine_W = (rn(H, V) / np.sqrt(H)).astype("f")
        affine_b = np.zeros(V).astype("f")

        self.layers = [
            TimeEmbedding(embed_W),
            TimeRNN(rnn_Wx, rnn_Wh, rnn_b, stateful=True),
            TimeAffine(affine_W, affine_b),
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.rnn_layer = self.layers[1]
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads

    def reset_state(self) -> None:
        self.rnn_layer.reset_state()
