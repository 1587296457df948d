"""Adaptive softmax over every time step: ``TimeAdaptiveSoftmaxWithLoss`` (Grave et
al. 2017, "Efficient softmax approximation for GPUs"; the interface of PyTorch's
``nn.AdaptiveLogSoftmaxWithLoss``).

Words are ranked by frequency: ``order[k]`` is the id of the k-th most frequent
word (by default the ids are the ranks).  Cutoffs ``c_0 < c_1 < ... < c_{C-1} < V``
split the ranks into a shortlist ``[0, c_0)`` and C clusters ``[c_i, c_{i+1})``
(``c_C = V``).  The head scores the shortlist's words and one entry a cluster,
``x @ W + b`` (column ``c_0 + i`` for cluster i); cluster i scores its words
through a narrower projection, ``(x @ P_i) @ W_i`` with ``P_i`` (D, d_i).  Then

    log p(w) = log softmax(head)[rank(w)]                                  (shortlist)
    log p(w) = log softmax(head)[c_0 + i] + log softmax(tail_i)[rank(w) - c_i]   (cluster i)

is a distribution over all V words, so the loss, ``-log p(t)`` averaged, is a
true cross-entropy and its exponential a true perplexity.  Each part is a fused
softmax (``SoftmaxPart``): its scores are made tile by tile in cache and never
stored, and a cluster is computed only for the rows whose labels fall in it.
"""
from __future__ import annotations

import numpy as np

from .. import _groups
from .. import _validate as v
from .._matmul import matmul
from .._precision import Precision
from .._threads import blas_in_kernel
from ..kernels.embedding import embedding_gather
from ..sparse import RowGrad
from .affine import _stack, stacked_params
from .embedding import zeros_like
from .head import SoftmaxPart
from .loss import check_labels

FIRST_CUTOFF, CUTOFF_STEP = 2000, 5
"""``default_cutoffs``: 2000, 10000, 50000, ... below V."""


def default_cutoffs(V: int) -> list:
    """The cutoffs fastrnn chooses for V words: 2000 * 5**k for every k that
    stays below V (2000 and 10000 for 50,000 words), or V // 5 (at least 1) for
    a vocabulary of at most 2000 words."""
    V = v.positive_int(V, "vocab_size")
    if V < 2:
        raise ValueError("an adaptive softmax needs a vocabulary of at least 2 words (a shortlist and a cluster)")
    cutoffs, c = [], FIRST_CUTOFF
    while c < V:
        cutoffs.append(c)
        c *= CUTOFF_STEP
    return cutoffs or [max(1, V // 5)]


def check_cutoffs(cutoffs, V: int) -> list:
    """``cutoffs`` as a list of ints: at least one, increasing, each in [1, V)."""
    try:
        values = list(cutoffs)
    except TypeError:
        raise TypeError(f"cutoffs must be a sequence of integers, got {cutoffs!r}") from None
    if not values:
        raise ValueError("cutoffs must hold at least one cutoff (the shortlist's size)")
    for c in values:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"cutoffs must be integers, got {c!r}")
    if any(not 0 < c < V for c in values):
        raise ValueError(f"cutoffs must lie in [1, {V}) for a vocabulary of {V} words, got {values}")
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"cutoffs must be increasing, got {values}")
    return [int(c) for c in values]


