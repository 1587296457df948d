"""Gate non-linearities over a run of hidden units, shared by the gated cells."""
from numba import njit

from .config import JIT
from .mathfn import sigmoid, tanh


@njit(**JIT)
def activate(pre, x, bias, out, use_tanh):
    """out = tanh (use_tanh) or sigmoid of (pre + x + bias), all 1-D of one length.

    The kernels keep their loops short and over few arrays like this one: LLVM
    vectorises them, while a loop over many arrays fails its alias checks.
    """
    if use_tanh:
        for u in range(out.size):
            out[u] = tanh(pre[u] + x[u] + bias[u])
    else:
        for u in range(out.size):
            out[u] = sigmoid(pre[u] + x[u] + bias[u])
