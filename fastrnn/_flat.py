"""Flat views for the fused elementwise kernels."""
from __future__ import annotations

import numpy as np


def flat(a: np.ndarray):
    """A 1-D view of every element of ``a`` in memory order, or None if ``a`` is not
    contiguous (C or Fortran)."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if a.flags.f_contiguous:
        return a.T.reshape(-1)
    return None


def flat_pair(p: np.ndarray, g: np.ndarray):
    """Flat views of ``p`` and ``g`` with matching element order, or (None, None)."""
    if p.shape == g.shape and p.dtype == g.dtype:
        if p.flags.c_contiguous and g.flags.c_contiguous:
            return p.reshape(-1), g.reshape(-1)
        if p.flags.f_contiguous and g.flags.f_contiguous:
            return p.T.reshape(-1), g.T.reshape(-1)
    return None, None
