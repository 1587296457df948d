"""How the recurrent kernels split a batch: by rows, or by hidden units.

Batch rows are independent, so a kernel normally gives each task a tile of
rows for all T steps (one parallel region a call).  A small batch with a wide
cell (N <= ROW_TILE, much work a step) would then run on one thread, so such a
kernel instead splits every step's work over tiles of hidden units, one
parallel region a step.  Tiles depend on the shapes only, never on the thread
count, so results do not depend on the thread count.
"""
from numba import njit

from .config import JIT

ROW_TILE = 64
"""Largest batch tile."""
WIDE_STEP = 1 << 21
"""Multiply-adds of one step's recurrent product (N * H * G*H) from which a
small batch is split over hidden units instead: enough work a step to repay
starting a parallel region a step."""
MAX_UNIT_TILES = 4
MIN_UNIT_TILE = 64


@njit(**JIT)
def batch_tiles(N):
    """Number and size of the row tiles of a batch of N."""
    ntiles = (N + ROW_TILE - 1) // ROW_TILE
    return ntiles, (N + ntiles - 1) // ntiles


@njit(**JIT)
def span(k, size, n):
    """Bounds (start, stop) of tile k of tiles of ``size`` over n."""
    return k * size, min(n, (k + 1) * size)


@njit(**JIT)
def unit_tiles(N, H, G):
    """Number and size of the hidden-unit tiles of a step of a cell with G gates
    (1 tile: split by rows instead)."""
    if N > ROW_TILE or N * H * G * H < WIDE_STEP:
        return 1, H
    count = min(MAX_UNIT_TILES, max(1, H // MIN_UNIT_TILE))
    return count, (H + count - 1) // count
