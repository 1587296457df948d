"""Layer timings of fastrnn (float32, and bfloat16 products: the ``_bf16`` cases)."""
import numpy as np

from .common import Benchmark, best_gflops, bench_case, rng

try:
    from fastrnn.time_layers import TimeEmbedding, TimeSoftmaxWithLoss
except ImportError:  # a commit before the layers existed
    TimeEmbedding = None


class LayerForwardBackward(Benchmark):
    """Forward + backward of the recurrent layers: the layer cases of ``python -m fastrnn.bench``."""

    params = [["rnn_small", "rnn_large", "lstm_small", "gru_256", "lstm_650", "lstm_650_bf16"]]
    param_names = ["case"]

    def setup(self, case):
        self.limit_threads()
        self.call, self.flops = bench_case(case)

    def time_forward_backward(self, case):
        self.call()

    def track_gflops(self, case):
        return best_gflops(self.call, self.flops)

    track_gflops.unit = "GFLOP/s"


class Products(Benchmark):
    """The recurrent product of a 650-unit LSTM step, (20, 650) @ (650, 2600), as the layer
    makes it, and the large product its rate is read against (float32 and bfloat16)."""

    params = [["recurrent_650", "large_product", "large_product_bf16"]]
    param_names = ["case"]

    def setup(self, case):
        self.limit_threads()
        self.call, self.flops = bench_case(case)

    def track_gflops(self, case):
        return best_gflops(self.call, self.flops, repeat=20)

    track_gflops.unit = "GFLOP/s"


class SoftmaxWithLoss(Benchmark):
    def setup(self):
        if TimeEmbedding is None:
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
        if TimeEmbedding is None:
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
