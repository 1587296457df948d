"""One busy thread pool at a time: Numba's.

Every matrix product of fastrnn runs as tiles inside a Numba ``prange`` loop,
each tile a single-threaded BLAS call (SciPy's BLAS, the one Numba calls);
``blas_in_kernel`` holds BLAS to one thread meanwhile, or BLAS would start its
own threads on top of Numba's.  Two pools taking turns on the same cores cost
dearly here: BLAS worker threads keep spinning after a product and slowed the
Numba kernel that followed by a factor of up to 1.5.

An OpenMP pool that spins after a parallel region (libgomp's default) likewise
steals the cores from whatever runs next, such as NumPy's BLAS in the user's
own code: a 0.1 ms product took 8 ms right after a kernel.  Unless the user has
set ``OMP_WAIT_POLICY``, fastrnn sets it to ``PASSIVE`` before Numba starts
its OpenMP pool; waking the pool then costs about 20 microseconds a kernel.
"""
import os

USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
"""What the user set, if anything (benchmarks restore it for other libraries)."""
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS Numba calls before looking for it)
from threadpoolctl import ThreadpoolController

_controller = None


def blas_in_kernel():
    """Context manager: every loaded BLAS runs on one thread until it exits."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
