"""How many steps a run trains: its epochs, ``--max-words`` and ``--max-time``,
the first limit reached ending it.

A time budget becomes a number of steps once, early in the run: after
``PLAN_AT`` steps, the mean time of the steps since ``WARM_UP`` (the first
ones compile and fill caches) prices the steps left, and the evaluations the
run will make (each as ``EVAL_COST`` of a training step per word: a forward
pass without backward or update), the files it will write (each priced as a
checkpoint written then) and a ``MARGIN`` of the budget are set aside.
That number is kept (``Budget.steps``, in the checkpoint and the log), so a
resumed run follows the same schedule, and ``--max-words`` of that many steps'
words repeats the run bit for bit.
"""
from __future__ import annotations

import math

WARM_UP, PLAN_AT = 5, 30
"""Steps before the timed ones; the step after which a time budget is turned into steps."""
EVAL_COST = 0.4
"""The time of evaluating a word, as a share of a training step's time per word."""
MARGIN = 0.02
"""The share of a time budget left unplanned (the machine's noise, the files written)."""


def steps_of_words(words: int, words_per_step: int) -> int:
    """The steps that train at least ``words`` words."""
    return -(-words // words_per_step)


class Budget:
    """The limits of a run: ``total`` steps of its epochs, and of ``max_words``;
    ``max_time`` seconds, turned into ``steps`` by ``plan``."""

    def __init__(self, epoch_steps: int, words_per_step: int, max_words: int | None, max_time: float | None):
        self.max_time, self.words_per_step = max_time, words_per_step
        self.limit = min(epoch_steps, math.inf if max_words is None else steps_of_words(max_words, words_per_step))
        self.steps = None
        """The steps the time budget allows (None: not planned yet, or no time budget)."""
        self.step_s = None
        """The seconds of a step the plan measured."""
        self._timed = None

    @property
    def total(self) -> float:
        """The steps the run trains, as far as known (infinite until a time budget is planned)."""
        if self.max_time is None:
            return self.limit
        return min(self.limit, math.inf if self.steps is None else self.steps)

    def needs_plan(self, done_here: int) -> bool:
        """Whether the run, ``done_here`` steps after it started (or resumed), plans its time budget now."""
        return self.max_time is not None and self.steps is None and done_here == PLAN_AT

    def time_step(self, done_here: int, now: float) -> None:
        """Note the clock after ``done_here`` steps of this process (the timed steps' start)."""
        if done_here == WARM_UP:
            self._timed = now

    def plan(self, done: int, now: float, elapsed: float, eval_words, writes, write_s: float) -> int:
        """``steps``: ``done`` steps plus those that fit in what is left of ``max_time``
        after ``elapsed`` seconds, with ``eval_words(total)`` words of evaluations and
        ``writes(total)`` files of ``write_s`` seconds each set aside (functions of the
        steps the run will make in all). Returns it."""
        step_s = (now - self._timed) / (PLAN_AT - WARM_UP)
        left = self.max_time * (1 - MARGIN) - elapsed
        eval_s_per_word = EVAL_COST * step_s / self.words_per_step

        def cost(more: int) -> float:
            return more * step_s + eval_words(done + more) * eval_s_per_word + writes(done + more) * write_s

        more = max(0, int(left / step_s))
        while more > 0 and cost(more) > left:
            more = int(more * 0.99)
        self.steps, self.step_s = done + more, step_s
        return self.steps
