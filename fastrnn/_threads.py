"""Thread pools: Numba's for the kernels, BLAS's for the large matrix products.

The two pools take turns on the same cores.  An OpenMP pool that spins after a
parallel region (libgomp's default) steals the cores from the BLAS threads
that run next: a 0.1 ms product then took 8 ms here.  Unless the user has set
``OMP_WAIT_POLICY``, fastrnn sets it to ``PASSIVE`` before Numba starts its
OpenMP pool; waking the pool then costs about 20 microseconds a kernel.

The recurrent kernels call BLAS (through SciPy, as Numba does) for each batch
tile inside a ``prange`` loop, so the parallelism is Numba's.  Were BLAS to
start its own threads there too, the cores would be oversubscribed.  Large
products outside kernels keep NumPy's BLAS threads as the user set them.
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
