"""Matrix products of the layers, run in Numba's threads: on fastrnn's own core
(``kernels.gemm.matmul``), or with ``bf16`` by ``kernels.bf16.matmul`` (operands
rounded to bfloat16, sums in float32).

The environment variable ``FASTRNN_PRODUCTS`` (read once at import: ``OWN``)
says where the other float32 and float64 products (weight gradients,
``TimeAffine``, the output heads) run: ``blas`` (the default), tiles of BLAS
gemm calls (``kernels.blas.par_gemm``), whose kernels sum in orders of their
own, chosen for the CPU; or ``own``, where every element of a product is one
chain of fused multiply-adds over k in order, so that a training run's bits
depend neither on the BLAS kernel nor on the vector width (slower: see
docs/explanation/determinism.md).  ``row_matmul`` runs on the own core either way.
"""
from __future__ import annotations

import os
import threading

import numpy as np
from numba import get_num_threads

from ._threads import blas_in_kernel
from .kernels.blas import linear_backward as _linear_backward
from .kernels.blas import par_gemm
from .kernels.bf16 import matmul as bf16_matmul
from .kernels.bf16 import ready
from .kernels.gemm import matmul as own_matmul
from .kernels.gemm import packed_size


def _own_products() -> bool:
    """Whether FASTRNN_PRODUCTS is ``own`` (ValueError for a value other than ``blas`` or ``own``)."""
    choice = os.environ.get("FASTRNN_PRODUCTS", "blas")
    if choice not in ("blas", "own"):
        raise ValueError(f"FASTRNN_PRODUCTS must be 'blas' or 'own', got {choice!r}")
    return choice == "own"


OWN = _own_products()
"""Whether the float products run on the own core (see the module's docstring)."""

_spare = threading.local()
"""This thread's workspaces for ``row_matmul``'s packed B, one a dtype (named by
its character), kept between calls: a fresh large array costs its page faults
at every call."""


def _unit_stride(a: np.ndarray) -> np.ndarray:
    """``a`` itself when its rows or columns are unit-stride, else a C-ordered copy."""
    if a.strides[1] == a.itemsize or a.strides[0] == a.itemsize:
        return a
    return np.ascontiguousarray(a)


def _target(out: np.ndarray) -> np.ndarray:
    """``out`` when BLAS can write it (unit-stride rows), else a temporary of its shape."""
    return out if out.strides[1] == out.itemsize or out.shape[1] == 1 else np.empty(out.shape, out.dtype)


def matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray | None = None, bf16: bool = False) -> np.ndarray:
    """``out = A @ B`` for 2-D arrays of one float dtype (float32 with ``bf16``); returns out.

    ``out`` may be any 2-D view (a grad of a transposed param, say); when it is
    not C-contiguous (by BLAS: when its rows are not unit-stride) the product
    goes through a temporary.
    """
    if out is None:
        out = np.empty((A.shape[0], B.shape[1]), A.dtype)
    if bf16 or OWN:
        target = out if out.flags.c_contiguous else np.empty(out.shape, out.dtype)
        if bf16:
            ready()
            bf16_matmul(A, B, target)
        else:
            row_matmul(A, B, target)
    else:
        A, B = _unit_stride(A), _unit_stride(B)
        target = _target(out)
        with blas_in_kernel():
            par_gemm(A, B, target)
    if target is not out:
        out[...] = target
    return out


def row_matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray, bf16: bool = False) -> np.ndarray:
    """``out = A @ B`` for a C-contiguous A (M, K), B (K, N) any 2-D view of A's
    dtype and a C-contiguous out (M, N), where each row of out depends on its row
    of A alone, bit for bit: on fastrnn's own core (``kernels.gemm.matmul``), or
    with ``bf16`` in bfloat16 (``kernels.bf16.matmul``).  A product over some of
    the rows (a group, a chunk of a sequence) gives those rows; returns out."""
    if bf16:
        return matmul(A, B, out=out, bf16=True)
    size = packed_size(*B.shape, 1)
    Bp = getattr(_spare, out.dtype.char, None)
    if Bp is None or Bp.size < size:
        Bp = np.empty(size, out.dtype)
        setattr(_spare, out.dtype.char, Bp)
    own_matmul(np.ascontiguousarray(A), B, Bp, out, get_num_threads())
    return out


def linear_backward(X: np.ndarray, dY: np.ndarray, W: np.ndarray, dW: np.ndarray, bf16: bool = False) -> np.ndarray:
    """The backward products of a linear map: writes ``dW = X.T @ dY`` into
    ``dW`` (D, M) (any 2-D view) and returns ``dY @ W.T`` (R, E), for X (R, D),
    dY (R, M) and W (E, M), from one kernel that reads each block of dY once.
    (X and W differ in their first dimension where X carries a column of ones
    for the bias.)  With ``bf16``, or on the own core, they are two products."""
    if bf16 or OWN:
        matmul(X.T, dY, out=dW, bf16=bf16)
        return matmul(dY, W.T, bf16=bf16)
    XT, dY, WT = _unit_stride(X.T), _unit_stride(dY), _unit_stride(W.T)
    dX = np.empty((X.shape[0], W.shape[0]), X.dtype)
    target = _target(dW)
    with blas_in_kernel():
        _linear_backward(XT, dY, WT, target, dX)
    if target is not dW:
        dW[...] = target
    return dX
