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
    """The schedule of a run's settings ``s`` and what it has seen: the best
    validation perplexity and params, every validation perplexity, the epochs
    since the last improvement, whether the run stopped early."""

    def __init__(self, s: dict):
        self.kind = s.get("lr_schedule", "plateau" if s["model"] == "better" else "none")
        self.decay, self.patience, self.min_lr = s.get("lr_decay", 4.0), s.get("patience", 1), s.get("min_lr", 0.0)
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

    def document(self) -> tuple:
        """(JSON-ready state, named arrays: the best params) for a checkpoint."""
        doc = {"best_ppl": None if math.isinf(self.best_ppl) else self.best_ppl, "valid_ppls": self.valid_ppls,
               "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early}
        return doc, {f"best_{i}": b for i, b in enumerate(self.best or [])}

    def restore(self, doc: dict, arrays: dict) -> None:
        """The state ``document`` gave (a checkpoint of an older fastrnn lacks some: their start values)."""
        self.best_ppl = math.inf if doc["best_ppl"] is None else doc["best_ppl"]
        self.valid_ppls = doc["valid_ppls"]
        self.bad_epochs, self.stopped_early = doc.get("bad_epochs", 0), doc.get("stopped_early", False)
        best = sorted((k for k in arrays if k.startswith("best_")), key=lambda k: int(k[5:]))
        self.best = [arrays[k].copy() for k in best] or None
