"""Settings every fastrnn benchmark shares."""
import numpy as np


class Benchmark:
    """2 threads (the reference machine's cores); compilation happens in setup, never timed."""

    timeout = 600
    processes = 2
    threads = 2

    def limit_threads(self):
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        self._limits = threadpool_limits(self.threads)


def rng():
    return np.random.default_rng(0)
