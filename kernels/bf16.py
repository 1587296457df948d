"""bfloat16 operands, float32 accumulation: the matrix products of ``precision="bf16"``.

An operand enters a product rounded to bfloat16 (round to nearest even, a NaN
kept a NaN): a weight when it is packed (``pack``, once a call), the rows of
the other operand just before each product (``round_rows``).  Rounded rows
are stored as uint16 bit patterns, K padded with zeros to a multiple of KB;
packed weights as ``kernels.gemm``'s panels of NR columns, each row of a
panel holding the pairs (k, k+1) of its NR columns side by side.

Two engines make the products, both accumulating in float32:
- AMX tiles (TDPBF16PS), where the CPU has AMX-BF16 and Linux grants the
  process the tiles' state: blocks of 32 rows by NR = 32 columns, four tiles
  of 16 x 16 sums fed by two tiles of rows and two of the panel, 32 values
  of k a step;
- else ``kernels.gemm``'s micro-kernel in its bfloat16 form (vdpbf16ps,
  AVX512_BF16): blocks of 12 rows by 32 columns, a pair of k a step.
``ready()`` chooses one before the first product (``fastrnn._precision`` calls
it): AMX where it can run, unless the environment variable
FASTRNN_BF16_ENGINE names the other; ``engine()`` names it and ``use_engine``
changes it (for tests and benchmarks).  Either way each element of a product is one
chain over k in a fixed order, whatever block, thread or process makes it:
results do not depend on how a product is split, nor on the thread count.
The two engines may differ from each other in the last bits.
"""
import ctypes
import os

import numpy as np
from llvmlite import binding as ll
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .config import JIT, PJIT
from .gemm import NR, ROWS, _feature, half_tile, panels, tile

KB = 32
"""Multiple K is padded to: the k of one AMX tile of rows."""
AMX_ROWS = 32
"""Rows of an AMX block (two tiles of 16)."""
VDP_ROWS = ROWS[types.float32]
"""Rows of a vdpbf16ps block (as many as of float32)."""
VDP, AMX = 0, 1
MAX_TASKS = 8
"""Most tasks of one product (its column panels split evenly) or of one rounding."""


CAN_AMX = _feature("amx-tile") and _feature("amx-bf16") and os.uname().machine == "x86_64"
"""Whether this CPU has AMX-BF16 (its code is compiled only then)."""
ENGINES = {"vdpbf16ps": VDP, "amx": AMX}
_engine = ctypes.c_int32(VDP)
ll.add_symbol("fastrnn_bf16_engine", ctypes.addressof(_engine))
_granted = []
_chosen = []


def _amx_granted() -> bool:
    """Whether Linux lets this process use the AMX tiles: asked once (arch_prctl
    ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; without it their first use kills
    the process), when a bfloat16 product first needs them, never at import."""
    if not _granted:
        libc = ctypes.CDLL(None, use_errno=True)
        _granted.append(CAN_AMX and libc.syscall(158, 0x1023, 18) == 0)  # SYS_arch_prctl
    return _granted[0]


def engine() -> str:
    """The engine the products run on: "amx" or "vdpbf16ps" (``ready`` chooses it)."""
    return "amx" if _engine.value == AMX else "vdpbf16ps"


def use_engine(name: str) -> None:
    """Run the products on ``name`` ("amx" or "vdpbf16ps") from now on."""
    if name not in ENGINES or (name == "amx" and not _amx_granted()):
        usable = ", ".join(n for n in ENGINES if n != "amx" or _amx_granted())
        raise ValueError(f"the bfloat16 engine must be one of {usable} on this CPU, got {name!r}")
    _chosen.append(name)
    _engine.value = ENGINES[name]


def ready() -> None:
    """Choose the engine before the first bfloat16 product: the environment's
    FASTRNN_BF16_ENGINE, else AMX where it can run, else vdpbf16ps."""
    if not _chosen:
        use_engine(os.environ.get("FASTRNN_BF16_ENGINE") or ("amx" if _amx_granted() else "vdpbf16ps"))


