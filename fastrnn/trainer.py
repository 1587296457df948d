"""``RnnlmTrainer`` and ``remove_duplicate`` with the reference's semantics."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from tqdm import tqdm

from . import _validate as v
from .util import clip_grads


def _is_transpose(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``b`` is ``a.T``: the same buffer, reversed shape and strides."""
    return (a.ndim == 2 and b.ndim == 2 and b.shape == a.shape[::-1] and b.strides == a.strides[::-1]
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def remove_duplicate(params: Sequence[np.ndarray], grads: Sequence[np.ndarray]):
    """Merge params that are one array (or one the transpose of another, as in weight
    tying), adding the grad of the dropped one (transposed) to the kept one in place.

    Returns new lists; the kept arrays are the originals.
    """
    params, grads = list(params), list(grads)
    i = 0
    while i < len(params):
        j = i + 1
        while j < len(params):
            if params[j] is params[i]:
                grads[i] += grads[j]
            elif _is_transpose(params[i], params[j]):
                grads[i] += grads[j].T
            else:
                j += 1
                continue
            del params[j], grads[j]
        i += 1
    return params, grads


class RnnlmTrainer:
    """Truncated-BPTT training of a stateful language model.

    Batch row i reads ``xs`` and ``ts`` from offset ``i * (len(xs) // batch_size)``,
    wrapping at the end; one time index runs on through every iteration and epoch
    of a ``fit`` call, so each row is a continuous stream.
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
        data_size = len(x)
        jump = data_size // batch_size
        pos = ((np.arange(batch_size) * jump)[:, None] + self.time_idx + np.arange(time_size)) % data_size
        self.time_idx += time_size
        return x[pos], t[pos]

    def fit(self, xs: np.ndarray, ts: np.ndarray, max_epoch: int = 10, batch_size: int = 20,
            time_size: int = 35, max_grad: float | None = None, eval_interval: int | None = 20,
            max_iters: int | None = None, progress: bool = True, on_epoch_end=None) -> None:
        """Train for ``max_epoch`` epochs of ``len(xs) // (batch_size * time_size)``
        iterations (at most ``max_iters`` when given).

        Every ``eval_interval`` iterations the perplexity since the last report is
        appended to ``ppl_list`` (and the iteration count to ``ppl_iters``) and shown:
        on a progress bar per epoch with words per second when ``progress``, else as
        the reference's report line.  ``on_epoch_end(trainer)`` runs after each epoch.
        """
        max_epoch = v.positive_int(max_epoch, "max_epoch")
        batch_size, time_size = v.positive_int(batch_size, "batch_size"), v.positive_int(time_size, "time_size")
        if eval_interval is not None:
            eval_interval = v.positive_int(eval_interval, "eval_interval")
        xs, ts = np.asarray(xs), np.asarray(ts)
        if len(xs) != len(ts):
            raise ValueError(f"xs and ts must have the same length, got {len(xs)} and {len(ts)}")
        iters_per_epoch = len(xs) // (batch_size * time_size)
        if iters_per_epoch < 1:
            raise ValueError(f"{len(xs)} words are too few for batch_size={batch_size}, time_size={time_size}")
        if max_iters is not None:
            iters_per_epoch = min(iters_per_epoch, v.positive_int(max_iters, "max_iters"))
        self.time_idx = 0
        self.ppl_list = []
        self.ppl_iters = []
        self.eval_interval = eval_interval
        model, optimizer = self.model, self.optimizer
        total_loss, loss_count = 0.0, 0
        start_time = time.time()
        for _ in range(max_epoch):
            bar = tqdm(range(iters_per_epoch), desc=f"epoch {self.current_epoch + 1}",
                       disable=not progress, leave=False)
            epoch_start = time.perf_counter()
            for iters in bar:
                batch_x, batch_t = self.get_batch(xs, ts, batch_size, time_size)
                loss = model.forward(batch_x, batch_t)
                model.backward()
                params, grads = remove_duplicate(model.params, model.grads)
                if max_grad is not None:
                    clip_grads(grads, max_grad)
                optimizer.update(params, grads)
                total_loss += loss
                loss_count += 1
                if eval_interval is not None and iters % eval_interval == 0:
                    ppl = float(np.exp(total_loss / loss_count))
                    elapsed = time.time() - start_time
                    words = (iters + 1) * batch_size * time_size / (time.perf_counter() - epoch_start)
                    bar.set_postfix(ppl=f"{ppl:.2f}", words_per_s=f"{words:,.0f}")
                    if not progress:
                        print(f"| epoch {self.current_epoch + 1} |  iter {iters + 1} / {iters_per_epoch} "
                              f"| time {elapsed:.0f}[s] | perplexity {ppl:.2f}")
                    self.ppl_list.append(ppl)
                    self.ppl_iters.append(self.time_idx // time_size)
                    total_loss, loss_count = 0.0, 0
            bar.close()
            self.current_epoch += 1
            if on_epoch_end is not None:
                on_epoch_end(self)

    def plot(self, ylim=None, file_name=None):
        """Plot ``ppl_list`` against the iterations done when each was reported (log
        scale); save to ``file_name`` if given, else show."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(self.ppl_iters, self.ppl_list, marker=".")
        ax.set_yscale("log")
        ax.set_xlabel("iterations")
        ax.set_ylabel("training perplexity")
        ax.grid(True, which="both", alpha=0.3)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if file_name is None:
            plt.show()
        else:
            from .io import atomic_write
            atomic_write(file_name, lambda f: fig.savefig(f, format="png"))
        plt.close(fig)
