"""Matrix products of the layers, run in Numba's threads (``kernels.blas.par_gemm``)."""
from __future__ import annotations

import numpy as np

from ._threads import blas_in_kernel
from .kernels.blas import par_gemm


def _unit_stride(a: np.ndarray) -> np.ndarray:
    """``a`` itself when its rows or columns are unit-stride, else a C-ordered copy."""
    if a.strides[1] == a.itemsize or a.strides[0] == a.itemsize:
        return a
    return np.ascontiguousarray(a)


def matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``out = A @ B`` for 2-D arrays of one float dtype; returns out.

    ``out`` may be any 2-D view (a grad of a transposed param, say); when its
    rows are not unit-stride the product goes through a temporary.
    """
    A, B = _unit_stride(A), _unit_stride(B)
    if out is None:
        out = np.empty((A.shape[0], B.shape[1]), A.dtype)
    target = out if out.strides[1] == out.itemsize or out.shape[1] == 1 else np.empty(out.shape, out.dtype)
    with blas_in_kernel():
        par_gemm(A, B, target)
    if target is not out:
        out[...] = target
    return out
