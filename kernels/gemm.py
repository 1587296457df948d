"""fastrnn's own matrix-product core for the recurrences: a register-
blocked micro-kernel over weights packed once a call.

A recurrent layer multiplies its state by the same weight at every step, with
few rows (the batch): BLAS packs the whole weight again for each such product
and reached a third of its large-product speed there.  Here the weight is
packed once a call (``pack``) into panels of ``NR`` columns, each panel K rows
of NR contiguous elements, and every step streams them through ``tile``: an
intrinsic (LLVM IR written below) that makes a block of up to ``rows_per_tile``
rows by NR columns of the product, each step of its loop over k loading the
panel's vectors, broadcasting one element of A a row and making fused
multiply-adds into accumulators that stay in registers.  The block's shape
is chosen for the host when the kernels load: NR spans two vector registers
(32 float32 with AVX-512, 16 with AVX2), and a block's rows fill the
registers (12 rows of float32 with AVX-512's 32 registers).

Every element of a product is one chain of fused multiply-adds over k = 0,
1, ..., K-1 in order, whatever the block it falls in and whatever the vector
width: results do not depend on how the product is split into blocks,
threads or processes, nor on the machine.

``matmul`` runs whole products on the same core: the layers' products whose
rows are rows of a batch (a recurrent layer's input projection and input
gradient) go through it, so that a row of the result is the same whatever
other rows the product has (OpenBLAS's Haswell kernels, the ones it runs on
AMD Zen 1-3 and wherever ``OPENBLAS_CORETYPE=Haswell`` is set, round a row
differently by the number of rows of the product).

The micro-kernel has a bfloat16 form (``kernels.bf16``): given rows and a
panel of bfloat16 pairs (uint16) it makes float32 sums with vdpbf16ps
(AVX512_BF16), each step of its loop a pair of k.
"""
from llvmlite import binding as ll
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils, config
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from .config import JIT, PJIT
from .tiles import chunk_ranges


def _feature(name: str) -> bool:
    """Whether kernels compile for the CPU feature ``name`` (LLVM's spelling)."""
    if config.CPU_FEATURES or config.CPU_NAME not in (None, "host"):
        return f"+{name}" in (config.CPU_FEATURES or "")
    return bool(ll.get_host_cpu_features().get(name))