@intrinsic
def _engine_now(typingctx):
    """The engine chosen at this moment (read at every call: not frozen into the compiled code)."""
    def codegen(context, builder, signature, args):
        gv = cgutils.add_global_variable(builder.module, ir.IntType(32), "fastrnn_bf16_engine")
        gv.linkage = "external"
        return builder.sext(builder.load(gv), ir.IntType(64))

    return types.int64(), codegen


@intrinsic
def _bits(typingctx, x):
    """The bit pattern of a float32 as a uint32."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def _float(typingctx, u):
    """The float32 whose bit pattern is the uint32 u."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


@njit(**JIT)
def bf16(x):
    """x (a float, taken as float32) rounded to the nearest bfloat16, ties to
    even, as its uint16 bit pattern; a NaN stays a (quiet) NaN."""
    u = _bits(np.float32(x))
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    nan = (u >> np.uint32(16)) | np.uint32(0x40)
    return np.uint16(nan if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000) else rounded)


def _half(x):
    """x as a bfloat16 bit pattern: a float rounded (``bf16``), a uint16 (a pattern
    already) as it is; in kernels only."""


@overload(_half, jit_options=JIT)
def _half_impl(x):
    if x == types.uint16:
        return lambda x: x
    return lambda x: bf16(x)


@njit(**JIT)
def _pair(lo, hi):
    """The bfloat16 pair (lo, hi) as one uint32, lo in the low half."""
    return np.uint32(_half(lo)) | (np.uint32(_half(hi)) << np.uint32(16))


@njit(**JIT)
def padded(K):
    """K rounded up to a multiple of KB."""
    return (K + KB - 1) // KB * KB


@njit(**JIT)
def packed_size(K, H, G):
    """uint16 elements of ``pack``'s output for Wt (K, G*H)."""
    return G * panels(H) * padded(K) * NR


@njit(**JIT)
def _pack_panel(Wt, col, w, panel):
    """panel (padded(K) * NR,) uint16 = columns col:col+w of Wt (K, *), any
    strides, floats rounded or bfloat16 patterns (uint16): row p holds the pairs (k = 2p, 2p + 1) of the NR
    columns; zeros past K and past w.  Reads along Wt's unit-stride axis."""
    K = Wt.shape[0]
    out = panel.view(np.uint32)
    half = K // 2
    if w < NR:
        out[:] = 0
    else:
        out[(half + K % 2) * NR:] = 0
    if Wt.strides[1] <= Wt.strides[0]:
        for p in range(half):
            lo, hi, row = Wt[2 * p, col:col + w], Wt[2 * p + 1, col:col + w], out[p * NR:p * NR + w]
            for j in range(w):
                row[j] = _pair(lo[j], hi[j])
    else:
        for j in range(w):
            src = Wt[:, col + j]
            for p in range(half):
                out[p * NR + j] = _pair(src[2 * p], src[2 * p + 1])
    if K % 2:
        last, row = Wt[K - 1, col:col + w], out[half * NR:half * NR + w]
        for j in range(w):
            row[j] = _pair(last[j], 0.0)


@njit(**PJIT)
def pack(Wt, G, Bp):
    """Bp (packed_size(K, H, G),) uint16 = Wt (K, G*H) (any strides) rounded and
    packed as ``kernels.gemm.pack`` orders panels (panel ``c*G + g`` holds gate
    g's units c*NR onwards), each panel padded(K) / 2 rows of NR pairs."""
    K, GH = Wt.shape
    H = GH // G
    size = padded(K) * NR
    for q in prange(G * panels(H)):
        c, g = q // G, q % G
        _pack_panel(Wt, g * H + c * NR, min(NR, H - c * NR), Bp[q * size:(q + 1) * size])


