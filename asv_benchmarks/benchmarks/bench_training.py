"""Training steps (N=20, T=35, V=10000): forward, backward, clip, SGD; the model cases
of ``python -m fastrnn.bench``."""
from .common import Benchmark, bench_case


class TrainingStep(Benchmark):
    params = [["simple_step", "rnnlm_step", "better_step"]]
    param_names = ["case"]

    def setup(self, case):
        self.limit_threads()
        self.step, _ = bench_case(case)

    def time_step(self, case):
        self.step()


class BetterRnnlmStepMemory(Benchmark):
    """Peak resident memory of a process that builds a BetterRnnlm and trains it one step."""

    def peakmem_better_step(self):
        step, _ = bench_case("better_step")
        step()
