"""Language models built from ``fastrnn.time_layers``, as in the reference."""
from __future__ import annotations

import numpy as np

from . import _validate as v
from .base_model import BaseModel
from .layers.affine import stacked_params
from .layers.head import AffineSoftmaxLoss
from .time_layers import TimeAffine, TimeDropout, TimeEmbedding, TimeLSTM, TimeRNN, TimeSoftmaxWithLoss


class LanguageModel(BaseModel):
    """``predict``, ``forward``, ``backward`` and ``reset_state`` of a stack of layers.

    Subclasses set ``layers`` (applied in order by ``predict``, the first an
    embedding), ``loss_layer`` and ``params`` / ``grads`` (the layers' own
    arrays, in layer order).

    ``groups`` (default ``GROUPS``) is the number of groups of batch rows each
    computed on its own (``fastrnn._groups``): with 2, a model in one process
    trains exactly as two data-parallel processes of ``groups`` 1 do.
    """

    GROUPS = 2
    groups = GROUPS

    def set_groups(self, groups: int) -> None:
        """Compute the batch as ``groups`` groups of rows (``fastrnn._groups``)."""
        self.groups = v.positive_int(groups, "groups")
        for layer in self.layers:
            if hasattr(type(layer), "groups"):
                layer.groups = self.groups
        self._head = None

    def _check_batch(self, xs, ts=None) -> np.ndarray:
        """Every check of a ``predict`` or ``forward`` call, made before any layer
        runs, so that a call that fails changes no layer's state or cache:
        xs (N, T) word ids of the embedding, ts (N, T) labels (or one-hot
        (N, T, V)) of the output layer, and the batch size of every carried
        state.  Returns xs as checked ids."""
        xs = v.id_array(xs, "xs", (None, None), self.layers[0].params[0].shape[0])
        N, T = xs.shape
        if ts is not None:
            self.loss_layer._labels(ts, N, T, self.layers[-1].params[0].shape[1])
        for layer in self.layers:
            if hasattr(layer, "check_batch"):
                layer.check_batch(N)
        return xs

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, T) word ids -> scores before softmax (N, T, V)."""
        return self._scores(self._check_batch(xs))

    def _scores(self, xs: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Mean cross-entropy of the next-word scores of xs (N, T) against ts (N, T).

        When the last layer is a TimeAffine and the loss a TimeSoftmaxWithLoss,
        the two run fused (``AffineSoftmaxLoss``), never making the scores;
        ``backward`` then goes through the same fused step.
        """
        return self._loss(self._check_batch(xs, ts), ts)

    def _loss(self, xs: np.ndarray, ts) -> float:
        """``forward`` of checked ids xs."""
        *body, last = self.layers
        head = getattr(self, "_head", None)
        if head is None or head.affine is not last or head.loss is not self.loss_layer:
            head = (AffineSoftmaxLoss(last, self.loss_layer, self.groups) if AffineSoftmaxLoss.fuses(last, self.loss_layer)
                    else None)
        self._head = head
        if head is None:
            return self.loss_layer.forward(self._scores(xs), ts)
        for layer in body:
            xs = layer.forward(xs)
        return head.forward(xs, ts)

    def backward(self, dout=1):
        head = getattr(self, "_head", None)
        if head is None:
            dout, layers = self.loss_layer.backward(dout), self.layers
        else:
            dout, layers = head.backward(dout), self.layers[:-1]
        for layer in reversed(layers):
            dout = layer.backward(dout)
        return dout

    def reset_state(self) -> None:
        for layer in self.layers:
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def _collect(self) -> None:
        """params and grads of every layer, in layer order (the reference's lists);
        the layers take the model's groups."""
        self.params, self.grads = [], []
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads
        self.set_groups(self.groups)


