"""Benchmark cases: ``make(contender, case)`` returns a function doing one unit of work.

Model cases time one training step (forward, backward, clip, SGD) of a language
model, N=20, T=35, V=10000: ``simple_step`` (SimpleRnnlm, D=H=100),
``rnnlm_step`` (Rnnlm, LSTM, D=H=100) and ``better_step`` (BetterRnnlm: two LSTM
layers of 650, dropout 0.5, output weight tied to the embedding).  Larger
vocabularies: ``better_50k`` (the same at V=50,000) and the adaptive softmax
(div value 4; ``adaptive_10k`` and ``adaptive_250k``, fastrnn's default
cutoffs, 2000 and 2000, 10000, 50000; ``adaptive_50k`` and ``adaptive_250k_c2``,
cutoffs 2000 and 10000), whose PyTorch peer is the same model with
``nn.AdaptiveLogSoftmaxWithLoss`` (head bias, untied; fastrnn ties the
shortlist to the embedding) and ``nn.Embedding(sparse=True)``, its gradient as
rows as fastrnn's is (the global norm clipped by hand: ``clip_grad_norm_``
refuses sparse gradients).  Word ids are uniform over the vocabulary, or
Zipf-distributed (``ids="zipf"``: p(rank k) proportional to 1/(k+1), as words
in text; ids are ranks), which puts fewer labels in an adaptive head's
clusters of rare words.  ``better_locked_wd`` is ``better_step`` with its
dropout locked and weight-drop 0.5 (fastrnn alone: read against ``better_step``);
``awd_step`` is AWD-LSTM's PTB model (N=20, T=70, embedding 400, LSTM layers
1150, 1150, 400, tied, every regulariser of ``--model awd``), whose PyTorch peer
is the same model as AWD-LSTM's code makes it (its LSTMs with the masked
weight swapped in each batch).  ``dropout_650`` times a dropout layer's
forward and backward at (20, 35, 650), ratio 0.5: fastrnn's ``TimeDropout``
(its counter-based masks, drawn again in backward), the reference's NumPy
(``np.random.rand`` masks, stored), PyTorch's ``F.dropout``.  Layer cases
time forward + backward of one recurrent layer at N=20 (or 128), T=35.
``recurrent_650`` times the recurrent product of one step of a 650-unit LSTM
alone, (20, 650) @ (650, 2600), as the layer makes it (fastrnn: on the weight
packed once a call, ``kernels.gemm``), and ``large_product``
one large product (700, 650) @ (650, 2600): the roofline the others are read
against.  The ``_bf16`` cases run fastrnn with ``precision="bf16"`` (bfloat16
operands, float32 sums) and PyTorch under ``torch.autocast("cpu",
dtype=torch.bfloat16)`` (NumPy has no such mode).  ``make`` returns None where a contender has no implementation of a
case (the NumPy design has the vanilla RNN only).
"""
import numpy as np

