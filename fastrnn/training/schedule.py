"""The learning rate of ``fastrnn train``'s steps, and when to stop early.

``kind`` "none" keeps the rate; "step" divides it by ``decay`` after every
epoch; "plateau" (``better``'s, the book's) validates after every epoch,
keeps the best params, and divides the rate by ``decay`` after ``patience``
epochs without improvement; a rate below ``min_lr`` then stops the run early.
"linear" and "cosine" move the rate step by step from the run's rate down to
``min_lr`` over its steps (``fastrnn.training.budget``): the rate stays for the
first ``PLAN_AT`` steps (a time budget is turned into steps there), then falls
linearly, or as half a cosine, to reach ``min_lr`` after the last step.
"""
from __future__ import annotations

import math

from .budget import PLAN_AT

KINDS = ("none", "plateau", "step", "linear", "cosine")
BY_STEP = ("linear", "cosine")


class Schedule:
    """The schedule of a run's ``ScheduleConfig`` and what it has seen: the best
    validation perplexity and params, every validation perplexity, the epochs
    since the last improvement, whether the run stopped early."""

    def __init__(self, config):
        self.kind, self.decay = config.lr_schedule, config.lr_decay
        self.patience, self.min_lr = config.patience, config.min_lr
        self.best_ppl, self.best, self.valid_ppls = math.inf, None, []
        self.bad_epochs, self.stopped_early = 0, False

    def lr_at(self, lr: float, done: int, total: float) -> float:
        """The rate of the step after ``done`` of ``total`` steps, from the run's ``lr``
        (``BY_STEP`` kinds; the others keep ``lr`` within an epoch)."""
        if self.kind not in BY_STEP or done < PLAN_AT or not math.isfinite(total) or total <= PLAN_AT:
            return lr
        f = (done - PLAN_AT) / (total - PLAN_AT)
        fall = 1 - f if self.kind == "linear" else (1 + math.cos(math.pi * f)) / 2
        return self.min_lr + (lr - self.min_lr) * fall

    @property
    def validates(self) -> bool:
        """Whether an epoch ends with a validation (``after_epoch`` then takes its perplexity)."""
        return self.kind == "plateau"

    def after_epoch(self, lr: float, ppl: float | None, params: list) -> tuple:
        """(the next epoch's lr, whether ``params`` are the best so far, copied)."""
        if self.kind == "step":
            return lr / self.decay, False
        if self.kind in ("none", *BY_STEP):
            return lr, False
        if self.consider(ppl, params):
            self.bad_epochs = 0
            return lr, True
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.bad_epochs = 0
            return lr / self.decay, False
        return lr, False

    def consider(self, ppl: float, params: list) -> bool:
        """Note a validation perplexity of ``params``; whether they are the best so far (then kept, copied)."""
        self.valid_ppls.append(ppl)
        if ppl < self.best_ppl:
            self.best_ppl, self.best = ppl, [p.copy() for p in params]
            return True
        return False

    def stops(self, lr: float) -> bool:
        """Whether ``lr`` is below the least the run trains with (then it stops early)."""
        self.stopped_early = self.stopped_early or (self.kind not in BY_STEP and lr < self.min_lr)
        return self.stopped_early

    def state_dict(self) -> dict:
        """What the schedule has seen (``best``: copies of the best params, or None)."""
        return {"best_ppl": self.best_ppl, "valid_ppls": self.valid_ppls, "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best_ppl, self.valid_ppls = state["best_ppl"], list(state["valid_ppls"])
        self.bad_epochs, self.stopped_early = state["bad_epochs"], state["stopped_early"]
        self.best = None if state["best"] is None else [b.copy() for b in state["best"]]
