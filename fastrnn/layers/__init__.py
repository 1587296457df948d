"""The reference's ``common.layers``: ``from fastrnn.layers import *`` gives what
``from common.layers import *`` gives (the layers, ``np``, ``GPU``, ``softmax``
and ``cross_entropy_error``); ``Embedding`` is fastrnn's fused one."""
from ..functions import GPU, cross_entropy_error, np, softmax
from .basic import Affine, Dropout, MatMul, Sigmoid, SigmoidWithLoss, Softmax, SoftmaxWithLoss
from .embedding import Embedding

__all__ = ["np", "GPU", "softmax", "cross_entropy_error", "MatMul", "Affine", "Softmax", "SoftmaxWithLoss",
           "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding"]