_LM = dict(V=10000, D=100, H=100, N=20, T=35)
_BETTER = dict(_LM, D=650, H=650, model="better")
CASES = {
    "simple_step": dict(_LM, model="simple"),
    "rnnlm_step": dict(_LM, model="rnnlm"),
    "better_step": _BETTER,
    "better_50k": dict(_BETTER, V=50000),
    "adaptive_10k": dict(_BETTER, head="adaptive", cutoffs=None),
    "adaptive_50k": dict(_BETTER, V=50000, head="adaptive", cutoffs=(2000, 10000)),
    "adaptive_250k": dict(_BETTER, V=250000, head="adaptive", cutoffs=None),
    "adaptive_250k_c2": dict(_BETTER, V=250000, head="adaptive", cutoffs=(2000, 10000)),
    "rnn_small": dict(cell="rnn", N=20, T=35, D=100, H=100),
    "rnn_large": dict(cell="rnn", N=128, T=35, D=512, H=512),
    "lstm_small": dict(cell="lstm", N=20, T=35, D=100, H=100),
    "gru_256": dict(cell="gru", N=20, T=35, D=256, H=256),
    "lstm_650": dict(cell="lstm", N=20, T=35, D=650, H=650),
    "recurrent_650": dict(product=(20, 650, 2600), gates=4),
    "large_product": dict(product=(700, 650, 2600)),
    "lstm_650_bf16": dict(cell="lstm", N=20, T=35, D=650, H=650, precision="bf16"),
    "better_step_bf16": dict(_BETTER, precision="bf16"),
    "better_locked_wd": dict(_BETTER, model="better_locked_wd"),
    "dropout_650": dict(dropout=(20, 35, 650)),
    "awd_step": dict(_LM, D=400, H=1150, T=70, model="awd"),
    "awd_step_bf16": dict(_LM, D=400, H=1150, T=70, model="awd", precision="bf16"),
    "large_product_bf16": dict(product=(700, 650, 2600), precision="bf16"),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
LR, MAX_GRAD = 0.1, 0.25
AWD = dict(layers=3, last_size=400, tied=True, dropout_ratio=0.4, input_dropout=0.4, hidden_dropout=0.25,
           locked=True, embed_dropout=0.1, weight_drop=0.5, ar=2.0, tar=1.0)
"""``awd_step``'s RnnLanguageModel keywords (``--model awd``'s)."""


def flops(case: str):
    """Floating-point operations of one call of a layer or product case (None for
    model cases): a layer's six products of (N*T) x (D or H) x G*H, three forward
    and three backward."""
    p = CASES[case]
    if "product" in p:
        M, K, N = p["product"]
        return 2 * M * K * N
    if "cell" not in p:
        return None
    return 2 * p["N"] * p["T"] * GATES[p["cell"]] * p["H"] * (3 * p["D"] + 3 * p["H"])


IDS = ("uniform", "zipf")


def _step_data(rng, V, N, T, ids="uniform"):
    """(xs, ts) (N, T) word ids: uniform over V, or Zipf-distributed ranks."""
    if ids == "uniform":
        return rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    cdf = np.cumsum(1 / np.arange(1, V + 1))
    return tuple(np.minimum(np.searchsorted(cdf, rng.random((N, T)) * cdf[-1], side="right"), V - 1)
                 for _ in range(2))


def _layer_data(rng, cell, N, T, D, H):
    f, G = np.float32, GATES[cell]
    return ((rng.standard_normal((N, T, D))).astype(f), (rng.standard_normal((N, T, H))).astype(f),
            (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(f),
            (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(f), np.zeros(G * H, f))


def _product(rng, M, K, N):
    return (rng.standard_normal((M, K)).astype(np.float32),
            (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32))


def _fastrnn(p, rng, ids):
    from fastrnn import models, time_layers
    from fastrnn._matmul import matmul
    from fastrnn.optimizer import SGD
    from fastrnn.trainer import train_step

    if "dropout" in p:
        layer, xs = time_layers.TimeDropout(0.5, seed=1), rng.standard_normal(p["dropout"]).astype(np.float32)
        return lambda: layer.backward(layer.forward(xs))
    if "product" in p:
        A, B = _product(rng, *p["product"])
        C = np.empty((A.shape[0], B.shape[1]), np.float32)
        if "gates" in p:  # a recurrent step's product, on the weight the layer packs once a call
            from numba import get_num_threads

            from fastrnn.kernels.packed import packed_matmul
            from fastrnn.layers.recurrent import packed

            Bp, G = packed(B, p["gates"]), p["gates"]
            return lambda: packed_matmul(A, Bp, G, C, get_num_threads())
        return lambda: matmul(A, B, out=C, bf16=p.get("precision") == "bf16")
    if "model" in p:
        np.random.seed(0)
        head = {"head": "adaptive", "cutoffs": p["cutoffs"]} if p.get("head") == "adaptive" else {}
        structures = {"better_locked_wd": dict(layers=2, tied=True, dropout_ratio=0.5, locked=True, weight_drop=0.5),
                      "awd": AWD}
        if p["model"] in structures:
            cls, head = models.RnnLanguageModel, {**head, **structures[p["model"]]}
        else:
            cls = {"simple": models.SimpleRnnlm, "rnnlm": models.Rnnlm, "better": models.BetterRnnlm}[p["model"]]
        model, opt = cls(p["V"], p["D"], p["H"], **head, precision=p.get("precision", "fp32")), SGD(LR)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"], ids)
        return lambda: train_step(model, opt, xs, ts, MAX_GRAD, 1)
    xs, dhs, Wx, Wh, b = _layer_data(rng, p["cell"], p["N"], p["T"], p["D"], p["H"])
    cls = {"rnn": time_layers.TimeRNN, "lstm": time_layers.TimeLSTM, "gru": time_layers.TimeGRU}[p["cell"]]
    layer = cls(Wx, Wh, b, precision=p.get("precision", "fp32"))
    return lambda: (layer.forward(xs), layer.backward(dhs))


def _numpy(p, rng, ids):
    from . import numpy_design as nd

    if p.get("precision", "fp32") != "fp32":
        return None
    if "dropout" in p:  # the reference's TimeDropout
        xs = rng.standard_normal(p["dropout"]).astype(np.float32)

        def dropout():
            mask = (np.random.rand(*xs.shape) > 0.5).astype(np.float32) * np.float32(2.0)
            return (xs * mask) * mask
        return dropout
    if "product" in p:  # NumPy's own BLAS, on its own threads
        A, B = _product(rng, *p["product"])
        C = np.empty((A.shape[0], B.shape[1]), np.float32)
        return lambda: np.matmul(A, B, out=C)
    if p.get("model") == "simple":
        model = nd.SimpleRnnlm(p["V"], p["D"], p["H"], rng)
        xs, ts = _step_data(rng, p["V"], p["N"], p["T"], ids)

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


def _torch(p, rng, ids):
    import torch

    fn = _torch_fp32(p, rng, ids)
    if p.get("precision", "fp32") == "fp32":
        return fn

    def autocast():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fn()
    return autocast


def _torch_fp32(p, rng, ids):
    import torch

    recurrent = {"simple": torch.nn.RNN, "rnnlm": torch.nn.LSTM, "rnn": torch.nn.RNN,
                 "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    if "product" in p:
        A, B = (torch.from_numpy(a) for a in _product(rng, *p["product"]))
        C = torch.empty((A.shape[0], B.shape[1]))
        return lambda: torch.mm(A, B, out=C)
    if p.get("model") == "awd":
        return _torch_awd(p, rng, ids)
    if "dropout" in p:
        x = torch.from_numpy(rng.standard_normal(p["dropout"]).astype(np.float32)).requires_grad_()

        def dropout():
            torch.nn.functional.dropout(x, 0.5, training=True).backward(torch.ones_like(x))
        return dropout
    if p.get("model") == "better_locked_wd":
        return None
    if "model" in p:
        V, D, H = p["V"], p["D"], p["H"]
        better = p["model"] == "better"
        kind = torch.nn.LSTM if better else recurrent[p["model"]]
        sparse = p.get("head") == "adaptive"  # untied: the embedding's grad as rows, as fastrnn's
        emb, rnn = torch.nn.Embedding(V, D, sparse=sparse), kind(D, H, batch_first=True,
                                                                 num_layers=2 if better else 1,
                                                                 dropout=0.5 if better else 0.0)
        drop = torch.nn.Dropout(0.5 if better else 0.0)
        if p.get("head") == "adaptive":
            from fastrnn.layers.adaptive import default_cutoffs

            cutoffs = list(p["cutoffs"] or default_cutoffs(V))
            lin = torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value=4.0, head_bias=True)
        else:
            lin = torch.nn.Linear(H, V)
        if better and p.get("head") != "adaptive":
            lin.weight = emb.weight  # weight tying
        params = list(dict.fromkeys([*emb.parameters(), *rnn.parameters(), *lin.parameters()]))
        opt = torch.optim.SGD(params, lr=LR)
        xs, ts = (torch.from_numpy(a) for a in _step_data(rng, V, p["N"], p["T"], ids))
        state = [None]

        def loss_of(h):
            if p.get("head") == "adaptive":
                return lin(h.reshape(-1, H), ts.reshape(-1)).loss
            return torch.nn.functional.cross_entropy(lin(h).reshape(-1, V), ts.reshape(-1))

        def step():
            out, s = rnn(drop(emb(xs)), state[0])
            state[0] = tuple(a.detach() for a in s) if isinstance(s, tuple) else s.detach()
            loss = loss_of(drop(out))
            opt.zero_grad()
            loss.backward()
            if sparse:
                _clip_by_hand(params, MAX_GRAD)
            else:
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


def _clip_by_hand(params, max_norm: float) -> None:
    """Clip the global norm of grads some of which are sparse (``clip_grad_norm_`` refuses those)."""
    grads = [q.grad for q in params if q.grad is not None]
    total = sum(float((g.coalesce().values() if g.is_sparse else g).pow(2).sum()) for g in grads) ** 0.5
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))


def _torch_awd(p, rng, ids):
    """AWD-LSTM's model as its code makes it: embedding dropout on the weight,
    locked dropout masks (N, 1, D), each LSTM's recurrent weight dropped from a raw
    copy and swapped in each batch, AR and TAR, the decoder tied to the embedding."""
    import torch
    import torch.nn.functional as F

    V, D, H, N, T = p["V"], p["D"], p["H"], p["N"], p["T"]
    sizes = [(D, H), (H, H), (H, D)]
    emb, bias = torch.nn.Embedding(V, D), torch.nn.Parameter(torch.zeros(V))
    lstms = [torch.nn.LSTM(i, o, batch_first=True) for i, o in sizes]
    raws = []
    for lstm in lstms:
        raws.append(torch.nn.Parameter(lstm.weight_hh_l0.detach().clone()))
        del lstm.weight_hh_l0
        lstm.weight_hh_l0 = raws[-1] * 1.0
    params = [emb.weight, bias, *raws, *[q for lstm in lstms for q in lstm.parameters()]]
    opt = torch.optim.SGD(params, lr=LR)
    xs, ts = (torch.from_numpy(a) for a in _step_data(rng, V, N, T, ids))
    state = [None] * 3

    def locked(x, ratio):
        return x * x.new_empty((x.shape[0], 1, x.shape[2])).bernoulli_(1 - ratio) / (1 - ratio)

    def step():
        keep = emb.weight.new_empty((V, 1)).bernoulli_(1 - AWD["embed_dropout"]) / (1 - AWD["embed_dropout"])
        x = locked(F.embedding(xs, emb.weight * keep), AWD["input_dropout"])
        for k, lstm in enumerate(lstms):
            lstm.weight_hh_l0 = F.dropout(raws[k], AWD["weight_drop"], training=True)
            raw, s = lstm(x, state[k])
            state[k] = tuple(a.detach() for a in s)
            x = locked(raw, AWD["hidden_dropout"] if k < 2 else AWD["dropout_ratio"])
        loss = F.cross_entropy(F.linear(x, emb.weight, bias).reshape(-1, V), ts.reshape(-1))
        loss = loss + AWD["ar"] * x.pow(2).mean() + AWD["tar"] * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD)
        opt.step()
    return step


CONTENDERS = {"fastrnn": _fastrnn, "torch": _torch, "numpy": _numpy}


def make(contender: str, case: str, seed: int = 0, ids: str = "uniform"):
    """The timed function of ``contender`` for ``case`` (word ids ``ids``, one of
    ``IDS``), or None when it has none."""
    return CONTENDERS[contender](CASES[case], np.random.default_rng(seed), ids)
