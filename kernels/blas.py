"""Matrix products inside kernels: BLAS gemm on strided row-major views.

``gemm`` calls the Fortran gemm of a BLAS library through two symbols,
``fastrnn_sgemm`` and ``fastrnn_dgemm``, which ``fastrnn._blas`` binds in every
process before a kernel is compiled or loaded from the cache; a product can so
read and write column blocks of larger arrays without copies.  ``par_gemm``
splits one product into output tiles that run in Numba's threads, BLAS itself
being held to one thread (see ``fastrnn._threads``): Numba's pool is then the
only one running.  The tiles depend on the shapes alone, never on the thread
count, and each output element is computed by exactly one tile, so results do
not depend on the thread count.
"""
import ctypes
import os
import sys

import numpy as np
from llvmlite import binding as ll
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import JIT, PJIT

MAX_TILES = 4
"""Tiles of one product: more tiles mean more packing of the shared operand."""
MIN_TILE = 64
"""Fewest rows or columns of an output tile."""


def _numpy_openblas() -> dict | None:
    """sgemm and dgemm of a loaded ILP64 scipy-openblas (the BLAS of NumPy's
    wheels), or None.  On the shapes of fastrnn's layers it ran 10-30% faster
    than the LP64 OpenBLAS of SciPy's wheels."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        lib = ctypes.CDLL(info["filepath"])
        try:
            return {"s": ctypes.cast(lib.scipy_sgemm_64_, ctypes.c_void_p).value,
                    "d": ctypes.cast(lib.scipy_dgemm_64_, ctypes.c_void_p).value,
                    "name": f"ILP64 OpenBLAS {info.get('version')} ({os.path.basename(info['filepath'])})"}
        except AttributeError:
            continue
    return None


def _scipy_blas() -> dict:
    """sgemm and dgemm of SciPy's BLAS (the functions Numba itself calls)."""
    from scipy.linalg import cython_blas

    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    capsules = cython_blas.__pyx_capi__
    return {kind: pointer(capsules[f"{kind}gemm"], name(capsules[f"{kind}gemm"])) for kind in "sd"} | {
        "name": "SciPy's BLAS (scipy.linalg.cython_blas)"}


def _bind() -> str:
    """Point the symbols ``fastrnn_sgemm`` and ``fastrnn_dgemm`` at NumPy's ILP64
    OpenBLAS, or at SciPy's BLAS when NumPy has none or ``FASTRNN_BLAS=scipy``.

    Sizes go to BLAS as 64-bit integers; an LP64 BLAS reads their low halves,
    which come first on a little-endian machine (every platform Numba targets).
    """
    assert sys.byteorder == "little", "fastrnn passes BLAS sizes as little-endian 64-bit integers"
    choice = os.environ.get("FASTRNN_BLAS", "numpy")
    if choice not in ("numpy", "scipy"):
        raise ValueError(f"FASTRNN_BLAS must be 'numpy' or 'scipy', got {choice!r}")
    found = (_numpy_openblas() if choice == "numpy" else None) or _scipy_blas()
    for kind in "sd":
        ll.add_symbol(f"fastrnn_{kind}gemm", found[kind])
    return found["name"]


BLAS = _bind()
"""The BLAS library whose gemm the kernels call."""


@intrinsic
def _fortran_gemm(typingctx, transa, transb, m, n, k, a, lda, b, ldb, c, ldc):
    """Fortran gemm ``c = op(a) @ op(b)`` (column-major, alpha 1, beta 0) of the
    dtype of array ``c``; every argument passed by reference, as Fortran wants."""
    intp = types.intp
    sig = types.void(intp, intp, intp, intp, intp, a, intp, b, intp, c, intp)

    def codegen(context, builder, signature, args):
        ta, tb, m_, n_, k_, a_, lda_, b_, ldb_, c_, ldc_ = args
        byte_p = ir.IntType(8).as_pointer()
        dtype = context.get_value_type(signature.args[9].dtype)

        def ref(value):
            return builder.bitcast(cgutils.alloca_once_value(builder, value), byte_p)

        def data(index, value):
            return builder.bitcast(context.make_array(signature.args[index])(context, builder, value).data, byte_p)

        flag = ir.IntType(8)
        fnty = ir.FunctionType(ir.VoidType(), [byte_p] * 13)
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"fastrnn_{'s' if dtype == ir.FloatType() else 'd'}gemm")
        builder.call(fn, [ref(builder.trunc(ta, flag)), ref(builder.trunc(tb, flag)), ref(m_), ref(n_), ref(k_),
                          ref(ir.Constant(dtype, 1)), data(5, a_), ref(lda_), data(7, b_), ref(ldb_),
                          ref(ir.Constant(dtype, 0)), data(9, c_), ref(ldc_)])
        return context.get_dummy_value()

    return sig, codegen


