"""How the recurrent kernels split a batch: by rows, or by hidden units.

Batch rows are independent, so a kernel normally gives each task a tile of
rows for all T steps (one parallel region a call).  Tiles hold at most
ROW_TILE rows, and a batch of at least two minimal tiles is split in two or
more, so that N=20 does not run on one thread.  A batch of few rows with a
wide cell instead splits every step's work over ranges of hidden units, one
parallel region a step: each thread then reads its share of the recurrent
weight a step, not all of it.

Every element of a recurrent product is one chain of fused multiply-adds in
order (``kernels.gemm``), whichever task makes it, so results depend neither
on the split nor on the thread count: a group of rows gives, bit for bit,
what a process holding only those rows gives (``fastrnn.parallel``).
"""
import numpy as np
from numba import njit

from .config import JIT

ROW_TILE = 64
"""Largest batch tile."""
MIN_ROW_TILE = 8
"""Smallest batch tile worth a task of its own."""
WIDE_WEIGHT = 1 << 20
"""Bytes of a recurrent weight from which a batch of at most two row tiles is
split over hidden units: a weight that does not stay in a core's cache
between steps."""


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
def split(N, chunks, weight, threads):
    """How a kernel over weights packed in ``chunks`` chunks of units splits a
    batch of N rows: (row tiles (count, 2), chunk ranges (count, 2)), one of
    them empty.  Row tiles run all T steps each; chunk ranges split every
    step of all N rows, one range for each of ``threads`` threads.  ``weight``:
    bytes of the recurrent weight a step reads."""
    ntiles, size = batch_tiles(N)
    if ntiles > 2 or weight < WIDE_WEIGHT or chunks < 2 or threads < 2:
        rows = np.empty((ntiles, 2), np.int64)
        for i in range(ntiles):
            rows[i, 0], rows[i, 1] = span(i, size, N)
        return rows, np.empty((0, 2), np.int64)
    return np.empty((0, 2), np.int64), chunk_ranges(chunks, threads)


@njit(**JIT)
def chunk_ranges(chunks, threads):
    """(count, 2) ranges splitting ``chunks`` chunks of units evenly, one for each
    of ``threads`` threads (fewer when there are fewer chunks)."""
    tasks = max(1, min(threads, chunks))
    ranges = np.empty((tasks, 2), np.int64)
    for q in range(tasks):
        ranges[q, 0], ranges[q, 1] = q * chunks // tasks, (q + 1) * chunks // tasks
    return ranges
