"""Training steps (N=20, T=35): forward, backward, clip, SGD; the model cases of
``python -m fastrnn.bench`` (V=10000, and larger vocabularies with the full and
the adaptive softmax)."""
from .common import Benchmark, bench_case


class TrainingStep(Benchmark):
    params = [["simple_step", "rnnlm_step", "better_step", "better_step_bf16", "better_50k", "adaptive_10k", "adaptive_50k",
               "adaptive_250k", "adaptive_250k_c2"]]
    param_names = ["case"]

    def setup(self, case):
        self.limit_threads()
        self.step, _ = bench_case(case)

    def time_step(self, case):
        self.step()


class BetterRnnlmStepMemory(Benchmark):
    """Peak resident memory of a process that builds a BetterRnnlm and trains it one step:
    the full softmax at V=10000, the adaptive one at V=250000."""

    params = [["better_step", "adaptive_250k"]]
    param_names = ["case"]

    def peakmem_step(self, case):
        step, _ = bench_case(case)
        step()
