"""Thread-count independence and the on-disk kernel cache."""
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from fastrnn import SimpleRnnlm
from fastrnn._threads import SPIN_COUNT
from fastrnn.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from fastrnn.kernels.gemm import BF16
from fastrnn.time_layers import TimeGRU, TimeLSTM, TimeRNN
from fastrnn.util import clip_grads
from support import randn, rnn_params


def _train_steps(threads, precision="fp32"):
    numba.set_num_threads(threads)
    try:
        np.random.seed(0)
        model, opt = SimpleRnnlm(500, 16, 24, precision=precision), SGD(1.0)
        rng = np.random.default_rng(0)
        for _ in range(3):
            xs, ts = rng.integers(0, 500, (150, 7)), rng.integers(0, 500, (150, 7))
            model.forward(xs, ts)
            model.backward()
            clip_grads(model.grads, 0.5)
            opt.update(model.params, model.grads)
        return [p.copy() for p in model.params] + [g.copy() for g in model.grads]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("precision", ["fp32"] + (["bf16"] if BF16 else []))
def test_bit_identical_with_1_and_2_threads(precision):
    for a, b in zip(_train_steps(1, precision), _train_steps(2, precision)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("make", [lambda: SGD(0.1), lambda: Momentum(0.1), lambda: Nesterov(0.1), lambda: AdaGrad(0.1),
                                  lambda: RMSprop(0.1), lambda: Adam(0.01)])
def test_optimizer_kernels_bit_identical_across_threads(make):
    """The parallel elementwise updates (arrays above the kernel threshold, an odd size) and clipping."""
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        rng = np.random.default_rng(0)
        params = [rng.standard_normal((331, 257)).astype(np.float32), rng.standard_normal(40_001).astype(np.float32)]
        opt = make()
        for _ in range(3):
            grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
            clip_grads(grads, 5.0)
            opt.update(params, grads)
        out.append(params)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("cls,gates,N,H", [(TimeRNN, 1, 200, 11), (TimeLSTM, 4, 200, 11), (TimeGRU, 3, 200, 11),  # rows
                                           (TimeLSTM, 4, 17, 11),  # two uneven row tiles
                                           (TimeLSTM, 4, 12, 260), (TimeGRU, 3, 12, 300),
                                           (TimeRNN, 1, 12, 520)])  # hidden units: weights of over 1 MB
@pytest.mark.parametrize("precision", ["fp32"] + (["bf16"] if BF16 else []))
def test_recurrent_layers_bit_identical_across_threads(rng, cls, gates, N, H, precision):
    params = rnn_params(rng, 9, H, np.float32, gates)
    xs, dhs = randn(rng, (N, 5, 9), np.float32), randn(rng, (N, 5, H), np.float32)
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        layer = cls(*params, precision=precision)
        out.append([layer.forward(xs), layer.backward(dhs), *[g.copy() for g in layer.grads]])
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


PROBE = """
import json, numpy as np
import fastrnn
from fastrnn.kernels import bf16, blas, embedding, gates, gemm, gru, head, lstm, optim, rnn, softmax, tiles
from fastrnn.optimizer import SGD
from fastrnn.util import clip_grads
np.random.seed(0)
for cls in (fastrnn.SimpleRnnlm, fastrnn.Rnnlm):
    model = cls(5000, 8, 8)  # embed_W and affine W large enough for the kernels
    xs = np.random.randint(0, 5000, (4, 5))
    model.forward(xs, xs); model.backward(); clip_grads(model.grads, 0.25); SGD(0.1).update(model.params, model.grads)
affine, loss = model.layers[-1], fastrnn.time_layers.TimeSoftmaxWithLoss()  # the layers on their own
loss.forward(affine.forward(np.ones((4, 5, 8), np.float32)), xs); affine.backward(loss.backward())
layer = fastrnn.time_layers.TimeGRU(*(np.ones(s, np.float32) for s in [(3, 9), (3, 9), (9,)]))
layer.forward(np.ones((2, 4, 3), np.float32)); layer.backward(np.ones((2, 4, 3), np.float32))
misses = {}
if gemm.BF16:  # the products of precision="bf16" too
    model.set_precision("bf16")
    model.forward(xs, xs); model.backward()
for mod in (bf16, blas, embedding, gates, gemm, gru, head, lstm, optim, rnn, softmax, tiles):
    for name, obj in vars(mod).items():
        if hasattr(obj, "stats") and obj.signatures:
            misses[name] = sum(obj.stats.cache_misses.values())
print(json.dumps(misses))
"""


@pytest.mark.parametrize("threads", ["2", "1"])
def test_second_process_loads_every_kernel_from_cache(threads):
    env = dict(os.environ, NUMBA_NUM_THREADS=threads)
    runs = [subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]
    misses = json.loads(runs[1].stdout)
    assert {"embedding_gather", "rnn_forward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
            "softmax_cross_entropy", "linear_backward", "head_forward", "head_backward", "sgd_update"} <= set(misses)
    assert all(v == 0 for v in misses.values()), misses


def test_blas_runs_on_one_thread_inside_a_kernel_call_and_as_before_after():
    from threadpoolctl import threadpool_info, threadpool_limits

    from fastrnn._threads import blas_in_kernel

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        assert before and set(before.values()) == {2}
        with blas_in_kernel():
            assert set(blas_threads().values()) == {1}
        assert blas_threads() == before
        with pytest.raises(ZeroDivisionError):
            with blas_in_kernel():
                1 / 0
        assert blas_threads() == before
        with blas_in_kernel():
            with blas_in_kernel():
                assert set(blas_threads().values()) == {1}
            assert set(blas_threads().values()) == {1}  # the inner exit leaves the outer's setting
            with pytest.raises(ZeroDivisionError):
                with blas_in_kernel():
                    1 / 0
            assert set(blas_threads().values()) == {1}
        assert blas_threads() == before


def test_a_training_step_holds_blas_once_a_layer_pass_not_once_a_product(monkeypatch):
    from fastrnn import _threads
    from fastrnn.models import Rnnlm
    from fastrnn.trainer import train_step

    calls = []
    monkeypatch.setattr(_threads, "_blas", [(lambda: 2, calls.append)])
    np.random.seed(0)
    model = Rnnlm(50, 8, 8)
    xs = np.random.randint(0, 50, (4, 5))
    train_step(model, SGD(0.1), xs, xs, 0.25, 1)
    assert calls == [1, 2] * 4  # the LSTM's forward and backward, the fused head's forward and backward


def test_a_users_own_model_keeps_its_blas_threads_in_a_training_step():
    from threadpoolctl import threadpool_info, threadpool_limits

    from fastrnn.trainer import train_step

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []

    class Model:  # the reference's model protocol, in the user's own NumPy
        params, grads = [np.ones(3, np.float32)], [np.ones(3, np.float32)]

        def forward(self, xs, ts):
            seen.append(blas_threads())
            return 1.0

        def backward(self, dout=1):
            seen.append(blas_threads())

    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        train_step(Model(), SGD(0.1), np.zeros((2, 3), int), np.zeros((2, 3), int), None, 1)
    assert seen == [before, before]


OMP_PROBE = "import os, fastrnn; print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize("user,seen", [({}, f"{SPIN_COUNT} None"), ({"OMP_WAIT_POLICY": "PASSIVE"}, "None PASSIVE"),
                                       ({"GOMP_SPINCOUNT": "7"}, "7 None")])