VECTOR_BYTES, REGISTERS = (64, 32) if _feature("avx512f") else (32, 16)
BF16 = _feature("avx512bf16") and VECTOR_BYTES == 64
"""Whether the micro-kernel has its bfloat16 form (vdpbf16ps, AVX512_BF16)."""
NR = 2 * VECTOR_BYTES // 4
"""Columns of a panel: two vector registers of float32 (four of float64)."""
ITEMSIZE = {types.float32: 4, types.float64: 8}
ROWS = {t: min(12, (REGISTERS - 2 - NR * n // VECTOR_BYTES) // (NR * n // VECTOR_BYTES)) for t, n in ITEMSIZE.items()}
"""Rows of a block of the product, a dtype: as many as leave their accumulators,
the panel's vectors and one broadcast in registers."""


def rows_per_tile(A):
    """Rows of ``tile``'s blocks for the dtype of array A (in kernels only)."""


@overload(rows_per_tile, jit_options=JIT)
def _rows_per_tile(A):
    rows = ROWS[A.dtype]
    return lambda A: rows


def _splat(builder, value, ty, count):
    """A vector of ``count`` copies of ``value``."""
    i32 = ir.IntType(32)
    v = builder.insert_element(ir.Constant(ty, ir.Undefined), value, ir.Constant(i32, 0))
    return builder.shuffle_vector(v, ir.Constant(ty, ir.Undefined), ir.Constant(ir.VectorType(i32, count), None))


def _tile(width, name):
    """The micro-kernel over the first ``width`` (NR or NR // 2) columns of a panel."""

    def typer(typingctx, K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, cols):
        flat = all(isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C" for arr in (A, Bp, C))
        if not (flat and A.dtype == Bp.dtype and (C.dtype == A.dtype in ITEMSIZE or
                                                  (A.dtype == types.uint16 and C.dtype == types.float32))):
            raise TypingError(f"{name} needs flat contiguous arrays of one float type, or bfloat16 pairs "
                              "(uint16) into float32")
        return _tile_codegen(width, K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, cols)

    typer.__name__ = name
    return intrinsic(typer)


class _BFloat(ir.Type):
    """LLVM's ``bfloat`` (llvmlite has no such type)."""

    def _to_string(self):
        return "bfloat"

    def __eq__(self, other):
        return isinstance(other, _BFloat)

    def __hash__(self):
        return hash("bfloat")


def _tile_codegen(width, K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, cols):
    pairs = A.dtype == types.uint16  # bfloat16 pairs into float32: K counts pairs of k
    MR, W = ROWS[C.dtype], VECTOR_BYTES // ITEMSIZE[C.dtype]
    NV = width // W
    kind = f"v{W}f{8 * ITEMSIZE[C.dtype]}"
    sig = types.none(K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, cols)

    def codegen(context, builder, signature, args):
        if pairs and not BF16:  # never called (the layers refuse bf16 here): no vdpbf16ps for a CPU without it
            builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                        "llvm.trap"), [])
            return context.get_dummy_value()
        K_, A_, a_off_, a_rs_, B_, b_off_, C_, c_off_, c_rs_, rows_, cols_ = args
        i64, i32 = ir.IntType(64), ir.IntType(32)
        align = ITEMSIZE[C.dtype]
        vty = ir.VectorType(ir.DoubleType() if C.dtype == types.float64 else ir.FloatType(), W)
        bty = ir.VectorType(_BFloat(), 2 * W) if pairs else vty  # a vector of the panel
        adata, bdata, cdata = (context.make_array(t)(context, builder, a).data for t, a in ((A, A_), (Bp, B_), (C, C_)))

        def const(v):
            return ir.Constant(i64, v)

        last = builder.sub(rows_, const(1))
        rowp = []
        for i in range(MR):  # rows past the last repeat it: every load stays inside A
            r = builder.select(builder.icmp_signed("<", const(i), rows_), const(i), last)
            rowp.append(builder.gep(adata, [builder.add(a_off_, builder.mul(r, a_rs_))]))
        if pairs:
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty, bty, bty]),
                                                 "llvm.x86.avx512bf16.dpbf16ps.512")
        else:
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{kind}")

        entry = builder.block
        header, body, done = (builder.append_basic_block(f"tile.{n}") for n in ("header", "body", "done"))
        builder.branch(header)
        builder.position_at_end(header)
        k = builder.phi(i64)
        k.add_incoming(const(0), entry)
        accs = [builder.phi(vty) for _ in range(MR * NV)]
        for a in accs:
            a.add_incoming(ir.Constant(vty, None), entry)
        builder.cbranch(builder.icmp_signed("<", k, K_), body, done)

        builder.position_at_end(body)
        step = 2 * NR if pairs else NR  # panel elements a step of k
        bptr = builder.gep(bdata, [builder.add(b_off_, builder.mul(k, const(step)))])
        bv = [builder.load(builder.bitcast(builder.gep(bptr, [const(v * (2 * W if pairs else W))]), bty.as_pointer()),
                           align=align) for v in range(NV)]
        new = []
        for i in range(MR):
            if pairs:  # the row's pair (k, k+1) in every lane: vdpbf16ps adds both products into it
                pair = builder.load(builder.bitcast(builder.gep(rowp[i], [builder.mul(k, const(2))]),
                                                    i32.as_pointer()), align=2)
                a = builder.bitcast(_splat(builder, pair, ir.VectorType(i32, W), W), bty)
                new += [builder.call(fma, [accs[i * NV + v], a, bv[v]]) for v in range(NV)]
            else:
                a = _splat(builder, builder.load(builder.gep(rowp[i], [k])), vty, W)
                new += [builder.call(fma, [a, bv[v], accs[i * NV + v]]) for v in range(NV)]
        end = builder.block
        k.add_incoming(builder.add(k, const(1)), end)
        for a, n in zip(accs, new):
            a.add_incoming(n, end)
        builder.branch(header)

        builder.position_at_end(done)
        whole = builder.and_(builder.icmp_signed("==", rows_, const(MR)),
                             builder.icmp_signed("==", cols_, const(width)))
        with builder.if_else(whole) as (fast, edge):
            with fast:  # a whole block: plain stores
                for i in range(MR):
                    row = builder.gep(cdata, [builder.add(c_off_, builder.mul(const(i), c_rs_))])
                    for v in range(NV):
                        ptr = builder.bitcast(builder.gep(row, [const(v * W)]), vty.as_pointer())
                        builder.store(accs[i * NV + v], ptr, align=align)
            with edge:  # the rows that exist, and masked stores of the columns that exist
                mask_ty = ir.VectorType(ir.IntType(1), W)
                store = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), [vty, vty.as_pointer(), i32, mask_ty]),
                    f"llvm.masked.store.{kind}.p0{kind}")
                lanes = ir.Constant(ir.VectorType(i64, W), list(range(W)))
                for i in range(MR):
                    with builder.if_then(builder.icmp_signed("<", const(i), rows_)):
                        row = builder.gep(cdata, [builder.add(c_off_, builder.mul(const(i), c_rs_))])
                        for v in range(NV):
                            ptr = builder.bitcast(builder.gep(row, [const(v * W)]), vty.as_pointer())
                            left = _splat(builder, builder.sub(cols_, const(v * W)), ir.VectorType(i64, W), W)
                            mask = builder.icmp_signed("<", lanes, left)
                            builder.call(store, [accs[i * NV + v], ptr, ir.Constant(i32, align), mask])
        return context.get_dummy_value()

    return sig, codegen


