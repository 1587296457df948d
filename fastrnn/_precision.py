"""The precision of a layer's matrix products: ``"fp32"`` (the reference's) or
``"bf16"`` (operands rounded to bfloat16, sums in float32: ``kernels.bf16``).

In ``"bf16"`` only the products change: params, optimizer state, hidden and
cell states, non-linearities, losses and the gradients passed between layers
stay float32.  It needs float32 params and a CPU with AVX512_BF16.
"""
from __future__ import annotations

import platform

import numpy as np

from .kernels.bf16 import ready
from .kernels.gemm import BF16

PRECISIONS = ("fp32", "bf16")


def check(precision, dtype, owner: str) -> str:
    """``precision`` once it is one of PRECISIONS that ``owner``'s params of ``dtype``
    and this CPU can run; else ValueError (or RuntimeError for the CPU)."""
    if precision not in PRECISIONS:
        raise ValueError(f"{owner}: precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    if precision == "bf16":
        if np.dtype(dtype) != np.float32:
            raise ValueError(f"{owner}: precision='bf16' needs float32 params, got {np.dtype(dtype)}")
        if not BF16:
            raise RuntimeError(f"precision='bf16' needs a CPU with AVX512_BF16; this one "
                               f"({platform.processor() or platform.machine()}) has none: use precision='fp32'")
        ready()
    return precision


class Precision:
    """A layer's ``precision`` attribute, checked when set (the layer has ``dtype``)."""

    _precision = "fp32"

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._precision = check(value, self.dtype, type(self).__name__)

    @property
    def bf16(self) -> bool:
        """Whether the products take bfloat16 operands."""
        return self._precision == "bf16"