@njit(**JIT)
def pack_here(B, Bp):
    """Bp (packed_size(K, N, 1),) = B (K, N) packed as one gate, in this thread: B
    any strides, of floats (rounded here) or of bfloat16 patterns (uint16, rows
    ``row_buffer`` holds, say: the same bits as packing the unrounded floats)."""
    K, N = B.shape
    size = padded(K) * NR
    for c in range(panels(N)):
        _pack_panel(B, c * NR, min(NR, N - c * NR), Bp[c * size:(c + 1) * size])


@njit(**JIT)
def panels_of(B):
    """B (K, N) (any strides) rounded and packed as one gate, in this thread."""
    Bp = np.empty(packed_size(B.shape[0], B.shape[1], 1), np.uint16)
    pack_here(B, Bp)
    return Bp


@njit(**JIT)
def row_buffer(rows, K):
    """Zeros for ``rows`` rounded rows of K (padded): whole AMX blocks of rows."""
    return np.zeros((rows + AMX_ROWS - 1) // AMX_ROWS * AMX_ROWS * padded(K), np.uint16)


@njit(**JIT)
def round_row(src, dst):
    """dst[k] = bf16(src[k]) for every k of src."""
    for k in range(src.size):
        dst[k] = bf16(src[k])


@njit(**JIT)
def widen(h, out):
    """out[k] = the float32 value of bfloat16 pattern h[k] (serial: it may run beside
    the training's kernels, on another thread)."""
    bits = out.view(np.uint32)
    for k in range(h.size):
        bits[k] = np.uint32(h[k]) << np.uint32(16)


@njit(**JIT)
def sum_rounded(parts, out):
    """out[k] = bf16(the float32 sum, in j's order, of the values of patterns parts[j, k]) (serial)."""
    n, size = parts.shape
    for k in range(size):
        acc = _float(np.uint32(parts[0, k]) << np.uint32(16))
        for j in range(1, n):
            acc += _float(np.uint32(parts[j, k]) << np.uint32(16))
        out[k] = bf16(acc)


@njit(**JIT)
def round_rows(A, base, rs, rows, K, As):
    """As[r * padded(K) + k] = bf16(A[base + r*rs + k]) for r < rows, k < K (A flat)."""
    Kp = padded(K)
    for r in range(rows):
        round_row(A[base + r * rs:base + r * rs + K], As[r * Kp:r * Kp + K])


@njit(**JIT)
def _round_view(A, r0, r1, As):
    """Rows r0:r1 of As (rows of padded(K)) = those rows of the 2-D view A (M, K), any strides, rounded."""
    K = A.shape[1]
    Kp = padded(K)
    if A.strides[1] <= A.strides[0]:
        for r in range(r0, r1):
            round_row(A[r], As[r * Kp:r * Kp + K])
    else:
        for k in range(K):
            src = A[:, k]
            for r in range(r0, r1):
                As[r * Kp + k] = bf16(src[r])


@njit(**PJIT)
def rounded(A):
    """The rows of the 2-D view A (M, K) rounded, in ``row_buffer(M, K)``, in parallel."""
    M, K = A.shape
    As = row_buffer(M, K)
    tasks = max(1, min(MAX_TASKS, M // 64))
    for q in prange(tasks):
        _round_view(A, q * M // tasks, (q + 1) * M // tasks, As)
    return As


def _amx(name, argtys):
    """(function calling llvm.x86.``name``, a constant maker) in a codegen's module."""
    def fn(builder):
        return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), argtys),
                                              f"llvm.x86.{name}")
    return fn


def _amx_codegen(body):
    """A codegen running ``body(context, builder, args)``, or a trap where the CPU has
    no AMX (never reached then: the engine is never AMX there), so that no AMX
    instruction is compiled for a CPU without it."""
    def codegen(context, builder, signature, args):
        if CAN_AMX:
            body(context, builder, args)
        else:
            builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                        "llvm.trap"), [])
        return context.get_dummy_value()
    return codegen


_I8, _I16, _I64, _PTR = ir.IntType(8), ir.IntType(16), ir.IntType(64), ir.IntType(8).as_pointer()


