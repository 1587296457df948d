"""One busy thread pool at a time: Numba's.

Every matrix product of fastrnn runs as tiles inside a Numba ``prange`` loop,
each tile a single-threaded BLAS call; ``blas_in_kernel`` holds BLAS to one
thread meanwhile, or BLAS would start its own threads on top of Numba's.  Two
pools taking turns on the same cores cost dearly here: BLAS worker threads
keep spinning after a product and slowed the Numba kernel that followed by a
factor of up to 1.5.

Numba's OpenMP threads wait for the next parallel region by spinning, then
sleeping.  libgomp's default spin (300,000 rounds, about 3 ms here) steals the
cores from whatever runs next, such as NumPy's BLAS in the user's own code: a
0.1 ms product took 6-8 ms right after a kernel.  Not spinning at all
(``OMP_WAIT_POLICY=PASSIVE``) makes every region wake sleeping threads, and on
a virtual machine that doubled the time of an LSTM at N=20 (3 -> 6 ms, many
short regions).  Unless the user has set ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT``, fastrnn sets a short spin, ``GOMP_SPINCOUNT`` =
``SPIN_COUNT``, before Numba starts its pool: long enough to bridge the gaps
between the regions of one training step, too short to slow the product.
"""
import os
from contextlib import contextmanager

SPIN_COUNT = 10_000
"""About 0.4 ms of spinning on the development machine (libgomp estimates 0.1 ms)."""
OMP_DEFAULTS = {}
"""The OpenMP settings fastrnn made (benchmarks take them back for other libraries)."""
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    OMP_DEFAULTS["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    os.environ.update(OMP_DEFAULTS)

import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS Numba calls before looking for it)
from threadpoolctl import ThreadpoolController

_blas = None
"""threadpoolctl's controllers of the BLAS libraries loaded when fastrnn first ran a kernel."""


@contextmanager
def blas_in_kernel():
    """Context manager: every loaded BLAS runs on one thread until it exits.

    It sets the thread counts through threadpoolctl's controllers directly:
    ``ThreadpoolController.limit`` took 13 microseconds a call, this 4, and a
    training step makes a dozen calls.
    """
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    saved = [lib.get_num_threads() for lib in _blas]
    for lib in _blas:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_blas, saved):
            lib.set_num_threads(n)
