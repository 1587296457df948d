"""Gate non-linearities over a run of hidden units, shared by the gated cells."""
from numba import njit

from .config import JIT
from .mathfn import sigmoid, tanh


@njit(**JIT)
def activate(a, x, bias, use_tanh):
    """a = tanh (use_tanh) or sigmoid of (a + x + bias), all 1-D of one length.

    The kernels keep their loops short and over few arrays like this one: LLVM
    vectorises them, while a loop over many arrays fails its alias checks (and
    one that reads an array it writes through another view runs 9 times slower).
    """
    if use_tanh:
        for u in range(a.size):
            a[u] = tanh(a[u] + x[u] + bias[u])
    else:
        for u in range(a.size):
            a[u] = sigmoid(a[u] + x[u] + bias[u])
