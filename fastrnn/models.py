"""Language models built from ``fastrnn.time_layers``, as in the reference.

Each takes ``head="full"`` (the reference's affine layer and softmax, the
default) or ``head="adaptive"`` (``TimeAdaptiveSoftmaxWithLoss``: ``cutoffs``,
default ``default_cutoffs(V)``, ``div_value`` and ``order``, the word ids by
falling frequency), whose cost does not grow with the vocabulary, and
``precision="fp32"`` (the default) or ``"bf16"`` (every product of bfloat16
operands summed in float32, ``set_precision``).
"""
from __future__ import annotations

import json

import numpy as np

from . import _validate as v
from ._precision import Precision
from .base_model import BaseModel
from .layers.adaptive import (TimeAdaptiveSoftmaxWithLoss, adaptive_params, check_cutoffs, check_order,
                              default_cutoffs, tail_widths)
from .layers.affine import stacked_params
from .layers.head import AffineSoftmaxLoss
from .layers.penalty import TimeActivationPenalty
from .time_layers import (TimeAffine, TimeDropout, TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN,
                          TimeSoftmaxWithLoss)

HEADS = ("full", "adaptive")
CHUNK = 1 << 20
"""Elements of a random matrix drawn at a time (``scaled_randn``)."""


def scaled_randn(shape: tuple, divisor: float) -> np.ndarray:
    """``(np.random.randn(*shape) / divisor).astype("f")``, the same values drawn a
    block of rows at a time: a (V, D) matrix never exists in float64."""
    out = np.empty(shape, np.float32)
    rows = max(1, CHUNK // max(1, shape[1]))
    for i in range(0, shape[0], rows):
        out[i:i + rows] = np.random.randn(min(rows, shape[0] - i), shape[1]) / divisor
    return out


def head_settings(V: int, H: int, head: str, cutoffs, div_value, order) -> dict:
    """The checked settings of a model's output head (``LanguageModel.set_head``)."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}, got {head!r}")
    if head == "full":
        if cutoffs is not None or order is not None:
            raise ValueError("cutoffs and order apply to head='adaptive' only")
        return {"head": "full"}
    cutoffs = default_cutoffs(V) if cutoffs is None else check_cutoffs(cutoffs, V)
    tail_widths(H, len(cutoffs), div_value)
    return {"head": "adaptive", "cutoffs": cutoffs, "div_value": float(div_value), "order": check_order(order, V)}


class LanguageModel(BaseModel):
    """``predict``, ``forward``, ``backward`` and ``reset_state`` of a stack of layers.

    Subclasses make the layers of their body (the first an embedding) and hand
    them to ``set_head``, which adds the output head and sets ``layers``
    (applied in order by ``predict``), ``loss_layer`` and ``params`` / ``grads``
    (the layers' own arrays, in layer order, the loss layer's last).

    ``groups`` (default ``GROUPS``) is the number of groups of batch rows each
    computed on its own (``fastrnn._groups``): with 2, a model in one process
    trains exactly as two data-parallel processes of ``groups`` 1 do.
    """

    GROUPS = 2
    groups = GROUPS
    precision = "fp32"
    """The precision of every product of its layers (``set_precision``)."""

    def set_groups(self, groups: int) -> None:
        """Compute the batch as ``groups`` groups of rows (``fastrnn._groups``)."""
        self.groups = v.positive_int(groups, "groups")
        for layer in self.layers + [self.loss_layer]:
            if hasattr(type(layer), "groups"):
                layer.groups = self.groups
        self._head = None

    def set_precision(self, precision: str) -> None:
        """Make every product of its layers in ``precision``: "fp32", or "bf16"
        (bfloat16 operands, float32 sums, everything else float32: ``fastrnn._precision``)."""
        layers = [layer for layer in self.layers + [self.loss_layer] if isinstance(layer, Precision)]
        for layer in layers:
            layer.precision = precision
        self.precision = precision

    def set_head(self, body: list, V: int, H: int, settings: dict, tied: np.ndarray | None = None) -> None:
        """``layers`` and ``loss_layer`` from the body's layers and a new output head
        (``head_settings``), its params drawn after the body's: full, a TimeAffine
        (W (H, V) at 1/sqrt(H), or the transposed ``tied`` embedding) and a
        TimeSoftmaxWithLoss; adaptive, a TimeAdaptiveSoftmaxWithLoss (its
        shortlist tied to the embedding when ``tied``).  Then collects the params."""
        self.head = settings
        if settings["head"] == "full":
            if tied is None:
                W, b = stacked_params(H, V, "f")  # [W; b] in one array, no copy a forward
                W[...] = scaled_randn((H, V), np.sqrt(H))
            else:
                W, b = tied.T, np.zeros(V, "f")  # weight tying
            self.layers, self.loss_layer = body + [TimeAffine(W, b)], TimeSoftmaxWithLoss()
        else:
            W, b, tails = adaptive_params(H, V, settings["cutoffs"], settings["div_value"], "f", tied is not None)
            self.layers = body
            self.loss_layer = TimeAdaptiveSoftmaxWithLoss(W, b, tails, settings["cutoffs"], settings["order"], tied)
        self.params, self.grads = [], []
        for layer in self.layers + [self.loss_layer]:
            self.params += layer.params
            self.grads += layer.grads
        self.set_groups(self.groups)

    @property
    def adaptive(self) -> bool:
        return isinstance(self.loss_layer, TimeAdaptiveSoftmaxWithLoss)

    def _check_batch(self, xs, ts=None) -> np.ndarray:
        """Every check of a ``predict`` or ``forward`` call, made before any layer
        runs, so that a call that fails changes no layer's state or cache:
        xs (N, T) word ids of the embedding, ts (N, T) labels (or one-hot
        (N, T, V)) of the output layer, and the batch size of every carried
        state.  Returns xs as checked ids."""
        V = self.layers[0].params[0].shape[0]
        xs = v.id_array(xs, "xs", (None, None), V)
        N, T = xs.shape
        if ts is not None:
            self.loss_layer._labels(ts, N, T, V)
        for layer in self.layers:
            if hasattr(layer, "check_batch"):
                layer.check_batch(N)
        return xs

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, T) word ids -> scores before softmax (N, T, V); with an adaptive
        head, the log-probabilities (whose softmax is the distribution too)."""
        return self._scores(self._check_batch(xs))

    def _scores(self, xs: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            xs = layer.forward(xs)
        return self.loss_layer.log_prob(xs) if self.adaptive else xs

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """Mean cross-entropy of the next-word scores of xs (N, T) against ts (N, T).

        When the last layer is a TimeAffine and the loss a TimeSoftmaxWithLoss,
        the two run fused (``AffineSoftmaxLoss``), never making the scores;
        ``backward`` then goes through the same fused step.
        """
        return self._loss(self._check_batch(xs, ts), ts)

    def _loss(self, xs: np.ndarray, ts) -> float:
        """``forward`` of checked ids xs."""
        if self.adaptive:
            for layer in self.layers:
                xs = layer.forward(xs)
            return self.loss_layer.forward(xs, ts)
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

    def backward(self, dout=1, on_final=None):
        """Backprop of the last ``forward``; ``on_final(layers)``, when given, is
        called as soon as the grads of ``layers`` are final: the head's, then each
        layer's below it in turn (a data-parallel step starts summing them there)."""
        head = getattr(self, "_head", None)
        if self.adaptive or head is None:
            dout, layers, top = self.loss_layer.backward(dout), self.layers, [self.loss_layer]
        else:
            dout, layers, top = head.backward(dout), self.layers[:-1], [self.layers[-1], self.loss_layer]
        if on_final is not None:
            on_final(top)
        for layer in reversed(layers):
            dout = layer.backward(dout)
            if on_final is not None:
                on_final([layer])
        return dout

    def sparse_backward(self, dout=1, on_final=None) -> list:
        """``backward`` whose embedding gradients come as rows: the grads in ``params``
        order, a ``fastrnn.sparse.RowGrad`` in place of the embedding's grad (and
        of a tied adaptive head's), which ``grads`` then does not hold
        (``fastrnn.trainer.train_step`` uses this).  ``on_final(grads)``, when
        given, gets each layer's grads (in ``params`` order) as soon as they are final."""
        rows = [layer for layer in self.layers + [self.loss_layer] if hasattr(type(layer), "row_grads")]
        for layer in rows:
            layer.row_grads, layer.row_grad = True, None
        final = {}

        def done(layers):
            for layer in layers:
                own = list(layer.grads)
                if layer in rows and layer.row_grad is not None:
                    own[0], layer.row_grad = layer.row_grad, None
                final[id(layer)] = own
            if on_final is not None and any(final[id(layer)] for layer in layers):
                on_final([g for layer in layers for g in final[id(layer)]])
        try:
            self.backward(dout, done)
        finally:
            for layer in rows:
                layer.row_grads = False
        return [g for layer in self.layers + [self.loss_layer] for g in final.get(id(layer), layer.grads)]

    def reset_state(self) -> None:
        for layer in self.layers:
            if hasattr(layer, "reset_state"):
                layer.reset_state()

    def _file_entries(self) -> dict:
        """An adaptive head's settings and word order, which its params files carry."""
        if not self.adaptive:
            return {}
        h = self.head
        text = json.dumps({"head": "adaptive", "cutoffs": h["cutoffs"], "div_value": h["div_value"]})
        return {"head": np.frombuffer(text.encode(), np.uint8), "head_order": h["order"]}


class SimpleRnnlm(LanguageModel):
    """TimeEmbedding -> TimeRNN(stateful) -> TimeAffine -> TimeSoftmaxWithLoss (float32),
    or, with ``head="adaptive"``, TimeEmbedding -> TimeRNN -> TimeAdaptiveSoftmaxWithLoss."""

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int, *, head: str = "full", cutoffs=None,
                 div_value: float = 4.0, order=None, precision: str = "fp32"):
        V, D, H = vocab_size, wordvec_size, hidden_size
        settings = head_settings(V, H, head, cutoffs, div_value, order)
        rn = np.random.randn
        embed_W = scaled_randn((V, D), 100)
        rnn_Wx = (rn(D, H) / np.sqrt(D)).astype("f")
        rnn_Wh = (rn(H, H) / np.sqrt(H)).astype("f")
        rnn_b = np.zeros(H).astype("f")
        self.set_head([TimeEmbedding(embed_W), TimeRNN(rnn_Wx, rnn_Wh, rnn_b, stateful=True)], V, H, settings)
        self.rnn_layer = self.layers[1]
        self.set_precision(precision)

    def reset_state(self) -> None:
        self.rnn_layer.reset_state()


def _lstm_params(D: int, H: int) -> tuple:
    """Wx (D, 4H), Wh (H, 4H), b (4H,) at the reference's scales (float32)."""
    rn = np.random.randn
    return ((rn(D, 4 * H) / np.sqrt(D)).astype("f"), (rn(H, 4 * H) / np.sqrt(H)).astype("f"),
            np.zeros(4 * H, "f"))


class Rnnlm(LanguageModel):
    """TimeEmbedding -> TimeLSTM(stateful) -> TimeAffine -> TimeSoftmaxWithLoss (float32),
    or, with ``head="adaptive"``, TimeEmbedding -> TimeLSTM -> TimeAdaptiveSoftmaxWithLoss."""

    def __init__(self, vocab_size: int = 10000, wordvec_size: int = 100, hidden_size: int = 100, *,
                 head: str = "full", cutoffs=None, div_value: float = 4.0, order=None, precision: str = "fp32"):
        V, D, H = vocab_size, wordvec_size, hidden_size
        settings = head_settings(V, H, head, cutoffs, div_value, order)
        embed_W = scaled_randn((V, D), 100)
        lstm = _lstm_params(D, H)
        self.set_head([TimeEmbedding(embed_W), TimeLSTM(*lstm, stateful=True)], V, H, settings)
        self.lstm_layer = self.layers[1]
        self.set_precision(precision)

    def reset_state(self) -> None:
        self.lstm_layer.reset_state()


CELLS = {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU}
"""The recurrent layers a language model may stack (``RnnLanguageModel``), by name."""


def _cell_params(cell: str, D: int, H: int) -> tuple:
    """Wx (D, gH), Wh (H, gH), b (gH,) of a cell with g gates (RNN 1, GRU 3, LSTM 4),
    at the reference's scales (float32)."""
    g = CELLS[cell].GATES
    rn = np.random.randn
    return (rn(D, g * H) / np.sqrt(D)).astype("f"), (rn(H, g * H) / np.sqrt(H)).astype("f"), np.zeros(g * H, "f")


class RnnLanguageModel(LanguageModel):
    """A stack of any cells: TimeEmbedding -> (TimeRNN | TimeLSTM | TimeGRU, stateful)
    x ``layers`` -> the head, with TimeDropout after the embedding and after each
    recurrent layer when ``dropout_ratio`` is given, and the output weight tied to
    the embedding when ``tied`` (``wordvec_size == hidden_size``).

    Its params are drawn in the presets' order, so ``SimpleRnnlm``, ``Rnnlm`` and
    ``BetterRnnlm`` are this model, bit for bit, with ``cell="rnn"``; ``"lstm"``;
    and ``"lstm", layers=2, tied=True, dropout_ratio=0.5``.

    AWD-LSTM's structure and regularisers (Merity et al. 2017), each off by default:
    ``last_size`` (the last layer's hidden size, ``hidden_size`` by default; with
    ``tied`` it must be ``wordvec_size``); ``input_dropout`` (after the embedding)
    and ``hidden_dropout`` (between recurrent layers) in place of ``dropout_ratio``
    there (which stays after the last layer); ``locked`` (every dropout one mask a
    row for all time steps); ``embed_dropout`` (whole words of the embedding);
    ``weight_drop`` (DropConnect on each recurrent weight, ``Recurrent.weight_drop``);
    ``ar`` and ``tar`` (``TimeActivationPenalty`` on the last layer's output, after
    and before its dropout).  The masks' layers are drawn after every param.
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int, *, cell: str = "lstm",
                 layers: int = 1, tied: bool = False, dropout_ratio: float | None = None, head: str = "full",
                 cutoffs=None, div_value: float = 4.0, order=None, precision: str = "fp32",
                 last_size: int | None = None, input_dropout: float | None = None,
                 hidden_dropout: float | None = None, locked: bool = False, embed_dropout: float | None = None,
                 weight_drop: float | None = None, ar: float = 0.0, tar: float = 0.0):
        V, D, H = vocab_size, wordvec_size, hidden_size
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
        layers = v.positive_int(layers, "layers")
        last = H if last_size is None else v.positive_int(last_size, "last_size")
        if tied and D != last:
            raise ValueError(f"tied=True ties the output weight to the embedding: wordvec_size ({D}) must equal "
                             f"the last layer's hidden size ({last})")
        ratios = {"dropout_ratio": dropout_ratio, "input_dropout": input_dropout, "hidden_dropout": hidden_dropout,
                  "embed_dropout": embed_dropout, "weight_drop": weight_drop}
        ratios = {k: None if r is None else v.fraction(r, k) for k, r in ratios.items()}
        self.regularisers = {**ratios, "last_size": last_size, "locked": bool(locked),
                             "ar": v.non_negative(ar, "ar"), "tar": v.non_negative(tar, "tar")}
        dropout_ratio = ratios["dropout_ratio"]
        settings = head_settings(V, last, head, cutoffs, div_value, order)
        self.cell, self.num_layers, self.tied, self.dropout_ratio = cell, layers, bool(tied), dropout_ratio
        embed_W = scaled_randn((V, D), 100)
        sizes = [H] * (layers - 1) + [last]
        cells = [_cell_params(cell, D if k == 0 else sizes[k - 1], sizes[k]) for k in range(layers)]
        time_cell = CELLS[cell]

        def drop(ratio):
            ratio = dropout_ratio if ratio is None else ratio
            return [] if ratio is None else [TimeDropout(ratio, locked=locked)]

        body = [TimeEmbedding(embed_W), *drop(ratios["input_dropout"])]
        for k, params in enumerate(cells):
            top = k == layers - 1
            body += [time_cell(*params, stateful=True)]
            body += [TimeActivationPenalty(tar, temporal=True)] if top and tar else []
            body += drop(None if top else ratios["hidden_dropout"])
            body += [TimeActivationPenalty(ar)] if top and ar else []
        self.set_head(body, V, last, settings, tied=embed_W if tied else None)
        self.recurrent_layers = [layer for layer in self.layers if isinstance(layer, time_cell)]
        self.drop_layers = [layer for layer in self.layers if isinstance(layer, TimeDropout)]
        """The dropouts of the batch's rows (a process holding some rows keys them by their place)."""
        self.penalties = [layer for layer in self.layers if isinstance(layer, TimeActivationPenalty)]
        for layer in self.recurrent_layers if weight_drop is not None else ():
            layer.weight_drop = TimeDropout(weight_drop)
        if embed_dropout is not None:
            self.layers[0].word_drop = TimeDropout(embed_dropout)
        self.set_precision(precision)

    @property
    def mask_layers(self) -> list:
        """Every ``TimeDropout`` of the model: the batch's, then the weights' and the words'."""
        weights = [layer.weight_drop for layer in self.recurrent_layers if layer.weight_drop is not None]
        return self.drop_layers + weights + ([self.layers[0].word_drop] if self.layers[0].word_drop else [])

    def structure(self) -> dict:
        """Its cell, layers, tying, dropout and regularisers, which its params files carry."""
        extra = {k: x for k, x in self.regularisers.items() if x not in (None, False, 0.0) and k != "dropout_ratio"}
        return {"cell": self.cell, "layers": self.num_layers, "tied": self.tied, "dropout": self.dropout_ratio,
                **extra}

    def _file_entries(self) -> dict:
        text = json.dumps(self.structure())
        return {**super()._file_entries(), "structure": np.frombuffer(text.encode(), np.uint8)}

    def predict(self, xs: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """xs (N, T) word ids -> scores (N, T, V) (log-probabilities with an adaptive
        head); dropout only when ``train_flg``."""
        xs = self._check_batch(xs)
        self._train(train_flg)
        return self._scores(xs)

    def forward(self, xs: np.ndarray, ts: np.ndarray, train_flg: bool = True) -> float:
        """The mean cross-entropy (``ar`` and ``tar`` are in the gradient, not in it)."""
        xs = self._check_batch(xs, ts)
        self._train(train_flg)
        return self._loss(xs, ts)

    def _train(self, train_flg: bool) -> None:
        for layer in self.mask_layers + self.penalties:
            layer.train_flg = train_flg

    def backward(self, dout=1, on_final=None):
        for layer in self.penalties:
            layer.dloss = dout
        return super().backward(dout, on_final)

    def reset_state(self) -> None:
        for layer in self.recurrent_layers:
            layer.reset_state()


class BetterRnnlm(RnnLanguageModel):
    """Two stateful TimeLSTM layers with dropout, output weight tied to the embedding.

    TimeEmbedding -> TimeDropout -> TimeLSTM -> TimeDropout -> TimeLSTM ->
    TimeDropout -> TimeAffine(embed_W.T) -> TimeSoftmaxWithLoss.  Weight tying
    needs ``wordvec_size == hidden_size``; ``params`` holds ``embed_W`` and its
    transposed view, which ``remove_duplicate`` merges.

    With ``head="adaptive"`` the last two are a TimeAdaptiveSoftmaxWithLoss whose
    shortlist is tied to the embedding (its words' columns are their embedding
    rows; ``params`` holds ``embed_W`` a second time for it), while the clusters'
    columns of the head and the clusters' own weights are untied.
    """

    def __init__(self, vocab_size: int = 10000, wordvec_size: int = 650, hidden_size: int = 650,
                 dropout_ratio: float = 0.5, *, head: str = "full", cutoffs=None, div_value: float = 4.0,
                 order=None, precision: str = "fp32"):
        if wordvec_size != hidden_size:
            raise ValueError(f"BetterRnnlm ties the output weight to the embedding: wordvec_size ({wordvec_size}) "
                             f"must equal hidden_size ({hidden_size})")
        super().__init__(vocab_size, wordvec_size, hidden_size, cell="lstm", layers=2, tied=True,
                         dropout_ratio=dropout_ratio, head=head, cutoffs=cutoffs, div_value=div_value, order=order,
                         precision=precision)
        self.lstm_layers = self.recurrent_layers

    def _file_entries(self) -> dict:
        return LanguageModel._file_entries(self)