class SimpleRnnlm(LanguageModel):
    """TimeEmbedding -> TimeRNN(stateful) -> TimeAffine -> TimeSoftmaxWithLoss (float32)."""

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rn = np.random.randn
        embed_W = (rn(V, D) / 100).astype("f")
        rnn_Wx = (rn(D, H) / np.sqrt(D)).astype("f")
        rnn_Wh = (rn(H, H) / np.sqrt(H)).astype("f")
        rnn_b = np.zeros(H).astype("f")
        affine_W, affine_b = stacked_params(H, V, "f")  # [W; b] in one array, no copy a forward
        affine_W[...] = rn(H, V) / np.sqrt(H)

        self.layers = [
            TimeEmbedding(embed_W),
            TimeRNN(rnn_Wx, rnn_Wh, rnn_b, stateful=True),
            TimeAffine(affine_W, affine_b),
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.rnn_layer = self.layers[1]
        self._collect()

    def reset_state(self) -> None:
        self.rnn_layer.reset_state()


def _lstm_params(D: int, H: int) -> tuple:
    """Wx (D, 4H), Wh (H, 4H), b (4H,) at the reference's scales (float32)."""
    rn = np.random.randn
    return ((rn(D, 4 * H) / np.sqrt(D)).astype("f"), (rn(H, 4 * H) / np.sqrt(H)).astype("f"),
            np.zeros(4 * H, "f"))


class Rnnlm(LanguageModel):
    """TimeEmbedding -> TimeLSTM(stateful) -> TimeAffine -> TimeSoftmaxWithLoss (float32)."""

    def __init__(self, vocab_size: int = 10000, wordvec_size: int = 100, hidden_size: int = 100):
        V, D, H = vocab_size, wordvec_size, hidden_size
        rn = np.random.randn
        embed_W = (rn(V, D) / 100).astype("f")
        lstm = _lstm_params(D, H)
        affine_W, affine_b = stacked_params(H, V, "f")
        affine_W[...] = rn(H, V) / np.sqrt(H)

        self.layers = [
            TimeEmbedding(embed_W),
            TimeLSTM(*lstm, stateful=True),
            TimeAffine(affine_W, affine_b),
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layer = self.layers[1]
        self._collect()

    def reset_state(self) -> None:
        self.lstm_layer.reset_state()


class BetterRnnlm(LanguageModel):
    """Two stateful TimeLSTM layers with dropout, output weight tied to the embedding.

    TimeEmbedding -> TimeDropout -> TimeLSTM -> TimeDropout -> TimeLSTM ->
    TimeDropout -> TimeAffine(embed_W.T) -> TimeSoftmaxWithLoss.  Weight tying
    needs ``wordvec_size == hidden_size``; ``params`` holds ``embed_W`` and its
    transposed view, which ``remove_duplicate`` merges.
    """

    def __init__(self, vocab_size: int = 10000, wordvec_size: int = 650, hidden_size: int = 650,
                 dropout_ratio: float = 0.5):
        V, D, H = vocab_size, wordvec_size, hidden_size
        if D != H:
            raise ValueError(f"BetterRnnlm ties the output weight to the embedding: wordvec_size ({D}) "
                             f"must equal hidden_size ({H})")
        embed_W = (np.random.randn(V, D) / 100).astype("f")
        lstm1 = _lstm_params(D, H)
        lstm2 = _lstm_params(H, H)
        affine_b = np.zeros(V, "f")

        self.layers = [
            TimeEmbedding(embed_W),
            TimeDropout(dropout_ratio),
            TimeLSTM(*lstm1, stateful=True),
            TimeDropout(dropout_ratio),
            TimeLSTM(*lstm2, stateful=True),
            TimeDropout(dropout_ratio),
            TimeAffine(embed_W.T, affine_b),  # weight tying
        ]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.lstm_layers = [self.layers[2], self.layers[4]]
        self.drop_layers = [self.layers[1], self.layers[3], self.layers[5]]
        self._collect()

    def predict(self, xs: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """xs (N, T) word ids -> scores (N, T, V); dropout only when ``train_flg``."""
        xs = self._check_batch(xs)
        for layer in self.drop_layers:
            layer.train_flg = train_flg
        return self._scores(xs)

    def forward(self, xs: np.ndarray, ts: np.ndarray, train_flg: bool = True) -> float:
        xs = self._check_batch(xs, ts)
        for layer in self.drop_layers:
            layer.train_flg = train_flg
        return self._loss(xs, ts)

    def reset_state(self) -> None:
        for layer in self.lstm_layers:
            layer.reset_state()
