"""A benchmark worker process: one contender, one case, timed on request; at the
end it reports its peak resident memory."""
import os
import resource
import time

from .._threads import OMP_DEFAULTS


def _limit_threads(contender: str, threads: int) -> None:
    """Same thread count for all; other libraries get the user's OpenMP settings,
    not the ones importing fastrnn (this module's package) made."""
    from threadpoolctl import threadpool_limits

    if contender != "fastrnn":
        for name in OMP_DEFAULTS:
            os.environ.pop(name, None)
    threadpool_limits(threads)
    if contender == "fastrnn":
        import numba
        numba.set_num_threads(threads)
    if contender == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)


def worker(conn, contender: str, case: str, threads: int, ids: str = "uniform") -> None:
    _limit_threads(contender, threads)
    from .cases import make

    fn = make(contender, case, ids=ids)
    for _ in range(3 if fn else 0):  # compile, allocate, warm caches
        fn()
    conn.send("ready")
    while (calls := conn.recv()) is not None:
        times = []
        for _ in range(calls if fn else 0):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        conn.send(times)
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # MB (Linux counts kB)
