"""``Trainer``, ``RnnlmTrainer`` and ``remove_duplicate`` with the reference's semantics.

Both trainers run one shared training step (``train_step``), which stops a
diverging run (``TrainingDiverged``) before a non-finite value reaches the
params.  Progress goes where it suits: a tqdm bar per epoch when both standard
output and standard error are terminals, else the reference's report lines.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, Sequence

import numpy as np

from . import _validate as v
from . import sparse
from ._elementwise import sgd_
from .training.batches import iters_per_epoch as iters_per_epoch_of
from .training.batches import windows
from .util import clip_grads, perplexity


class TrainingDiverged(FloatingPointError):
    """A loss, gradient norm or param that is not finite.  ``iteration`` counts
    from 1 in the fit call; ``detail`` says what was found."""

    def __init__(self, iteration: int, detail: str):
        self.iteration = iteration
        super().__init__(f"training diverged at iteration {iteration}: {detail} "
                         "(a smaller learning rate or gradient clipping, max_grad, may help)")


def _is_transpose(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b`` is ``a.T``: the same buffer, reversed shape and strides."""
    return (a.ndim == 2 and b.ndim == 2 and b.shape == a.shape[::-1] and b.strides == a.strides[::-1]
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def remove_duplicate(params: Sequence[np.ndarray], grads: Sequence[np.ndarray]):
    """Merge params that are one array (or one the transpose of another, as in weight
    tying), adding the grad of the dropped one (transposed) to the kept one in place.

    Returns new lists; the kept arrays are the originals.  Grads may be
    ``fastrnn.sparse.RowGrad``: two of one param merge into one, and one tied to a
    dense grad is made dense first.
    """
    params, grads = list(params), list(grads)
    i = 0
    while i < len(params):
        j = i + 1
        while j < len(params):
            if params[j] is params[i]:
                grads[i] = sparse.merge(grads[i], grads[j])
            elif _is_transpose(params[i], params[j]):
                grads[i] = sparse.merge(grads[i], sparse.densify(grads[j]).T)
            else:
                j += 1
                continue
            del params[j], grads[j]
        i += 1
    return params, grads


def train_step(model, optimizer, batch_x, batch_t, max_grad: float | None, iteration: int,
               reduce: Callable | None = None, share: float = 1.0, stats: dict | None = None,
               weight_decay: float = 0.0, submit: Callable | None = None) -> float:
    """One update: forward, backward, tied grads merged, clipping, the optimizer.

    A fastrnn language model stepped by a fastrnn optimizer gives its embedding
    gradients as rows (``LanguageModel.sparse_backward``; ``fastrnn.sparse``), the
    same bits at a cost that does not grow with the vocabulary; its ``grads``
    then do not hold them.  ``reduce(grads, loss) -> (grads, loss)``, when given,
    combines the grads and the loss of data-parallel replicas after the backward
    pass, which scales them by this replica's ``share`` of the batch;
    ``submit(grads)``, when given, gets each layer's grads as soon as the backward
    pass has made them final (a fastrnn model's), to start combining them.  Raises
    ``TrainingDiverged`` (before any param changes) when the loss or the
    gradient norm is not finite.  ``weight_decay`` adds that times each param to
    its gradient after clipping (dense gradients then: every row decays).
    Returns the loss (and puts the gradient norm before clipping in
    ``stats["grad_norm"]``, when given and clipping is on).
    """
    loss = model.forward(batch_x, batch_t)
    if getattr(optimizer, "row_grads", False) and hasattr(model, "sparse_backward"):
        grads = model.sparse_backward(share, **({} if submit is None else {"on_final": submit}))
    elif submit is not None:
        model.backward(share, lambda layers: submit([g for layer in layers for g in layer.grads]))
        grads = model.grads
    else:
        model.backward(share) if share != 1.0 else model.backward()
        grads = model.grads
    if reduce is not None:
        grads, loss = reduce(grads, loss * share)
    if not math.isfinite(loss):
        raise TrainingDiverged(iteration, f"the loss is {loss}")
    params, grads = remove_duplicate(model.params, grads)
    if max_grad is not None:
        norm = clip_grads(grads, max_grad)
        if not math.isfinite(norm):
            raise TrainingDiverged(iteration, f"the gradient norm is {norm}")
        if stats is not None:
            stats["grad_norm"] = norm
    if weight_decay:
        grads = [g.densify() if isinstance(g, sparse.RowGrad) else g for g in grads]
        for p, g in zip(params, grads):
            sgd_(g, p, -weight_decay)  # g += weight_decay * p, in place
    optimizer.update(params, grads)
    return loss


def on_terminal() -> bool:
    """Whether both standard output and standard error are terminals."""
    return all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, sys.stderr))


