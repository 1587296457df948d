"""Matrix products inside kernels: BLAS gemm on strided row-major views.

``gemm`` calls the BLAS that Numba itself uses (SciPy's, through Numba's
``numba_xxgemm`` helper) with explicit leading dimensions, so a product can
read and write column blocks of larger arrays without copies.  ``par_gemm``
splits one product into output tiles that run in Numba's threads, BLAS itself
being held to one thread (see ``fastrnn._threads``): Numba's pool is then the
only one running.  The tiles depend on the shapes alone, never on the thread
count, and each output element is computed by exactly one tile, so results do
not depend on the thread count.
"""
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import JIT, PJIT

MAX_TILES = 4
"""Tiles of one product: more tiles mean more packing of the shared operand."""
MIN_TILE = 64
"""Fewest rows or columns of an output tile."""


@intrinsic
def _xxgemm(typingctx, like, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS gemm of the dtype of array ``like``; pointers as integers."""
    kind = {types.float32: "s", types.float64: "d"}[like.dtype]
    sig = types.int32(like, *([types.intp] * 13))

    def codegen(context, builder, signature, args):
        char, void_p, intp = ir.IntType(8), ir.IntType(8).as_pointer(), context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, void_p, void_p, intp,
                                                void_p, intp, void_p, void_p, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        (_, ta, tb, m_, n_, k_, al, a_, lda_, b_, ldb_, be, c_, ldc_) = args
        ptr = lambda v: builder.inttoptr(v, void_p)  # noqa: E731
        return builder.call(fn, (ir.Constant(char, ord(kind)), builder.trunc(ta, char), builder.trunc(tb, char),
                                 m_, n_, k_, ptr(al), ptr(a_), lda_, ptr(b_), ldb_, ptr(be), ptr(c_), ldc_))

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
    ldc = max(C.strides[0] // C.itemsize, N, 1)
    scalars = np.empty(2, C.dtype)
    scalars[0] = 1
    scalars[1] = 0
    _xxgemm(C, ta, tb, N, M, K, scalars.ctypes.data, B.ctypes.data, lda, A.ctypes.data, ldb,
            scalars.ctypes.data + C.itemsize, C.ctypes.data, ldc)


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
