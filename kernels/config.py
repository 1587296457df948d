"""Compilation options shared by every kernel: the one place they are set.

fastmath is limited to flags that do not assume finite values (no ``nnan`` or
``ninf``): reassociation lets LLVM vectorise reductions, contraction allows FMA.
All kernels are cached on disk so a second process does not compile again.
"""

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
"""Options of serial kernels."""

PJIT = dict(JIT, parallel=True)
"""Options of kernels with a ``prange`` loop."""

ROW_TILE = 16
"""Largest batch tile of the recurrent kernels.  Tiles depend on the batch size
only, never on the thread count, so results do not depend on the thread count."""
