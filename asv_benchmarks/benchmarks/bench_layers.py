"""Layer and training-step timings of fastrnn (float32)."""
import numpy as np

from .common import Benchmark, rng

try:
    from fastrnn.time_layers import TimeEmbedding, TimeRNN, TimeSoftmaxWithLoss
except ImportError:  # a commit before the layers existed
    TimeRNN = None


class TimeRNNForwardBackward(Benchmark):
    params = [[(20, 35, 100, 100), (128, 35, 512, 512)]]
    param_names = ["N_T_D_H"]

    def setup(self, shape):
        if TimeRNN is None:
            raise NotImplementedError
        self.limit_threads()
        N, T, D, H = shape
        r = rng()
        f = np.float32
        self.xs = r.standard_normal((N, T, D)).astype(f)
        self.dhs = r.standard_normal((N, T, H)).astype(f)
        self.layer = TimeRNN((r.standard_normal((D, H)) / np.sqrt(D)).astype(f),
                             (r.standard_normal((H, H)) / np.sqrt(H)).astype(f), np.zeros(H, f))
        self.time_forward_backward(shape)
        self.flops = 2 * N * T * H * (3 * D + 3 * H)  # multiply-adds of xs@Wx, dWx, dxs (D) and h@Wh, dt@Wh.T, dWh (H)

    def time_forward_backward(self, shape):
        self.layer.forward(self.xs)
        self.layer.backward(self.dhs)

    def track_gflops(self, shape):
        import time
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            self.time_forward_backward(shape)
            best = min(best, time.perf_counter() - start)
        return self.flops / best / 1e9

    track_gflops.unit = "GFLOP/s"


class SoftmaxWithLoss(Benchmark):
    def setup(self):
        if TimeRNN is None:
            raise NotImplementedError
        self.limit_threads()
        r = rng()
        self.xs = r.standard_normal((20, 35, 10000)).astype(np.float32)
        self.ts = r.integers(0, 10000, (20, 35))
        self.layer = TimeSoftmaxWithLoss()
        self.time_forward_backward()

    def time_forward_backward(self):
        self.layer.forward(self.xs, self.ts)
        self.layer.backward()


class OutputHeadForwardBackward(Benchmark):
    """A language model's TimeAffine + TimeSoftmaxWithLoss, fused (V=10000, H=100, N=20, T=35)."""

    def setup(self):
        try:
            from fastrnn.layers.affine import stacked_params
            from fastrnn.layers.head import AffineSoftmaxLoss
            from fastrnn.time_layers import TimeAffine
        except ImportError:  # a commit before the fused head
            raise NotImplementedError
        self.limit_threads()
        r = rng()
        W, b = stacked_params(100, 10000, np.float32)
        W[...] = r.standard_normal((100, 10000)) / 10
        self.hs = r.standard_normal((20, 35, 100)).astype(np.float32)
        self.ts = r.integers(0, 10000, (20, 35))
        self.head = AffineSoftmaxLoss(TimeAffine(W, b), TimeSoftmaxWithLoss())
        self.time_forward_backward()

    def time_forward_backward(self):
        self.head.forward(self.hs, self.ts)
        self.head.backward()


class EmbeddingForwardBackward(Benchmark):
    def setup(self):
        if TimeRNN is None:
            raise NotImplementedError
        self.limit_threads()
        r = rng()
        self.layer = TimeEmbedding(r.standard_normal((10000, 100)).astype(np.float32))
        self.xs = r.integers(0, 10000, (20, 35))
        self.dout = r.standard_normal((20, 35, 100)).astype(np.float32)
        self.time_forward_backward()

    def time_forward_backward(self):
        self.layer.forward(self.xs)
        self.layer.backward(self.dout)


class GatedForwardBackward(Benchmark):
    """TimeLSTM and TimeGRU forward + backward, the cases of ``python -m fastrnn.bench``."""

    params = [["lstm_small", "gru_256", "lstm_650"]]
    param_names = ["case"]

    def setup(self, case):
        try:
            from fastrnn.bench.cases import flops, make
            self.call = make("fastrnn", case)
        except (ImportError, KeyError):  # a commit before the gated cells existed
            raise NotImplementedError
        self.limit_threads()
        self.flops = flops(case)
        self.call()

    def time_forward_backward(self, case):
        self.call()

    def track_gflops(self, case):
        import time
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            self.call()
            best = min(best, time.perf_counter() - start)
        return self.flops / best / 1e9

    track_gflops.unit = "GFLOP/s"