@intrinsic
def _amx_config(typingctx):
    """Configure this thread's tiles: palette 1, eight tiles of 16 rows of 64 bytes."""
    def body(context, builder, args):
        cfg = cgutils.alloca_once(builder, ir.ArrayType(_I8, 64))
        cfg.align = 64
        builder.store(ir.Constant(ir.ArrayType(_I8, 64), None), cfg)
        raw = builder.bitcast(cfg, _PTR)
        builder.store(ir.Constant(_I8, 1), raw)
        for t in range(8):
            builder.store(ir.Constant(_I16, 64), builder.bitcast(builder.gep(raw, [ir.Constant(_I64, 16 + 2 * t)]),
                                                                  _I16.as_pointer()))
            builder.store(ir.Constant(_I8, 16), builder.gep(raw, [ir.Constant(_I64, 48 + t)]))
        builder.call(_amx("ldtilecfg", [_PTR])(builder), [raw])

    return types.none(), _amx_codegen(body)


@intrinsic
def _amx_release(typingctx):
    """Release this thread's tiles."""
    return types.none(), _amx_codegen(lambda context, builder, args: builder.call(
        _amx("tilerelease", [])(builder), []))


@intrinsic
def _amx_block(typingctx, Kp, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs):
    """C[c_off + i*c_rs + j] = sum over k < Kp of A[a_off + i*a_rs + k] * B[k, j]
    for i < 32, j < NR, with A rounded rows (uint16), Bp a panel at b_off
    (pairs of k), C float32, on tiles configured by ``_amx_config``: C in
    tiles 0-3 (2 x 2 blocks of 16 x 16), A's rows in 4-5, the panel in 6-7."""
    sig = types.none(Kp, A, a_off, a_rs, Bp, b_off, C, c_off, c_rs)

    def body(context, builder, args):
        Kp_, A_, a_off_, a_rs_, B_, b_off_, C_, c_off_, c_rs_ = args

        def const(v, ty=_I64):
            return ir.Constant(ty, v)

        zero, load = _amx("tilezero", [_I8])(builder), _amx("tileloadd64", [_I8, _PTR, _I64])(builder)
        dot, store = _amx("tdpbf16ps", [_I8] * 3)(builder), _amx("tilestored64", [_I8, _PTR, _I64])(builder)
        for t in range(4):
            builder.call(zero, [const(t, _I8)])
        adata, bdata, cdata = (builder.bitcast(context.make_array(t)(context, builder, a).data, _PTR)
                               for t, a in ((A, A_), (Bp, B_), (C, C_)))
        a_stride, b_stride = builder.mul(a_rs_, const(2)), const(4 * NR)

        def at(data, elements, size):
            return builder.gep(data, [builder.mul(elements, const(size))])

        with cgutils.for_range_slice(builder, const(0), Kp_, const(KB)) as (k, _):
            a0 = at(adata, builder.add(a_off_, k), 2)
            b0 = at(bdata, builder.add(b_off_, builder.mul(k, const(NR))), 2)  # pair row k/2: k/2 * 2NR
            # each product as soon as its tiles are in: tiles are not renamed, so a load waits
            # for the products reading its tile, and the loads go between the products
            for op in (("load", 4, a0), ("load", 6, b0), ("dot", 0, 4, 6),
                       ("load", 7, builder.gep(b0, [const(64)])), ("dot", 1, 4, 7),
                       ("load", 5, builder.gep(a0, [builder.mul(a_stride, const(16))])), ("dot", 2, 5, 6),
                       ("dot", 3, 5, 7)):
                if op[0] == "load":
                    builder.call(load, [const(op[1], _I8), op[2], b_stride if op[1] > 5 else a_stride])
                else:
                    builder.call(dot, [const(t, _I8) for t in op[1:]])
        c_stride = builder.mul(c_rs_, const(4))
        c0 = at(cdata, c_off_, 4)
        for c in range(4):
            row, col = divmod(c, 2)
            builder.call(store, [const(c, _I8), builder.gep(c0, [builder.add(builder.mul(c_stride, const(16 * row)),
                                                                             const(64 * col))]), c_stride])

    return sig, _amx_codegen(body)


