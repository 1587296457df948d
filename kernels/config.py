"""Compilation options shared by every kernel: the one place they are set.

fastmath is limited to flags that do not assume finite values (no ``nnan`` or
``ninf``): reassociation lets LLVM vectorise reductions, contraction allows FMA.
All kernels are cached on disk so a second process does not compile again.
Numba keys its cache on the kernel's own source file only: after editing this
file or another kernel module that others import (``mathfn``, ``blas``, ``tiles``,
``gates``, ``softmax``), delete the ``__pycache__`` folders under ``kernels/``.
"""

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
"""Options of serial kernels."""

PJIT = dict(JIT, parallel=True)
"""Options of kernels with a ``prange`` loop."""