tile = _tile(NR, "tile")
"""``tile(K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, cols)``:
C[c_off + i*c_rs + j] = the sum over k < K, in order, of
A[a_off + i*a_rs + k] * Bp[b_off + k*NR + j], for i < rows <= ``rows_per_tile(A)``
and j < cols <= NR; A, Bp, C flat arrays of one float type, offsets in elements.
Rows past ``rows`` repeat the last row's loads and are not stored."""
half_tile = _tile(NR // 2, "half_tile")
"""``tile`` for cols <= NR // 2, loading only that half of the panel: a last
panel of few units (100 units are three panels of 32 and one of 4) costs
half a block, not a whole one.  Each element is the same chain: same bits."""


@njit(**JIT)
def panels(H):
    """Panels of NR columns over H columns."""
    return (H + NR - 1) // NR


@njit(**JIT)
def packed_size(K, H, G):
    """Elements of ``pack``'s output for Wt (K, G*H)."""
    return G * panels(H) * K * NR


PACK_ROWS = 32
"""Rows of k a task of ``pack`` copies into one panel: a task reads a narrow band
of Wt, so that a large C-ordered weight is read a few pages at a time."""


@njit(**JIT)
def _pack_rows(Wt, col, w, panel):
    """panel (K * NR,) = columns col:col+w of Wt (K, *), any strides, zeros past w,
    read along Wt's unit-stride axis."""
    K = Wt.shape[0]
    if Wt.strides[1] <= Wt.strides[0]:
        for k in range(K):
            row, src = panel[k * NR:(k + 1) * NR], Wt[k, col:col + w]
            for u in range(w):
                row[u] = src[u]
            for u in range(w, NR):
                row[u] = 0
    else:
        for k in range(K if w < NR else 0):
            panel[k * NR + w:(k + 1) * NR] = 0
        for u in range(w):
            src = Wt[:, col + u]
            for k in range(K):
                panel[k * NR + u] = src[k]


@njit(**PJIT)
def pack(Wt, G, Bp):
    """Bp (packed_size(K, H, G),) = Wt (K, G*H) (any strides) in panels of NR
    columns of one gate: panel ``c*G + g`` holds gate g's columns ``g*H + c*NR``
    onwards (those past H zero), K rows of NR contiguous elements.  A unit
    chunk c (units c*NR to (c+1)*NR) so has its G gates' panels side by side.
    Tasks copy PACK_ROWS rows of one panel each."""
    K, GH = Wt.shape
    H = GH // G
    bands = (K + PACK_ROWS - 1) // PACK_ROWS
    for t in prange(G * panels(H) * bands):
        q, k0 = t // bands, t % bands * PACK_ROWS
        k1 = min(K, k0 + PACK_ROWS)
        c, g = q // G, q % G
        _pack_rows(Wt[k0:k1], g * H + c * NR, min(NR, H - c * NR), Bp[(q * K + k0) * NR:(q * K + k1) * NR])


@njit(**JIT)
def products(K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1):
    """Rows r0:r1 of C = A @ B on unit chunks k0:k1, B (K, G*H) packed by ``pack``:
    C[c_base + r*c_rs + g*H + u] = sum over k of A[a_base + r*a_rs + k] * B[k, g*H + u]
    for each gate g < G and unit u of the chunks; A, C flat, rows row-major."""
    mr = rows_per_tile(A)
    for k in range(k0, k1):
        w = min(NR, H - k * NR)
        for i0 in range(r0, r1, mr):
            rows = min(mr, r1 - i0)
            a_off = a_base + i0 * a_rs
            for g in range(G):
                b_off, c_off = (G * k + g) * K * NR, c_base + i0 * c_rs + g * H + k * NR
                if 2 * w <= NR:
                    half_tile(K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, w)
                else:
                    tile(K, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs, rows, w)


@njit(**JIT)
def serial_matmul(A, K, B, Bp, C):
    """C[:, :N] = A[:, :K] @ B on this thread, for C-contiguous A (M, >= K) and
    C (M, >= N) of one float dtype, B (K, N) any 2-D view of it and Bp a
    workspace of at least ``packed_size(K, N, 1)`` elements: each panel of B
    packed, then used for every row while it is in cache; every element one
    chain of fused multiply-adds over k in order."""
    N = B.shape[1]
    a, c = A.reshape(-1), C.reshape(-1)
    for p in range(panels(N)):
        _pack_rows(B, p * NR, min(NR, N - p * NR), Bp[p * K * NR:(p + 1) * K * NR])
        products(K, a, 0, A.shape[1], Bp, 1, N, c, 0, C.shape[1], 0, A.shape[0], p, p + 1)


@njit([types.void(types.Array(t, 2, "C"), types.Array(t, 2, "A"), types.Array(t, 1, "C"), types.Array(t, 2, "C"),
                  types.intp) for t in (types.float32, types.float64)], **PJIT)
def matmul(A, B, Bp, C, threads):
    """C (M, N) = A (M, K) @ B (K, N) for C-contiguous A and C of one float
    dtype, B any 2-D view of it (typed for any layout: one compiled version a
    dtype) and Bp a workspace of at least ``packed_size(K, N, 1)`` elements.

    One parallel region of ``threads`` tasks, each a range of column panels: a
    task packs its panels of B into Bp, then makes their columns of every row.
    Every element is one chain of fused multiply-adds over k in order, so a
    row of C depends on its row of A alone: not on M, the split or the thread
    count."""
    M, K = A.shape
    N = B.shape[1]
    ranges = chunk_ranges(panels(N), threads)
    a, c = A.reshape(-1), C.reshape(-1)
    for q in prange(ranges.shape[0]):
        for p in range(ranges[q, 0], ranges[q, 1]):
            _pack_rows(B, p * NR, min(NR, N - p * NR), Bp[p * K * NR:(p + 1) * K * NR])
        products(K, a, 0, K, Bp, 1, N, c, 0, N, 0, M, ranges[q, 0], ranges[q, 1])