def tail_widths(D: int, clusters: int, div_value: float) -> list:
    """d_i = D // div_value**(i+1) (PyTorch's), at least 1, of each cluster's projection."""
    div = v.positive(div_value, "div_value")
    if div <= 1:
        raise ValueError(f"div_value must be > 1 (each cluster projects to a narrower width), got {div_value!r}")
    return [max(1, int(D // div ** (i + 1))) for i in range(clusters)]


def check_order(order, V: int) -> np.ndarray:
    """``order`` as an int64 permutation of range(V) (None: the identity)."""
    if order is None:
        return np.arange(V, dtype=np.int64)
    order = v.id_array(order, "order", (V,), V)
    if np.bincount(order, minlength=V).max() != 1:
        raise ValueError(f"order must be a permutation of the {V} word ids (each exactly once)")
    return order


def frequency_order(counts) -> np.ndarray:
    """Word ids from the most to the least frequent (ties: the smaller id first)."""
    counts = np.asarray(counts)
    return np.argsort(-counts.astype(np.int64), kind="stable")


def adaptive_params(D: int, V: int, cutoffs, div_value: float = 4.0, dtype="f", tied: bool = False) -> tuple:
    """(W, b, tails) of a new adaptive head, drawn from NumPy's global generator:
    W (D, c_0 + C) at scale 1/sqrt(D) (tied: (D, C), the clusters' columns, at
    the tied embedding's scale 1/100), b zeros (c_0 + C,), each cluster's
    P_i (D, d_i) at 1/sqrt(D) and W_i (d_i, c_{i+1} - c_i) at 1/sqrt(d_i)."""
    cutoffs = check_cutoffs(cutoffs, V)
    C = len(cutoffs)
    widths = tail_widths(D, C, div_value)
    rn = np.random.randn
    if tied:
        W, b = (rn(D, C) / 100).astype(dtype), np.zeros(cutoffs[0] + C, dtype)
    else:
        W, b = stacked_params(D, cutoffs[0] + C, dtype)  # [W; b] in one array: no copy a forward
        W[...] = rn(D, cutoffs[0] + C) / np.sqrt(D)
    bounds = cutoffs + [V]
    tails = [((rn(D, d) / np.sqrt(D)).astype(dtype), (rn(d, bounds[i + 1] - bounds[i]) / np.sqrt(d)).astype(dtype))
             for i, d in enumerate(widths)]
    return W, b, tails


class TimeAdaptiveSoftmaxWithLoss(Precision):
    """Adaptive softmax and its cross-entropy: ``forward(h (N, T, D), ts (N, T)) -> loss``,
    ``backward(dout=1) -> dh (N, T, D)``, ``log_prob(h) -> (N, T, V)`` (in id order).

    ``W`` (D, c_0 + C) and ``b`` (c_0 + C,) are the head's, ``tails`` a pair
    ``(P_i (D, d_i), W_i (d_i, c_{i+1} - c_i))`` a cluster, ``cutoffs`` the C
    values ``c_0 < ... < c_{C-1}`` (V is c_{C-1} plus the last cluster's width),
    ``order`` the ids by falling frequency (None: ids are ranks).  With ``tied``
    (V, D), an embedding matrix, the shortlist's columns are its rows
    ``tied[order[:c_0]]`` and W (D, C) holds the clusters' columns alone.

    ``params`` are ``[W, b, P_1, W_1, ...]``, or ``[tied, W, b, P_1, W_1, ...]``
    whose first grad is a (V, D) array nonzero at the shortlist's rows alone
    (``remove_duplicate`` adds it to the embedding's, as the reference does for
    weight tying).  Labels equal to ``ignore_label`` (default -1) count neither
    in the loss nor in its mean.  With ``groups`` G the batch's rows are G
    groups (``fastrnn._groups``) computed each on its own, their weight
    gradients added in group order.  ``precision="bf16"``: every product takes
    bfloat16 operands (``fastrnn._precision``).
    """

    groups = 1
    """Groups of batch rows whose gradients are summed each on its own."""
    row_grads = False
    """Whether ``backward`` makes ``row_grad`` (a RowGrad of the tied rows) instead of writing the tied grad."""

    def __init__(self, W: np.ndarray, b: np.ndarray, tails, cutoffs, order=None, tied: np.ndarray | None = None, *,
                 precision: str = "fp32"):
        tails, self.dtype, self.cutoffs = _checked(type(self).__name__, W, b, tails, cutoffs, tied)
        self.precision = precision
        D, C, c0 = W.shape[0], len(tails), self.cutoffs[0]
        V = self.cutoffs[-1] + tails[-1][1].shape[1]
        bounds = self.cutoffs + [V]
        self.order = check_order(order, V)
        self.rank = np.empty(V, np.int64)
        self.rank[self.order] = np.arange(V)
        self.vocab_size, self.tied = V, tied
        self.ignore_label = -1
        self._bounds = np.array(bounds, np.int64)
        dWb = np.zeros((D + 1, c0 + C), self.dtype)
        self._dWb = dWb
        tail_params = [a for pair in tails for a in pair]
        tail_grads = [np.zeros_like(a) for a in tail_params]
        if tied is None:
            self.params, self.grads = [W, b, *tail_params], [dWb[:D], dWb[D], *tail_grads]
        else:
            self.params, self.grads = [tied, W, b, *tail_params], [zeros_like(tied), dWb[:D, c0:], dWb[D], *tail_grads]
            shortlist = self.order[:c0]
            self._tied_perm = np.argsort(shortlist)  # the shortlist's columns in the order of their rows
            self._tied_rows = shortlist[self._tied_perm]
        self._Wb = None
        self._parts = {}
        self._cache = None
        self.row_grad = None

    # -- the head's weight ------------------------------------------------------------

    @property
    def _tails(self) -> list:
        """(P_i, W_i, dP_i, dW_i) of each cluster."""
        k = 3 if self.tied is not None else 2
        p, g = self.params[k:], self.grads[k:]
        return [(p[2 * i], p[2 * i + 1], g[2 * i], g[2 * i + 1]) for i in range(len(p) // 2)]

    def _head_weight(self) -> np.ndarray:
        """[W; b] (D + 1, c_0 + C) of the head: a view of the params when they are
        stacked, else a copy in a kept buffer (tied: the shortlist's embedding
        rows gathered as its columns)."""
        if self.tied is None:
            W, b = self.params[:2]
            Wb = _stack(W, b)
            if Wb is not None:
                return Wb
        if self._Wb is None:  # F-ordered: a column is a contiguous row of the embedding
            self._Wb = np.empty(self._dWb.shape, self.dtype, order="F")
        Wb, c0, D = self._Wb, self.cutoffs[0], self._dWb.shape[0] - 1
        if self.tied is None:
            Wb[:D], Wb[D] = self.params[:2]
        else:
            E, W, b = self.params[:3]
            embedding_gather(E, self.order[:c0], Wb.T[:c0, :D])
            Wb[:D, c0:], Wb[D] = W, b
        return Wb

    # -- labels --------------------------------------------------------------------------

    def _labels(self, ts, N: int, T: int, V: int | None = None) -> tuple:
        """Checked labels: (ids (N*T,) int64, the ignore label, count of the others)."""
        return check_labels(ts, N, T, self.vocab_size, self.ignore_label)

    def _targets(self, ts: np.ndarray, valid: np.ndarray) -> tuple:
        """(cluster, head label, cluster label) of each row: cluster -1 for the
        shortlist; labels -1 where not used (an ignored row, a shortlist word's cluster)."""
        rank = np.where(valid, self.rank[np.where(valid, ts, 0)], -1)
        cutoffs = self._bounds[:-1]
        cluster = np.searchsorted(cutoffs, rank, side="right") - 1
        head = np.where(cluster < 0, rank, cutoffs[0] + cluster)
        tail = np.where(cluster >= 0, rank - cutoffs[np.maximum(cluster, 0)], -1)
        return cluster, head, tail

    def _inputs(self, h) -> tuple:
        """([h, 1] (N*T, D + 1), N, T) of h (N, T, D), checked."""
        D = self._dWb.shape[0] - 1
        h = v.float_array(h, "h", (None, None, D), self.dtype)
        N, T, _ = h.shape
        x1 = np.empty((N * T, D + 1), self.dtype)
        x1[:, :D] = h.reshape(N * T, D)
        x1[:, D] = 1
        return x1, N, T

    def _part(self, key) -> SoftmaxPart:
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = SoftmaxPart()
        return part

    # -- forward and backward ----------------------------------------------------------

    def forward(self, h: np.ndarray, ts) -> float:
        """h (N, T, D) hidden states, ts (N, T) labels -> mean of -log p(label)."""
        x1, N, T = self._inputs(h)
        ts, ignore, count = self._labels(ts, N, T)  # every check is done: only now is anything kept
        D = x1.shape[1] - 1
        valid = ts != ignore
        cluster, head_t, tail_t = self._targets(ts, valid)
        scale = 1 / count if count else 0.0
        Wb = self._head_weight()
        loss, groups = 0.0, []
        with blas_in_kernel():
            for g, rows in enumerate(_groups.row_slices(N, T, self.groups)):
                loss += self._part((g, -1)).forward(x1[rows], Wb, head_t[rows], valid[rows], scale, self.bf16)
                tails = []
                for i, (P, Wt, _, _) in enumerate(self._tails):
                    idx = rows.start + np.flatnonzero(cluster[rows] == i)
                    if idx.size == 0:
                        continue
                    xk = x1[idx, :D]
                    pk = matmul(xk, P, bf16=self.bf16)
                    loss += self._part((g, i)).forward(pk, Wt, tail_t[idx], np.ones(idx.size, bool), scale, self.bf16)
                    tails.append((i, idx, xk, pk))
                groups.append((rows, tails))
        self._cache = (x1, Wb, head_t, tail_t, groups, (N, T, D))
        return loss / count if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        """-> dh (N, T, D); writes the grads (a tied head's shortlist rows to
        ``row_grad`` instead when ``row_grads``)."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x1, Wb, head_t, tail_t, groups, (N, T, D) = self._cache
        dout = float(dout)
        dx = np.empty((N * T, D), self.dtype)
        WT = Wb[:D].T
        tails = self._tails
        started = [False] * len(tails)
        with blas_in_kernel():
            for g, (rows, parts) in enumerate(groups):
                self._part((g, -1)).backward(x1[rows], head_t[rows], WT, self._dWb, dx[rows], g > 0, dout)
                for i, idx, xk, pk in parts:
                    P, Wt, dP, dWt = tails[i]
                    dpk = np.empty_like(pk)
                    self._part((g, i)).backward(pk, tail_t[idx], Wt.T, dWt, dpk, started[i], dout)
                    if started[i]:
                        dP += matmul(xk.T, dpk, bf16=self.bf16)
                    else:
                        matmul(xk.T, dpk, out=dP, bf16=self.bf16)
                    dx[idx] += matmul(dpk, P.T, bf16=self.bf16)
                    started[i] = True
        for (_, _, dP, dWt), done in zip(tails, started):
            if not done:  # no row's label fell in this cluster
                dP[...] = 0
                dWt[...] = 0
        if self.tied is not None:
            self._tied_grad()
        return dx.reshape(N, T, D)

    def _tied_grad(self) -> None:
        c0, D = self.cutoffs[0], self._dWb.shape[0] - 1
        columns = self._dWb[:D, :c0].T  # (c0, D): the gradient of the shortlist's embedding rows, in rank order
        if self.row_grads:
            self.row_grad = RowGrad(self._tied_rows, columns[self._tied_perm], self.grads[0])
        else:
            self.grads[0][self.order[:c0]] = columns

    # -- the distribution ---------------------------------------------------------------

    def log_prob(self, h: np.ndarray) -> np.ndarray:
        """h (N, T, D) -> log p (N, T, V) of every word, in id order."""
        x1, N, T = self._inputs(h)
        D, V, c0 = x1.shape[1] - 1, self.vocab_size, self.cutoffs[0]
        out = np.empty((N * T, V), self.dtype)
        with blas_in_kernel():
            head = _log_softmax(matmul(x1, self._head_weight(), bf16=self.bf16))
            out[:, :c0] = head[:, :c0]
            for i, (P, Wt, _, _) in enumerate(self._tails):
                lo, hi = self._bounds[i], self._bounds[i + 1]
                tail = matmul(matmul(x1[:, :D], P, bf16=self.bf16), Wt, bf16=self.bf16)
                out[:, lo:hi] = _log_softmax(tail) + head[:, c0 + i, None]
        if np.any(self.order != np.arange(V)):
            out = out[:, self.rank]  # rank order -> id order
        return out.reshape(N, T, V)


def _checked(name: str, W, b, tails, cutoffs, tied) -> tuple:
    """(tails as (P, W) pairs, the params' dtype, cutoffs) of an adaptive head's
    arrays, once their kinds, ranks and shapes fit each other (else TypeError or
    ValueError naming the argument)."""
    try:
        tails = [tuple(pair) for pair in tails]
    except TypeError:
        raise TypeError(f"{name}: tails must be a sequence of (P, W) pairs of arrays") from None
    if not tails or any(len(pair) != 2 for pair in tails):
        raise ValueError(f"{name}: tails must hold one (P, W) pair of arrays a cluster, got {len(tails)} items")
    arrays = [W, b] + [a for pair in tails for a in pair] + ([] if tied is None else [tied])
    names = ["W", "b"] + [f"tails[{i}][{j}]" for i in range(len(tails)) for j in range(2)] + ["tied"]
    dtype = v.params_dtype(name, arrays, names)
    for a, n in zip(arrays, names):
        if a.ndim != (1 if n == "b" else 2):
            raise ValueError(f"{name}: {n} must have {'1 dimension' if n == 'b' else '2 dimensions'}, "
                             f"got shape {a.shape}")
    D, C = W.shape[0], len(tails)
    cutoffs = check_cutoffs(cutoffs, np.iinfo(np.int64).max)
    if len(cutoffs) != C:
        raise ValueError(f"{name}: cutoffs must hold one value a cluster ({C} tails), got {cutoffs}")
    V = cutoffs[-1] + tails[-1][1].shape[1]
    cutoffs = check_cutoffs(cutoffs, V)
    c0, bounds = cutoffs[0], cutoffs + [V]
    v.check_shape(W.shape, (D, C if tied is not None else c0 + C), f"{name}: W")
    v.check_shape(b.shape, (c0 + C,), f"{name}: b")
    for i, (P, Wt) in enumerate(tails):
        v.check_shape(P.shape, (D, None), f"{name}: tails[{i}][0] (P)")
        v.check_shape(Wt.shape, (P.shape[1], bounds[i + 1] - bounds[i]), f"{name}: tails[{i}][1] (W)")
    if tied is not None:
        v.check_shape(tied.shape, (V, D), f"{name}: tied")
    return tails, dtype, cutoffs


def _log_softmax(S: np.ndarray) -> np.ndarray:
    """log softmax of each row of S, in place."""
    S -= S.max(axis=1, keepdims=True)
    S -= np.log(np.sum(np.exp(S), axis=1, keepdims=True))
    return S
