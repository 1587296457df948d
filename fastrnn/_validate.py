"""Checks at the public boundary: every array that reaches a kernel passes here first.

Each helper returns the array a kernel may trust (right dtype, C-contiguous)
or raises ``TypeError`` / ``ValueError`` naming the argument and what was
expected.  Word ids are range-checked because a Numba kernel does not check
bounds: an id outside ``[0, V)`` would read or write outside an array.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _shape_text(spec: Sequence) -> str:
    dims = ["*" if d is None else str(d) for d in spec]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def check_shape(shape: tuple, spec: Sequence, name: str) -> None:
    """Raise ValueError unless ``shape`` matches ``spec`` (ints or None for any)."""
    if len(shape) != len(spec) or any(d is not None and d != s for d, s in zip(spec, shape)):
        raise ValueError(f"{name} must have shape {_shape_text(spec)}, got {tuple(shape)}")


def _checked(x, name: str, spec: Sequence, kinds: str, holds: str) -> np.ndarray:
    """``x`` itself once it is a non-empty array of a dtype kind in ``kinds`` and shape ``spec``."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {holds}, got {type(x).__name__}")
    if x.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold {holds}, got dtype {x.dtype}")
    check_shape(x.shape, spec, name)
    if x.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {x.shape}")
    return x


def float_array(x, name: str, spec: Sequence, dtype: np.dtype) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype`` with shape ``spec``; at least one element."""
    return np.ascontiguousarray(_checked(x, name, spec, "fiu", "real numbers"), dtype=dtype)


def id_array(xs, name: str, spec: Sequence, vocab_size: int, ignore: int | None = None) -> np.ndarray:
    """``xs`` as a C-contiguous int64 array of word ids in ``[0, vocab_size)``.

    Values equal to ``ignore`` (when given) are allowed too.
    """
    _checked(xs, name, spec, "iu", "integer word ids")
    bad = (xs < 0) | (xs >= vocab_size)
    if ignore is not None:
        bad &= xs != ignore
    if bad.any():
        allowed = f"[0, {vocab_size})" + ("" if ignore is None else f" or the ignore label {ignore}")
        raise ValueError(f"{name} holds word id {xs[bad].flat[0]}, outside {allowed}")
    return np.ascontiguousarray(xs, dtype=np.int64)


def params_dtype(layer: str, params: Sequence[np.ndarray], names: Sequence[str]) -> np.dtype:
    """The one floating dtype shared by a layer's params."""
    for p, n in zip(params, names):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{layer}: {n} must be a numpy array, got {type(p).__name__}")
        if p.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{layer}: {n} must be float32 or float64, got dtype {p.dtype}")
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1:
        raise TypeError(f"{layer}: params {', '.join(names)} must share one dtype, got "
                        + ", ".join(f"{n} {p.dtype}" for p, n in zip(params, names)))
    return params[0].dtype


def positive(value, name: str) -> float:
    """``value`` as a float, raising unless it is a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def non_negative(value, name: str) -> float:
    """``value`` as a float, raising unless it is a finite number >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def positive_int(value, name: str) -> int:
    """``value`` as an int, raising unless it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def fraction(value, name: str) -> float:
    """``value`` as a float, raising unless it is a number in [0, 1)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not 0.0 <= f < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return f
