"""fastrnn's own product core (``kernels.gemm``) against a float64 oracle, and the
property the recurrent kernels' exactness rests on: an element's value does not
depend on the block, the rows around it or the thread count; the same for whole
products (``gemm.matmul``, a recurrent layer's input projection and input gradient)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import from_dtype

from fastrnn.kernels.gemm import NR, ROWS, matmul, packed_size
from fastrnn.kernels.packed import packed_matmul
from fastrnn.layers.recurrent import packed
from support import TOL, randn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,H,G", [(1, 1, 1, 1), (13, 7, NR + 1, 4), (25, 40, 70, 3), (20, 65, 2 * NR, 2),
                                     (3, 9, 5, 1), (14, 6, NR + NR // 2, 2), (9, 12, NR // 2 + 1, 3)])
def test_packed_product_matches_oracle(rng, dtype, M, K, H, G):
    A, B = randn(rng, (M, K), dtype), randn(rng, (K, G * H), dtype)
    C = np.full((M, G * H), np.nan, dtype)
    packed_matmul(A, packed(B, G), G, C, 2)
    want = A.astype(np.float64) @ B.astype(np.float64)
    assert np.abs(C - want).max() <= TOL[dtype] * np.abs(A).max() * np.abs(B).max() * K


def test_transposed_weight_packs_as_its_copy(rng):
    W = randn(rng, (70, 4 * 45), np.float32)
    np.testing.assert_array_equal(packed(W.T), packed(np.ascontiguousarray(W.T)))
    np.testing.assert_array_equal(packed(W, 4), packed(np.asfortranarray(W), 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_row_is_the_same_alone_in_any_block_and_with_any_threads(rng, dtype):
    M, K, G, H = 29, 130, 4, 75
    A, B = randn(rng, (M, K), dtype), randn(rng, (K, G * H), dtype)
    Bp = packed(B, G)
    whole = np.empty((M, G * H), dtype)
    packed_matmul(A, Bp, G, whole, 2)
    for threads in (1, 3):
        again = np.empty_like(whole)
        packed_matmul(A, Bp, G, again, threads)
        np.testing.assert_array_equal(again, whole)
    for rows in (slice(0, 1), slice(5, 6), slice(7, 20), slice(28, 29)):
        part = np.empty((rows.stop - rows.start, G * H), dtype)
        packed_matmul(np.ascontiguousarray(A[rows]), Bp, G, part, 1)
        np.testing.assert_array_equal(part, whole[rows])


def product(A, B, C, threads):
    """C = A @ B through ``gemm.matmul``, its workspace full of NaN."""
    matmul(A, B, np.full(packed_size(*B.shape, 1), np.nan, A.dtype), C, threads)


def views(rng, K, N, dtype):
    """B (K, N) as a C-ordered array, a transposed one and a strided column block."""
    B = randn(rng, (K, N), dtype)
    wide = randn(rng, (K + 3, 2 * N + 5), dtype)
    wide[1:K + 1, 3:2 * N + 3:2] = B
    return {"C": B, "T": np.ascontiguousarray(B.T).T, "strided": wide[1:K + 1, 3:2 * N + 3:2]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (0, 5, 7), (6, 0, 9), (7, 3, NR + NR // 2 + 1), (97, 40, 3 * NR),
                                   (140, 650, 2 * NR - 1), (5, 2600, 11)])
def test_matmul_matches_oracle(rng, dtype, M, K, N):
    A = randn(rng, (M, K), dtype)
    for name, B in views(rng, K, N, dtype).items():
        C = np.full((M, N), np.nan, dtype)
        product(A, B, C, 2)
        want = A.astype(np.float64) @ B.astype(np.float64)
        bound = TOL[dtype] * (np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64) + 1)
        assert np.all(np.abs(C - want) <= bound), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_row_is_its_row_alone(rng, dtype):
    """A row of ``matmul`` does not depend on M, on the rows around it or on the threads:
    a product of 1, 5, 400 or 399 rows, or of a block's rows plus some, gives the same row."""
    M, K, N = 400, 650, 2 * NR + 7
    A, B = randn(rng, (M, K), dtype), randn(rng, (K, N), dtype)
    whole = np.empty((M, N), dtype)
    product(A, B, whole, 2)
    for threads in (1, 3, 8):
        again = np.empty_like(whole)
        product(A, B, again, threads)
        np.testing.assert_array_equal(again, whole)
    for rows in (slice(0, 1), slice(3, 8), slice(ROWS[from_dtype(dtype)] - 1, 49), slice(399, 400),
                 slice(1, 400)):
        part = np.empty((rows.stop - rows.start, N), dtype)
        product(np.ascontiguousarray(A[rows]), B, part, 2)
        np.testing.assert_array_equal(part, whole[rows])
    alone = np.empty((1, N), dtype)
    product(A[17:18].copy(), np.ascontiguousarray(B.T).T, alone, 1)  # B's layout changes only its packing
    np.testing.assert_array_equal(alone[0], whole[17])


PRODUCTS = """
import sys, numpy as np
from fastrnn.kernels.gemm import NR, ROWS, matmul, packed_size
from fastrnn.kernels.packed import packed_matmul
from fastrnn.layers.recurrent import packed
rng = np.random.default_rng(0)
out = []
for dtype in (np.float32, np.float64):
    A, B = rng.standard_normal((29, 130)).astype(dtype), rng.standard_normal((130, 4 * 75)).astype(dtype)
    C = np.empty((29, 4 * 75), dtype)
    packed_matmul(A, packed(B, 4), 4, C, 2)
    D = np.empty((29, 4 * 75), dtype)
    matmul(A, B, np.empty(packed_size(130, 4 * 75, 1), dtype), D, 2)
    out += [C, D]
np.savez(sys.argv[1], *out)
print(NR)
"""


def test_avx2_blocks_give_the_bits_of_this_machines(tmp_path):
    """Compiled for an AVX2 machine (Haswell: 16 vector registers of 32 bytes), the core
    uses other panels and blocks, and makes the same products bit for bit."""
    runs = {}
    for name, env in (("here", {}), ("avx2", {"NUMBA_CPU_NAME": "haswell", "NUMBA_CACHE_DIR": str(tmp_path)})):
        done = subprocess.run([sys.executable, "-c", PRODUCTS, str(tmp_path / f"{name}.npz")], env=os.environ | env,
                              capture_output=True, text=True, check=True)
        runs[name] = int(done.stdout), np.load(tmp_path / f"{name}.npz")
    assert runs["avx2"][0] == 16
    for key in runs["here"][1]:
        np.testing.assert_array_equal(runs["avx2"][1][key], runs["here"][1][key])
