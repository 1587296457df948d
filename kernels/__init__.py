"""Numba kernels of fastrnn, installed as ``fastrnn.kernels``.

Kernels compute and trust their inputs: contiguous arrays of one floating dtype,
word ids already checked to lie in ``[0, V)``.  The wrappers in ``fastrnn`` do
every check before a kernel runs.
"""

if __name__ != "fastrnn.kernels":
    # Numba caches a kernel beside its source file and records the module it was compiled in:
    # under a second name (``kernels`` from a checkout) the same files would be a second copy
    # of every kernel, and a cache entry written under one name fails to load under the other.
    raise ImportError(f"fastrnn's kernels are imported as fastrnn.kernels, not as {__name__}")
