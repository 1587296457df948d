"""The learning rate between epochs of ``fastrnn train``, and when to stop early.

``kind`` "none" keeps the rate; "step" divides it by ``decay`` after every
epoch; "plateau" (``better``'s, the book's) validates after every epoch,
keeps the best params, and divides the rate by ``decay`` after ``patience``
epochs without improvement.  A rate below ``min_lr`` stops the run early.
"""
from __future__ import annotations

import math

KINDS = ("none", "plateau", "step")


class Schedule:
    """The schedule of a run's ``ScheduleConfig`` and what it has seen: the best
    validation perplexity and params, every validation perplexity, the epochs
    since the last improvement, whether the run stopped early."""

    def __init__(self, config):
        self.kind, self.decay = config.lr_schedule, config.lr_decay
        self.patience, self.min_lr = config.patience, config.min_lr
        self.best_ppl, self.best, self.valid_ppls = math.inf, None, []
        self.bad_epochs, self.stopped_early = 0, False

    @property
    def validates(self) -> bool:
        """Whether an epoch ends with a validation (``after_epoch`` then takes its perplexity)."""
        return self.kind == "plateau"

    def after_epoch(self, lr: float, ppl: float | None, params: list) -> tuple:
        """(the next epoch's lr, whether ``params`` are the best so far, copied)."""
        if self.kind == "step":
            return lr / self.decay, False
        if self.kind == "none":
            return lr, False
        self.valid_ppls.append(ppl)
        if ppl < self.best_ppl:
            self.best_ppl, self.best, self.bad_epochs = ppl, [p.copy() for p in params], 0
            return lr, True
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.bad_epochs = 0
            return lr / self.decay, False
        return lr, False

    def stops(self, lr: float) -> bool:
        """Whether ``lr`` is below the least the run trains with (then it stops early)."""
        self.stopped_early = self.stopped_early or lr < self.min_lr
        return self.stopped_early

    def state_dict(self) -> dict:
        """What the schedule has seen (``best``: copies of the best params, or None)."""
        return {"best_ppl": self.best_ppl, "valid_ppls": self.valid_ppls, "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best_ppl, self.valid_ppls = state["best_ppl"], list(state["valid_ppls"])
        self.bad_epochs, self.stopped_early = state["bad_epochs"], state["stopped_early"]
        self.best = None if state["best"] is None else [b.copy() for b in state["best"]]