class Report:
    """Where a fit's progress goes: a tqdm bar per epoch (``bar`` True; report
    lines are written above it) or the report lines alone."""

    def __init__(self, progress: bool | None):
        self.bar = on_terminal() if progress is None else bool(progress)
        self._bar = None

    def epoch(self, iterations, desc: str):
        """The iterations of an epoch, shown on a bar when ``bar``."""
        if not self.bar:
            return iterations
        from tqdm import tqdm
        self._bar = tqdm(iterations, desc=desc, leave=False, dynamic_ncols=True)
        return self._bar

    def line(self, text: str, **postfix) -> None:
        """One report line; the postfix values go on the bar."""
        if self._bar is not None:
            self._bar.set_postfix(postfix)
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _fit_sizes(x, t, max_epoch, batch_size, eval_interval) -> tuple:
    max_epoch = v.positive_int(max_epoch, "max_epoch")
    batch_size = v.positive_int(batch_size, "batch_size")
    if eval_interval is not None:
        eval_interval = v.positive_int(eval_interval, "eval_interval")
    if len(x) != len(t):
        raise ValueError(f"x and t must have the same length, got {len(x)} and {len(t)}")
    return max_epoch, batch_size, eval_interval


class Trainer:
    """Mini-batch training of a model on (x, t) examples (the reference's chapter 7-8
    trainer): each epoch draws ``numpy.random.permutation`` of the examples and
    runs ``len(x) // batch_size`` iterations over consecutive batches of it."""

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch: int = 10, batch_size: int = 32, max_grad: float | None = None,
            eval_interval: int | None = 20, progress: bool | None = None) -> None:
        """Every ``eval_interval`` iterations the mean loss since the last report is
        appended to ``loss_list`` and reported."""
        max_epoch, batch_size, eval_interval = _fit_sizes(x, t, max_epoch, batch_size, eval_interval)
        data_size = len(x)
        max_iters = data_size // batch_size
        if max_iters < 1:
            raise ValueError(f"{data_size} examples are too few for batch_size={batch_size}")
        self.eval_interval = eval_interval
        report = Report(progress)
        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            idx = np.random.permutation(np.arange(data_size))
            x, t = x[idx], t[idx]
            try:
                for iters in report.epoch(range(max_iters), f"epoch {self.current_epoch + 1}"):
                    batch = slice(iters * batch_size, (iters + 1) * batch_size)
                    loss = train_step(self.model, self.optimizer, x[batch], t[batch], max_grad,
                                      self.current_epoch * max_iters + iters + 1)
                    total_loss += loss
                    loss_count += 1
                    if eval_interval is not None and iters % eval_interval == 0:
                        avg_loss = total_loss / loss_count
                        report.line(f"| epoch {self.current_epoch + 1} |  iter {iters + 1} / {max_iters} "
                                    f"| time {int(time.time() - start_time)}[s] | loss {avg_loss:.2f}",
                                    loss=f"{avg_loss:.2f}")
                        self.loss_list.append(float(avg_loss))
                        total_loss, loss_count = 0.0, 0
            finally:
                report.close()
            self.current_epoch += 1

    def plot(self, ylim=None, file_name=None) -> None:
        """Plot ``loss_list``; save to ``file_name`` if given, else show."""
        _plot(np.arange(len(self.loss_list)), self.loss_list, f"iterations (x{self.eval_interval})", "loss",
              ylim, file_name)


