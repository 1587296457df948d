"""The reference's ``common.time_layers`` interface, backed by Numba kernels.

Change ``from common.time_layers import ...`` to
``from fastrnn.time_layers import ...``: the classes keep the reference's names,
constructors, param order and in-place ``grads``.  ``from fastrnn.time_layers
import *`` gives every name ``from common.time_layers import *`` gives, ``np``
and the classes of ``common.layers`` (``fastrnn.layers``) included.
"""
from .functions import sigmoid
from .layers import *  # noqa: F401,F403  (the reference's star import of common.layers)
from .layers import __all__ as _layers
from .layers.adaptive import TimeAdaptiveSoftmaxWithLoss
from .layers.affine import TimeAffine
from .layers.bilstm import TimeBiLSTM
from .layers.dropout import TimeDropout
from .layers.embedding import Embedding, TimeEmbedding
from .layers.gru import GRU, TimeGRU
from .layers.loss import TimeSoftmaxWithLoss
from .layers.lstm import LSTM, TimeLSTM
from .layers.rnn import RNN, TimeRNN
from .layers.sigmoid_loss import TimeSigmoidWithLoss
from .layers.simple_time import Simple_TimeAffine, Simple_TimeSoftmaxWithLoss

__all__ = [*_layers, "sigmoid", "RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeBiLSTM",
           "TimeDropout", "TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeAdaptiveSoftmaxWithLoss",
           "TimeSigmoidWithLoss",
           "Simple_TimeAffine", "Simple_TimeSoftmaxWithLoss"]