@njit(**JIT)
def _layout(X):
    """(transpose flag for a column-major BLAS, leading dimension) of a 2-D view
    whose rows or columns are unit-stride."""
    rows, cols = X.shape
    if X.strides[1] == X.itemsize or cols == 1:
        return ord("n"), max(X.strides[0] // X.itemsize, cols, 1)
    return ord("t"), max(X.strides[1] // X.itemsize, rows, 1)


@njit(**JIT)
def gemm(A, B, C):
    """C = A @ B for 2-D views A (M, K), B (K, N), C (M, N) (C's rows unit-stride).

    Row-major C is column-major C.T = B.T @ A.T, which is the call made.
    """
    M, K = A.shape
    N = B.shape[1]
    ta, lda = _layout(B)
    tb, ldb = _layout(A)
    _fortran_gemm(ta, tb, N, M, K, B, lda, A, ldb, C, max(C.strides[0] // C.itemsize, N, 1))


@njit(**JIT)
def tiles(n):
    """Number and size of the tiles of an output dimension of n."""
    count = min(MAX_TILES, max(1, n // MIN_TILE))
    return count, (n + count - 1) // count


_SIGNATURES = [types.void(*[types.Array(dtype, 2, "A")] * 3)
               for dtype in (types.float32, types.float64)]


@njit(_SIGNATURES, **PJIT)
def par_gemm(A, B, C):
    """``gemm`` split over tiles of C's longer dimension, in parallel.

    Typed for any-layout float32 and float64 views only: one compiled version
    a dtype, whatever the operands' memory order.
    """
    M, N = C.shape
    if N >= M:
        count, size = tiles(N)
        for t in prange(count):
            c0, c1 = t * size, min(N, (t + 1) * size)
            gemm(A, B[:, c0:c1], C[:, c0:c1])
    else:
        count, size = tiles(M)
        for t in prange(count):
            r0, r1 = t * size, min(M, (t + 1) * size)
            gemm(A[r0:r1], B, C[r0:r1])


@njit(**PJIT)
def sum_parts(parts, out):
    """out (R, D) = the sum of parts (P, R, D) over P, in order, parallel over rows."""
    P, R, D = parts.shape
    for r in prange(R):
        for j in range(D):
            s = parts[0, r, j]
            for p in range(1, P):
                s += parts[p, r, j]
            out[r, j] = s


@njit([types.void(*[types.Array(dtype, 2, "A")] * 5) for dtype in (types.float32, types.float64)], **PJIT)
def linear_backward(XT, dY, WT, dW, dX):
    """Both products of the backward pass of ``Y = X @ W``: ``dW = X.T @ dY`` and
    ``dX = dY @ W.T``, given the views XT (D, R), dY (R, M), WT (M, E), dW (D, M)
    and dX (R, E), in one parallel region (E may differ from D: the bias row).

    Each tile of dY's columns yields its block of dW and its part of dX (a
    product over that block of M alone), read while the block is in cache;
    the parts are then summed in tile order.  The tiles depend on M alone.
    """
    M = dY.shape[1]
    count, size = tiles(M)
    if count == 1:  # too narrow to split: each product split its own way
        par_gemm(XT, dY, dW)
        par_gemm(dY, WT, dX)
        return
    R, D = dX.shape
    parts = np.empty((count, R, D), dX.dtype)
    for t in prange(count):
        c0, c1 = t * size, min(M, (t + 1) * size)
        gemm(XT, dY[:, c0:c1], dW[:, c0:c1])
        gemm(dY[:, c0:c1], WT[c0:c1], parts[t])
    sum_parts(parts, dX)
