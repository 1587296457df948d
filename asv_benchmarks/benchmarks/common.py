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


def bench_case(case):
    """The timed function of a ``python -m fastrnn.bench`` case for fastrnn, called once
    (compiled, warmed), and the case's floating-point operations; NotImplementedError
    at a commit without the case, or for a ``_bf16`` case on a CPU without AVX512_BF16."""
    try:
        from fastrnn.bench.cases import CASES, flops, make
        if CASES[case].get("precision", "fp32") != "fp32":
            from fastrnn.kernels.gemm import BF16
            if not BF16:
                raise NotImplementedError
        call = make("fastrnn", case)
    except (ImportError, KeyError):
        raise NotImplementedError
    call()
    return call, flops(case)


def best_gflops(call, flop, repeat=5):
    import time

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9
