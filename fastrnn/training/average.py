"""The average of the params over a run's last steps, which its evaluations and
kept params then use (``--average``).

"ntasgd" is the non-monotonically triggered averaged SGD of Merity et al.
(2017): averaging starts after the validation check at which the perplexity
is worse than the best of the checks before the last ``nonmono`` ones.  "tail"
starts at a share (``average_from``) of the run's steps, from its epochs or
budget.  Once started, after every step, ``avg += (param - avg) / k`` in
float32 for the k-th averaged step: the same sequence of roundings in every
process and after a resume (the average and k are in the checkpoint); (1/k) is rounded
to float32 first (``kernels.optim.running_mean``).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from ..kernels.optim import running_mean

KINDS = ("none", "ntasgd", "tail")


def _aliases(params: list) -> list:
    """For each param, None, or ``(j, transposed)`` when it is ``params[j]`` itself or
    its transpose (a tied output weight's view of the embedding)."""
    def layout(a):
        return a.ctypes.data, a.shape, a.strides

    found = []
    for i, p in enumerate(params):
        found.append(next(((j, layout(p) != layout(q)) for j, q in enumerate(params[:i])
                           if layout(q) in (layout(p), layout(p.T))), None))
    return found


class Average:
    """The running average of ``params`` of one run (``kind``, ``nonmono``, ``start_share``).
    A param that is another's view (``_aliases``) gets the view of that one's average."""

    def __init__(self, kind: str, nonmono: int, start_share: float):
        self.kind, self.nonmono, self.start_share = kind, nonmono, start_share
        self.arrays, self.count, self.start = None, 0, None
        self.checks = []
        """Every validation perplexity so far (ntasgd's trigger)."""
        self._owners = []
        """Indices of the params that are no other's view: the ones averaged and written."""

    @property
    def active(self) -> bool:
        return self.arrays is not None

    def starts_now(self, done: int, total: float) -> bool:
        """Whether averaging starts with the params after ``done`` of ``total`` steps:
        "tail" at its share of ``total``; "ntasgd" right after a check (``checks``,
        the last one just made) worse than the best before the last ``nonmono``."""
        if self.active or self.kind == "none":
            return False
        if self.kind == "tail":
            return math.isfinite(total) and done >= math.ceil(self.start_share * total)
        n = self.nonmono
        return len(self.checks) > n and self.checks[-1] > min(self.checks[:-n])

    def _hold(self, arrays: list, params: list) -> None:
        """Keep copies of ``arrays`` (aligned with ``params``) as the average, views where the params are views."""
        self.arrays, self._owners = [], []
        for i, (a, alias) in enumerate(zip(arrays, _aliases(params))):
            if alias is None:
                self.arrays.append(np.array(a, copy=True))
                self._owners.append(i)
            else:
                j, transposed = alias
                self.arrays.append(self.arrays[j].T if transposed else self.arrays[j])

    def begin(self, done: int, params: list) -> None:
        self._hold(params, params)
        self.count, self.start = 1, done

    def add(self, params: list) -> None:
        """Take the params after another step into the average."""
        self.count += 1
        w = np.float32(1 / self.count)
        for i in self._owners:
            running_mean(self.arrays[i].reshape(-1), np.ascontiguousarray(params[i]).reshape(-1), w)

    def kept(self, params: list) -> list:
        """The params a run evaluates and keeps: the average once started."""
        return self.arrays if self.active else params

    @contextmanager
    def in_place_of(self, params: list):
        """The average written into ``params`` for the block, the params restored after."""
        if not self.active:
            yield
            return
        saved = {i: params[i].copy() for i in self._owners}
        for i in self._owners:
            params[i][...] = self.arrays[i]
        try:
            yield
        finally:
            for i, s in saved.items():
                params[i][...] = s

    def state_dict(self) -> dict:
        return {"count": self.count, "start": self.start, "checks": self.checks, "arrays": self.arrays}

    def load_state_dict(self, state: dict, params: list) -> None:
        """Take back ``state_dict``'s state for the run's ``params``."""
        self.count, self.start, self.checks = state["count"], state["start"], list(state["checks"])
        if state["arrays"] is None:
            self.arrays, self._owners = None, []
        else:
            self._hold(state["arrays"], params)
