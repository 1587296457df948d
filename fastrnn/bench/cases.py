"""Benchmark cases: ``make(contender, case)`` returns a function doing one unit of work.

Cases: ``simple_step`` (one SimpleRnnlm training step: forward, backward, clip, SGD;
V=10000, D=H=100, N=20, T=35), ``rnn_small`` and ``rnn_large`` (TimeRNN forward +
backward at N=20, T=35, D=H=100 and N=128, T=35, D=H=512).
"""
import numpy as np

CASES = {
    "simple_step": dict(V=10000, D=100, H=100, N=20, T=35),
    "rnn_small": dict(N=20, T=35, D=100, H=100),
    "rnn_large": dict(N=128, T=35, D=512, H=512),
}
LR, MAX_GRAD = 0.1, 0.25


def _step_data(rng, V, N, T):
    return rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))


def _rnn_data(rng, N, T, D, H):
    f = np.float32
    return ((rng.standard_normal((N, T, D))).astype(f), (rng.standard_normal((N, T, H))).astype(f),
            (rng.standard_normal((D, H)) / np.sqrt(D)).astype(f), (rng.standard_normal((H, H)) / np.sqrt(H)).astype(f),
            np.zeros(H, f))


def _fastrnn(case, p, rng):
    from fastrnn.optimizer import SGD
    from fastrnn.time_layers import TimeRNN
    from fastrnn.util import clip_grads

    if case == "simple_step":
        from fastrnn import SimpleRnnlm
        np.random.seed(0)
        model, opt = SimpleRnnlm(p["V"], p["D"], p["H"]), SGD(LR)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"])

        def step():
            model.forward(xs, ts)
            model.backward()
            clip_grads(model.grads, MAX_GRAD)
            opt.update(model.params, model.grads)
        return step
    xs, dhs, Wx, Wh, b = _rnn_data(rng, p["N"], p["T"], p["D"], p["H"])
    layer = TimeRNN(Wx, Wh, b)
    return lambda: (layer.forward(xs), layer.backward(dhs))


def _numpy(case, p, rng):
    from . import numpy_design as nd

    if case == "simple_step":
        model = nd.SimpleRnnlm(p["V"], p["D"], p["H"], rng)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"])

        def step():
            model.forward(xs, ts)
            model.backward()
            nd.clip_and_sgd(model.params, model.grads, MAX_GRAD, LR)
        return step
    xs, dhs, Wx, Wh, b = _rnn_data(rng, p["N"], p["T"], p["D"], p["H"])
    layer = nd.TimeRNN(Wx, Wh, b)
    return lambda: (layer.forward(xs), layer.backward(dhs))


def _torch(case, p, rng):
    import torch

    if case == "simple_step":
        V, D, H = p["V"], p["D"], p["H"]
        emb, rnn, lin = torch.nn.Embedding(V, D), torch.nn.RNN(D, H, batch_first=True), torch.nn.Linear(H, V)
        params = [*emb.parameters(), *rnn.parameters(), *lin.parameters()]
        opt = torch.optim.SGD(params, lr=LR)
        xs, ts = (torch.from_numpy(a) for a in _step_data(rng, V, p["N"], p["T"]))
        state = [torch.zeros(1, p["N"], H)]

        def step():
            out, h = rnn(emb(xs), state[0])
            state[0] = h.detach()
            loss = torch.nn.functional.cross_entropy(lin(out).reshape(-1, V), ts.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD)
            opt.step()
        return step
    xs, dhs, Wx, Wh, b = _rnn_data(rng, p["N"], p["T"], p["D"], p["H"])
    rnn = torch.nn.RNN(p["D"], p["H"], batch_first=True)
    x, d = torch.from_numpy(xs).requires_grad_(), torch.from_numpy(dhs)

    def fb():
        out, _ = rnn(x)
        out.backward(d)
    return fb


CONTENDERS = {"fastrnn": _fastrnn, "torch": _torch, "numpy": _numpy}


def make(contender: str, case: str, seed: int = 0):
    return CONTENDERS[contender](case, CASES[case], np.random.default_rng(seed))