class RnnlmTrainer:
    """Truncated-BPTT training of a stateful language model.

    Batch row i reads ``xs`` and ``ts`` from offset ``i * (len(xs) // batch_size)``,
    wrapping at the end; one time index runs on through every iteration and epoch
    of a ``fit`` call, so each row is a continuous stream.  ``xs`` may be a
    memory map: a batch reads only its own windows of it.
    """

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.time_idx = None
        self.ppl_list = None
        self.ppl_iters = None
        self.eval_interval = None
        self.current_epoch = 0

    def get_batch(self, x: np.ndarray, t: np.ndarray, batch_size: int, time_size: int):
        """The next (batch_size, time_size) windows of x and t; advances ``time_idx``."""
        batch = windows(x, t, batch_size, self.time_idx, time_size)
        self.time_idx += time_size
        return batch

    def fit(self, xs: np.ndarray, ts: np.ndarray, max_epoch: int = 10, batch_size: int = 20,
            time_size: int = 35, max_grad: float | None = None, eval_interval: int | None = 20,
            max_iters: int | None = None, progress: bool | None = None, on_epoch_end=None) -> None:
        """Train for ``max_epoch`` epochs of ``len(xs) // (batch_size * time_size)``
        iterations (at most ``max_iters`` when given).

        Every ``eval_interval`` iterations the perplexity since the last report is
        appended to ``ppl_list`` (and the iteration count to ``ppl_iters``) and
        reported: the reference's report line, or a progress bar with the
        perplexity and words per second (``progress``; default: on a terminal).
        ``on_epoch_end(trainer)`` runs after each epoch.
        """
        max_epoch, batch_size, eval_interval = _fit_sizes(xs, ts, max_epoch, batch_size, eval_interval)
        time_size = v.positive_int(time_size, "time_size")
        if len(xs) < batch_size * time_size:
            raise ValueError(f"{len(xs)} words are too few for batch_size={batch_size}, time_size={time_size}")
        iters_per_epoch = iters_per_epoch_of(len(xs), batch_size, time_size,
                                             None if max_iters is None else v.positive_int(max_iters, "max_iters"))
        self.time_idx = 0
        self.ppl_list = []
        self.ppl_iters = []
        self.eval_interval = eval_interval
        report = Report(progress)
        total_loss, loss_count, done = 0.0, 0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            epoch_start = time.perf_counter()
            try:
                for iters in report.epoch(range(iters_per_epoch), f"epoch {self.current_epoch + 1}"):
                    batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)
                    loss = train_step(self.model, self.optimizer, batch_x, batch_t, max_grad, done + 1)
                    done += 1
                    total_loss += loss
                    loss_count += 1
                    if eval_interval is not None and iters % eval_interval == 0:
                        ppl = perplexity(total_loss / loss_count)
                        words = (iters + 1) * batch_size * time_size / (time.perf_counter() - epoch_start)
                        report.line(f"| epoch {self.current_epoch + 1} |  iter {iters + 1} / {iters_per_epoch} "
                                    f"| time {int(time.time() - start_time)}[s] | perplexity {ppl:.2f}",
                                    ppl=f"{ppl:.2f}", words_per_s=f"{words:,.0f}")
                        self.ppl_list.append(ppl)
                        self.ppl_iters.append(done)
                        total_loss, loss_count = 0.0, 0
            finally:
                report.close()
            self.current_epoch += 1
            if on_epoch_end is not None:
                on_epoch_end(self)

    def plot(self, ylim=None, file_name=None) -> None:
        """Plot ``ppl_list`` against the iterations done when each was reported (log
        scale); save to ``file_name`` if given, else show."""
        _plot(self.ppl_iters, self.ppl_list, "iterations", "training perplexity", ylim, file_name, log=True)


def _plot(x, y, xlabel: str, ylabel: str, ylim, file_name, log: bool = False) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(x, y, marker=".")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if file_name is None:
        plt.show()
    else:
        from .params_file import atomic_write
        atomic_write(file_name, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
