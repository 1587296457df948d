"""Compilation options shared by every kernel: the one place they are set.

fastmath is limited to flags that neither assume finite values (no ``nnan``
or ``ninf``) nor let LLVM reorder arithmetic (no ``reassoc``): a kernel's
results are defined by its source.  With ``reassoc`` they were not: Numba
runs a freshly compiled parallel kernel's loop body from its own library, but
caches, and later processes run, the copy linked into the calling kernel,
which LLVM optimises a second time; allowed to reassociate, it vectorised the
exponential sums of the softmax differently there, so the first process after
an install rounded differently from every later one.  Sums that must be fast
are written with explicit vectors instead (``kernels.simd``).  ``contract``
allows fused multiply-adds.

All kernels are cached on disk so a second process does not compile again.
Numba keys its cache on the kernel's own source file only: after editing this
file or another kernel module that others import (``mathfn``, ``blas``, ``tiles``,
``gates``, ``softmax``, ``simd``, ``gemm``, ``bf16``, ``packed``), delete the ``__pycache__`` folders
under ``kernels/``.
"""

FASTMATH = {"nsz", "arcp", "contract"}

JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
"""Options of serial kernels."""

PJIT = dict(JIT, parallel=True)
"""Options of kernels with a ``prange`` loop."""
