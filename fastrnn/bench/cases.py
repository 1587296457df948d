"""Benchmark cases: ``make(contender, case)`` returns a function doing one unit of work.

Model cases time one training step (forward, backward, clip, SGD) of a language
model at V=10000, D=H=100, N=20, T=35: ``simple_step`` (SimpleRnnlm) and
``rnnlm_step`` (Rnnlm, LSTM).  Layer cases time forward + backward of one
recurrent layer at N=20 (or 128), T=35.  ``make`` returns None where a
contender has no implementation of a case (the NumPy design has the vanilla
RNN only).
"""
import numpy as np

_LM = dict(V=10000, D=100, H=100, N=20, T=35)
CASES = {
    "simple_step": dict(_LM, model="simple"),
    "rnnlm_step": dict(_LM, model="rnnlm"),
    "rnn_small": dict(cell="rnn", N=20, T=35, D=100, H=100),
    "rnn_large": dict(cell="rnn", N=128, T=35, D=512, H=512),
    "lstm_small": dict(cell="lstm", N=20, T=35, D=100, H=100),
    "gru_256": dict(cell="gru", N=20, T=35, D=256, H=256),
    "lstm_650": dict(cell="lstm", N=20, T=35, D=650, H=650),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
LR, MAX_GRAD = 0.1, 0.25


def flops(case: str):
    """Floating-point operations of one call of a layer case (None for model cases):
    six products of (N*T) x (D or H) x G*H, three forward and three backward."""
    p = CASES[case]
    if "cell" not in p:
        return None
    return 6 * p["N"] * p["T"] * GATES[p["cell"]] * p["H"] * (p["D"] + p["H"])


def _step_data(rng, V, N, T):
    return rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))


def _layer_data(rng, cell, N, T, D, H):
    f, G = np.float32, GATES[cell]
    return ((rng.standard_normal((N, T, D))).astype(f), (rng.standard_normal((N, T, H))).astype(f),
            (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(f),
            (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(f), np.zeros(G * H, f))


def _fastrnn(p, rng):
    from fastrnn import models, time_layers
    from fastrnn.optimizer import SGD
    from fastrnn.util import clip_grads

    if "model" in p:
        np.random.seed(0)
        cls = {"simple": models.SimpleRnnlm, "rnnlm": models.Rnnlm}[p["model"]]
        model, opt = cls(p["V"], p["D"], p["H"]), SGD(LR)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"])

        def step():
            model.forward(xs, ts)
            model.backward()
            clip_grads(model.grads, MAX_GRAD)
            opt.update(model.params, model.grads)
        return step
    xs, dhs, Wx, Wh, b = _layer_data(rng, p["cell"], p["N"], p["T"], p["D"], p["H"])
    cls = {"rnn": time_layers.TimeRNN, "lstm": time_layers.TimeLSTM, "gru": time_layers.TimeGRU}[p["cell"]]
    layer = cls(Wx, Wh, b)
    return lambda: (layer.forward(xs), layer.backward(dhs))


def _numpy(p, rng):
    from . import numpy_design as nd

    if p.get("model") == "simple":
        model = nd.SimpleRnnlm(p["V"], p["D"], p["H"], rng)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"])

        def step():
            model.forward(xs, ts)
            model.backward()
            nd.clip_and_sgd(model.params, model.grads, MAX_GRAD, LR)
        return step
    if p.get("cell") == "rnn":
        xs, dhs, Wx, Wh, b = _layer_data(rng, "rnn", p["N"], p["T"], p["D"], p["H"])
        layer = nd.TimeRNN(Wx, Wh, b)
        return lambda: (layer.forward(xs), layer.backward(dhs))
    return None


def _torch(p, rng):
    import torch

    recurrent = {"simple": torch.nn.RNN, "rnnlm": torch.nn.LSTM, "rnn": torch.nn.RNN,
                 "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    if "model" in p:
        V, D, H = p["V"], p["D"], p["H"]
        emb, rnn, lin = torch.nn.Embedding(V, D), recurrent[p["model"]](D, H, batch_first=True), torch.nn.Linear(H, V)
        params = [*emb.parameters(), *rnn.parameters(), *lin.parameters()]
        opt = torch.optim.SGD(params, lr=LR)
        xs, ts = (torch.from_numpy(a) for a in _step_data(rng, V, p["N"], p["T"]))
        state = [None]

        def step():
            out, s = rnn(emb(xs), state[0])
            state[0] = tuple(a.detach() for a in s) if isinstance(s, tuple) else s.detach()
            loss = torch.nn.functional.cross_entropy(lin(out).reshape(-1, V), ts.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD)
            opt.step()
        return step
    xs, dhs, *_ = _layer_data(rng, p["cell"], p["N"], p["T"], p["D"], p["H"])
    rnn = recurrent[p["cell"]](p["D"], p["H"], batch_first=True)
    x, d = torch.from_numpy(xs).requires_grad_(), torch.from_numpy(dhs)

    def fb():
        out, _ = rnn(x)
        out.backward(d)
    return fb


CONTENDERS = {"fastrnn": _fastrnn, "torch": _torch, "numpy": _numpy}


def make(contender: str, case: str, seed: int = 0):
    """The timed function of ``contender`` for ``case``, or None when it has none."""
    return CONTENDERS[contender](CASES[case], np.random.default_rng(seed))