def test_a_short_openmp_spin_unless_the_user_chose(user, seen):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", OMP_PROBE], capture_output=True, text=True, env={**env, **user},
                         check=True)
    assert out.stdout.split() == seen.split()


FIRST_RUN_PROBE = """
import hashlib, json, numpy as np
import fastrnn
from fastrnn.kernels import head, softmax
from fastrnn.layers.head import AffineSoftmaxLoss
from fastrnn.time_layers import TimeAffine, TimeSoftmaxWithLoss
rng = np.random.default_rng(0)
digest = hashlib.sha1()
xs = (rng.standard_normal((7, 10, 3001)) * 4).astype(np.float32)  # rows of blocks and a tail
loss = TimeSoftmaxWithLoss()
digest.update(np.float64(loss.forward(xs, rng.integers(0, 3001, (7, 10)))).tobytes())
digest.update(loss.backward().tobytes())
affine = TimeAffine(rng.standard_normal((16, 3001)).astype(np.float32), np.zeros(3001, np.float32))
fused = AffineSoftmaxLoss(affine, TimeSoftmaxWithLoss(), groups=2)  # the head of a training step
h = rng.standard_normal((20, 9, 16)).astype(np.float32)
digest.update(np.float64(fused.forward(h, rng.integers(0, 3001, (20, 9)))).tobytes())
digest.update(fused.backward(1).tobytes())
for g in affine.grads:
    digest.update(g.tobytes())
misses = sum(sum(k.stats.cache_misses.values()) for k in (softmax.softmax_cross_entropy, head.head_forward,
                                                           head.head_backward))
print(json.dumps({"digest": digest.hexdigest(), "compiled": misses}))
"""


def test_freshly_compiled_kernels_round_as_cached_ones(tmp_path):
    """A process that compiles the kernels into an empty cache gets the very bits a
    process that loads them from that cache gets."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    first, second = (json.loads(subprocess.run([sys.executable, "-c", FIRST_RUN_PROBE], capture_output=True,
                                                text=True, env=env, check=True).stdout) for _ in range(2))
    assert first["compiled"] > 0 and second["compiled"] == 0
    assert first["digest"] == second["digest"]