@njit(**JIT)
def _block(amx, Kp, As, a_off, Bp, b_off, C, c_off, c_rs, m, w, Cs):
    """One block of ``blocks``: m rows by w columns of C at c_off, on AMX tiles (through
    the scratch Cs (AMX_ROWS * NR,) when it is not whole) or vdpbf16ps."""
    if not amx:
        if 2 * w <= NR:
            half_tile(Kp // 2, As, a_off, Kp, Bp, b_off, C, c_off, c_rs, m, w)
        else:
            tile(Kp // 2, As, a_off, Kp, Bp, b_off, C, c_off, c_rs, m, w)
    elif m == AMX_ROWS and w == NR:
        _amx_block(Kp, As, a_off, Kp, Bp, b_off, C, c_off, c_rs)
    else:
        _amx_block(Kp, As, a_off, Kp, Bp, b_off, Cs, 0, NR)
        for i in range(m):
            C[c_off + i * c_rs:c_off + i * c_rs + w] = Cs[i * NR:i * NR + w]


@njit(**JIT)
def blocks(Kp, As, Bp, G, H, C, c_base, c_rs, rows, k0, k1):
    """C[c_base + r*c_rs + g*H + u] = sum over k of As[r*Kp + k] * B[k, g*H + u]
    for r < rows and the units u of chunks k0:k1, B packed by ``pack``: the
    blocks of the engine in use.  As holds whole AMX blocks of rows (``row_buffer``)."""
    amx = _engine_now() == AMX
    mr = AMX_ROWS if amx else VDP_ROWS
    if amx:
        _amx_config()
    Cs = np.empty(AMX_ROWS * NR if amx else 0, np.float32)
    for k in range(k0, k1):
        w = min(NR, H - k * NR)
        for i0 in range(0, rows, mr):
            for g in range(G):
                _block(amx, Kp, As, i0 * Kp, Bp, (G * k + g) * Kp * NR, C, c_base + i0 * c_rs + g * H + k * NR, c_rs,
                       min(mr, rows - i0), w, Cs)
    if amx:
        _amx_release()


@njit(**JIT)
def products(K, A, a_base, a_rs, Bp, G, H, C, c_base, c_rs, r0, r1, k0, k1):
    """``kernels.gemm.products`` for a weight packed by this module's ``pack``:
    rows r0:r1 of A (float32, flat) are rounded, then multiplied."""
    rows = r1 - r0
    As = row_buffer(rows, K)
    round_rows(A, a_base + r0 * a_rs, a_rs, rows, K, As)
    blocks(padded(K), As, Bp, G, H, C, c_base + r0 * c_rs, c_rs, rows, k0, k1)


@njit(**PJIT)
def matmul(A, B, C):
    """C (M, N) = A (M, K) @ B (K, N): any 2-D float32 views A and B, C C-contiguous.

    A's rows are rounded and B packed once, each in parallel, then ranges of
    column panels (at most MAX_TASKS) run in parallel: the tasks depend on the
    shapes alone."""
    M, K = A.shape
    N = B.shape[1]
    As = rounded(A)
    Bp = np.empty(packed_size(K, N, 1), np.uint16)
    pack(B, 1, Bp)
    chunks = panels(N)
    tasks = min(MAX_TASKS, chunks)
    for q in prange(tasks):
        blocks(padded(K), As, Bp, 1, N, C.reshape(-1), 0, N, M, q * chunks // tasks, (q + 1) * chunks // tasks)


@njit(**JIT)
def rounded_gemm(As, B, C):
    """C (M, N) = A @ B in this thread for A (M, K) rounded by ``rounded`` (As),
    B (K, N) any 2-D view, C C-contiguous (M rows, N columns)."""
    N = B.shape[1]
    blocks(padded(B.shape[0]), As, panels_of(B), 1, N, C.reshape(-1), 0, N, C.shape[0], 0, panels(N))
