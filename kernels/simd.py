"""Explicit vectors for kernels: a Numba type ``Vec`` that is an LLVM vector of W
floats, and the few operations kernels need on it.

Kernels are compiled without reassociation (``kernels.config``): LLVM may not
change the order of floating-point operations, so a kernel's results are
defined by its source alone, whatever the compiler decides (and a freshly
compiled kernel rounds exactly as one loaded from Numba's cache).  Without
reassociation LLVM does not vectorise a sum, so the sums and maxima of the
kernels are written with these vectors: each lane accumulates its own
elements in order, and ``vsum`` adds the lanes in a fixed tree.  The width is
part of the source too (``LANES``), so results are the same on AVX2 and on
AVX-512 machines (LLVM splits a vector wider than the registers).

Operations: ``vsplat(x, w)`` (w copies of x); ``vload(a, i, w)`` (elements i:i+w
of a contiguous 1-D array; the caller keeps i+w within it); ``vadd``;
``vfma(a, b, c)`` = a*b+c rounded once (``fma`` the same on scalars); ``vmax``; ``vsum(v)``, ``vmaxall(v)``
(lanes combined in a fixed tree).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.datamodel import models, register_default
from numba.core.errors import TypingError
from numba.extending import intrinsic

LANES = 16
"""Width of the kernels' vectors (one AVX-512 register of float32)."""


class Vec(types.Type):
    """An LLVM vector of ``width`` elements of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype, width):
        self.dtype, self.width = dtype, width
        super().__init__(name=f"Vec({dtype}, {width})")


@register_default(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.width))


def _width(w):
    if not isinstance(w, types.IntegerLiteral):
        raise TypingError("the vector width must be a constant integer")
    return w.literal_value


@intrinsic(prefer_literal=True)
def vsplat(typingctx, x, w):
    vec = Vec(x, _width(w))

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(vec)
        v = builder.insert_element(ir.Constant(ty, ir.Undefined), args[0], ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), vec.width), None))

    return vec(x, w), codegen


def _pointer(context, builder, aryty, ary, index, vec):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [index]), context.get_value_type(vec).as_pointer())


@intrinsic(prefer_literal=True)
def vload(typingctx, a, i, w):
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"):
        raise TypingError("vload needs a contiguous 1-D array")
    vec = Vec(a.dtype, _width(w))

    def codegen(context, builder, signature, args):
        return builder.load(_pointer(context, builder, a, args[0], args[1], vec), align=1)

    return vec(a, i, w), codegen


def _binary(op):
    @intrinsic
    def fn(typingctx, a, b):
        if not (isinstance(a, Vec) and a == b):
            raise TypingError(f"{op} needs two vectors of one type")

        def codegen(context, builder, signature, args):
            return getattr(builder, op)(*args)

        return a(a, b), codegen
    return fn


vadd = _binary("fadd")


def _fma(name: str):
    """Code calling the LLVM intrinsic ``name`` (a fused multiply-add) on the three arguments."""
    def codegen(context, builder, signature, args):
        ty = args[0].type
        return builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), name), args)
    return codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vec) and a == b == c):
        raise TypingError("vfma needs three vectors of one type")
    return a(a, b, c), _fma(f"llvm.fma.v{a.width}f{32 if a.dtype == types.float32 else 64}")


@intrinsic
def fma(typingctx, a, b, c):
    if not (isinstance(a, types.Float) and a == b == c):
        raise TypingError("fma needs three floats of one type")
    return a(a, b, c), _fma(f"llvm.fma.f{32 if a == types.float32 else 64}")


@intrinsic
def vmax(typingctx, a, b):
    if not (isinstance(a, Vec) and a == b):
        raise TypingError("vmax needs two vectors of one type")

    def codegen(context, builder, signature, args):
        x, y = args
        return builder.select(builder.fcmp_ordered(">", x, y), x, y)

    return a(a, b), codegen


def _reduce(op):
    @intrinsic
    def fn(typingctx, v):
        if not isinstance(v, Vec) or v.width & (v.width - 1):
            raise TypingError("needs a vector of a power-of-two width")

        def codegen(context, builder, signature, args):
            x = args[0]
            width = v.width
            i32 = ir.IntType(32)
            while width > 1:  # the upper half onto the lower half, lane by lane: a fixed tree
                width //= 2
                lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, width), list(range(width))))
                hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(i32, width),
                                                              list(range(width, 2 * width))))
                x = builder.fadd(lo, hi) if op == "sum" else builder.select(builder.fcmp_ordered(">", lo, hi), lo, hi)
            return builder.extract_element(x, ir.Constant(i32, 0))

        return v.dtype(v), codegen
    return fn


vsum, vmaxall = _reduce("sum"), _reduce("max")
