"""A recurrent step's product on a weight packed once a call, of either precision:
``products`` takes float panels (``kernels.gemm.pack``) or bfloat16 pairs
(``kernels.bf16.pack``, uint16), and the recurrent kernels call it alone."""
from numba import njit, prange, types
from numba.extending import overload

from . import bf16, gemm
from .config import JIT, PJIT
from .tiles import chunk_ranges


def products(K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1):
    """Rows r0:r1 of C = A @ B on unit chunks k0:k1 for B packed by ``gemm.pack``
    (``gemm.products``) or by ``bf16.pack`` (``bf16.products``: A's rows rounded
    first); in kernels only."""


@overload(products, jit_options=JIT)
def _products(K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1):
    impl = bf16.products if Bp.dtype == types.uint16 else gemm.products
    return lambda K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1: impl(
        K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1)


@njit(**PJIT)
def packed_matmul(A, Bp, G, C, threads):
    """C (M, G*H) = A (M, K) @ B for B packed by either ``pack`` (with G gates), C-contiguous
    A and C, in ``threads`` ranges of unit chunks: a recurrent step's product."""
    M, K = A.shape
    H = C.shape[1] // G
    ranges = chunk_ranges(gemm.panels(H), threads)
    for q in prange(ranges.shape[0]):
        products(K, A.reshape(-1), 0, K, Bp, G, H, C.reshape(-1), 0, G * H, 0, M, ranges[q, 0], ranges[q, 1])
