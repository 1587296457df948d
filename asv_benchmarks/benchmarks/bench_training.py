"""Training steps (V=10000, D=H=100, N=20, T=35): forward, backward, clip, SGD."""
import numpy as np

from .common import Benchmark, rng

try:
    from fastrnn import SimpleRnnlm
    from fastrnn.optimizer import SGD
    from fastrnn.util import clip_grads
except ImportError:
    SimpleRnnlm = None


class SimpleRnnlmStep(Benchmark):
    def setup(self):
        if SimpleRnnlm is None:
            raise NotImplementedError
        self.limit_threads()
        np.random.seed(0)
        self.model = SimpleRnnlm(10000, 100, 100)
        self.opt = SGD(0.1)
        r = rng()
        self.xs, self.ts = r.integers(0, 10000, (20, 35)), r.integers(0, 10000, (20, 35))
        self.time_step()

    def time_step(self):
        self.model.forward(self.xs, self.ts)
        self.model.backward()
        clip_grads(self.model.grads, 0.25)
        self.opt.update(self.model.params, self.model.grads)


class RnnlmStep(Benchmark):
    """One Rnnlm (LSTM) training step at the same sizes, the ``rnnlm_step`` bench case."""

    def setup(self):
        try:
            from fastrnn.bench.cases import make
            self.step = make("fastrnn", "rnnlm_step")
        except (ImportError, KeyError):
            raise NotImplementedError
        self.limit_threads()
        self.step()

    def time_step(self):
        self.step()
