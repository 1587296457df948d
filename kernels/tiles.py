"""How the recurrent kernels split a batch: by rows, or by hidden units.

Batch rows are independent, so a kernel normally gives each task a tile of
rows for all T steps (one parallel region a call).  Tiles hold at most
ROW_TILE rows, and a batch of at least two minimal tiles is split in two or
more, so that N=20 does not run on one thread: tiles of 10 rows took an LSTM
at N=20, H=100 from 0.88 to 0.53 ms forward, and a GRU at N=20, H=256 from 23
to 15 ms forward and backward (it had been split by hidden units).  A batch
too small to split (N < 2*MIN_ROW_TILE) with a wide cell would run on one
thread, so such a kernel instead splits every step's work over tiles of hidden
units, one parallel region a step.  Tiles depend on the shapes only, never on
the thread count, so results do not depend on the thread count.

A batch may come in groups of rows (``bounds``: group g is rows
``bounds[g]:bounds[g+1]``), each tiled as if it were a batch of its own: a
group then gives the very results, bit for bit, that a process holding only
those rows gives (``fastrnn.parallel``).
"""
import numpy as np
from numba import njit

from .config import JIT

ROW_TILE = 64
"""Largest batch tile."""
MIN_ROW_TILE = 8
"""Smallest batch tile worth a task of its own."""
WIDE_STEP = 1 << 21
"""Multiply-adds of one step's recurrent product (N * H * G*H) from which a
batch too small to split by rows is split over hidden units instead: enough
work a step to repay starting a parallel region a step."""
MAX_UNIT_TILES = 4
MIN_UNIT_TILE = 64


@njit(**JIT)
def batch_tiles(N):
    """Number and size of the row tiles of a batch of N."""
    ntiles = (N + ROW_TILE - 1) // ROW_TILE
    if ntiles == 1 and N >= 2 * MIN_ROW_TILE:
        ntiles = 2
    return ntiles, (N + ntiles - 1) // ntiles


@njit(**JIT)
def span(k, size, n):
    """Bounds (start, stop) of tile k of tiles of ``size`` over n."""
    return k * size, min(n, (k + 1) * size)


@njit(**JIT)
def unit_tiles(H):
    """Number and size of the hidden-unit tiles of a step split over hidden units."""
    count = min(MAX_UNIT_TILES, max(1, H // MIN_UNIT_TILE))
    return count, (H + count - 1) // count


@njit(**JIT)
def row_tiles(bounds, work):
    """Row tiles (count, 2) of the groups that split by rows, each group tiled on
    its own by ``batch_tiles``.  ``work``: multiply-adds of one row's step
    (G*H*H), which decides with the group's size whether a group splits over
    hidden units instead (``unit_tiles``); 0 for a kernel that always splits by rows."""
    count = 0
    for g in range(bounds.size - 1):
        n = bounds[g + 1] - bounds[g]
        if n > 0 and not by_units(n, work):
            count += batch_tiles(n)[0]
    tiles = np.empty((count, 2), np.int64)
    k = 0
    for g in range(bounds.size - 1):
        g0, n = bounds[g], bounds[g + 1] - bounds[g]
        if n > 0 and not by_units(n, work):
            ntiles, size = batch_tiles(n)
            for i in range(ntiles):
                r0, r1 = span(i, size, n)
                tiles[k, 0], tiles[k, 1] = g0 + r0, g0 + r1
                k += 1
    return tiles


@njit(**JIT)
def by_units(N, work):
    """Whether a batch (or group) of N rows splits over hidden units."""
    return batch_tiles(N)[0] == 1 and N * work >= WIDE_STEP


@njit(**JIT)
def unit_groups(bounds, work):
    """Row ranges (count, 2) of the groups that split over hidden units (``by_units``)."""
    count = 0
    for g in range(bounds.size - 1):
        n = bounds[g + 1] - bounds[g]
        if n > 0 and by_units(n, work):
            count += 1
    groups = np.empty((count, 2), np.int64)
    k = 0
    for g in range(bounds.size - 1):
        n = bounds[g + 1] - bounds[g]
        if n > 0 and by_units(n, work):
            groups[k, 0], groups[k, 1] = bounds[g], bounds[g + 1]
            k += 1
    return groups
