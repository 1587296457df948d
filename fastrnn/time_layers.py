"""The reference's ``common.time_layers`` interface, backed by Numba kernels.

Change ``from common.time_layers import ...`` to
``from fastrnn.time_layers import ...``: the classes keep the reference's names,
constructors, param order and in-place ``grads``.
"""
from .layers.affine import TimeAffine
from .layers.bilstm import TimeBiLSTM
from .layers.dropout import TimeDropout
from .layers.embedding import Embedding, TimeEmbedding
from .layers.loss import TimeSoftmaxWithLoss
from .layers.gru import GRU, TimeGRU
from .layers.lstm import LSTM, TimeLSTM
from .layers.rnn import RNN, TimeRNN
from .layers.sigmoid_loss import TimeSigmoidWithLoss

__all__ = ["RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeBiLSTM", "TimeDropout",
           "Embedding", "TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeSigmoidWithLoss"]
