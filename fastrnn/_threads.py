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
import ctypes
import os
import threading
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
"""(get, set) functions of the thread count of each BLAS library loaded when
fastrnn first ran a kernel."""
_held = threading.local()
"""``on``: whether this thread is inside a ``blas_in_kernel`` context."""


def _openblas_calls(lib):
    """(get, set) of OpenBLAS's own thread-count functions (a call through
    ctypes, under a microsecond), or None when the library lacks them."""
    dll = ctypes.CDLL(lib.filepath)
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_"):
            get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
            put = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, put
    return None


def _controls() -> list:
    """(get, set) of every loaded BLAS: OpenBLAS's own functions where found."""
    controllers = ThreadpoolController().select(user_api="blas").lib_controllers
    calls = []
    for lib in controllers:
        fast = _openblas_calls(lib) if lib.internal_api == "openblas" else None
        calls.append(fast or (lib.get_num_threads, lib.set_num_threads))
    return calls


@contextmanager
def blas_in_kernel():
    """Context manager: every loaded BLAS runs on one thread until it exits.

    Nested contexts cost nothing: only the outermost sets and restores the
    counts, so a recurrent layer's pass or the fused head holds BLAS once
    around all its products.  Only fastrnn's own code runs inside a hold.
    OpenBLAS's counts are set through its own functions (well under a
    microsecond), not threadpoolctl's wrappers (13 microseconds a context).
    """
    global _blas
    if getattr(_held, "on", False):
        yield
        return
    if _blas is None:
        _blas = _controls()
    saved = [get() for get, _ in _blas]
    for _, put in _blas:
        put(1)
    _held.on = True
    try:
        yield
    finally:
        _held.on = False
        for (_, put), n in zip(_blas, saved):
            put(n)
