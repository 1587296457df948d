"""One training run of ``fastrnn train``: the epochs and steps, the signals that
stop them, the report lines and log records, the schedule's step after each
epoch, the evaluations and the checkpoints.

The schedule is the book's by default.  ``simple`` and ``rnnlm`` train all
epochs as one stream (one time index through every epoch, the hidden state
carried on) and are evaluated at the end; ``better`` (its time index restarting
every epoch) follows ``lr_schedule`` "plateau": it is evaluated on the
validation set after every epoch (its state reset around the evaluation), keeps
the best params, and divides the learning rate by ``lr_decay`` after
``patience`` epochs without improvement (``fastrnn.training.schedule``).
With ``variable_bptt`` each step's windows have their own length and the step its
own rate (``fastrnn.training.bptt``).  A budget (``fastrnn.training.budget``) may
end the run within an epoch, and
an average of the params (``fastrnn.training.average``) may stand in for them
in every evaluation and file of params.

With several processes (``fastrnn.parallel``), each trains its share of the
batch rows (their own corpus offsets and hidden states).  One allreduce a step
sums a buffer holding every grad scaled to its share of the batch, the loss
and a stop flag: the processes then apply the same update and stay identical,
and they stop at the same step.  Rank 0 reports, evaluates (the others wait
for its result), decides the learning rate and writes the files.
"""
from __future__ import annotations

import math
import signal
import time

import numpy as np

from .. import optimizer as optimizers
from .. import parallel, params_file
from ..datasets.text import UNITS
from ..trainer import Report, TrainingDiverged, train_step
from . import batches, bptt, build, checkpoint, state
from .average import Average
from .budget import Budget
from .evaluation import evaluate
from .schedule import BY_STEP, Schedule

RELEASE_EVERY = 256
"""Iterations between releases of the corpus's mapped pages (resident memory stays
bounded by the model and a few batches, whatever the corpus's size)."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run (after a checkpoint, when it has a directory)."""

    def __init__(self, signum: int, where: str, saved: bool):
        self.signum, self.saved = signum, saved
        super().__init__(where)


class Run:
    """A training run of ``config`` (``RunConfig``) on ``corpus``, writing through
    ``output`` (``Output``; rank 0's alone counts), over the processes ``world``."""

    def __init__(self, config, corpus, output, world, progress: bool | None = None):
        self.config, self.corpus, self.output, self.world = config, corpus, output, world
        self.saving = world.bcast(output.out is not None)  # whether the run has a directory: rank 0's say
        s, o = config.schedule, config.optim
        self.rows = parallel.rows(world.rank, world.size, o.batch_size)
        self.model = build.model_of(config, len(corpus.words), corpus.word_order, world, self.rows)
        self.optimizer = build.optimizer_of(config)
        self.schedule = Schedule(s)
        self.average = Average(s.average, s.nonmono, s.average_from)
        self.validates = self.schedule.validates or s.average == "ntasgd"
        """Whether every epoch ends with a validation."""
        self.progress = state.Progress()
        self.share = (self.rows.stop - self.rows.start) / o.batch_size
        self.xs, self.ts = corpus.train[:-1], corpus.train[1:]
        self.iters_per_epoch = batches.iters_per_epoch(len(self.xs), o.batch_size, o.time_size, s.max_iters)
        self.budget = Budget(s.epochs * self.iters_per_epoch, o.batch_size * o.time_size, s.max_words, s.max_time)
        self._here = 0  # steps of this process
        self.report = Report(progress if world.rank == 0 else False)
        self._reducer = parallel.Reducer(world, config.parallel.overlap, config.parallel.grad_precision)
        self._signal = self._stop = 0  # a signal this process received; one every process knows of
        self._out_of_time = False  # a time budget spent before it was planned
        self._started, self._stats = time.time(), {}

    def say(self, text: str) -> None:
        if self.world.rank == 0:
            print(text, flush=True)

    def elapsed(self) -> float:
        """Seconds of training, over every process that took part in the run."""
        return self.progress.elapsed_s + time.time() - self._started

    def _check_finite(self) -> None:
        """Raise TrainingDiverged when a param holds NaN or infinity (nothing of it is written)."""
        if not all(np.all(np.isfinite(p)) for p in self.model.params):
            raise TrainingDiverged(self.progress.done, "an update made a param infinite or NaN")

    def save_params(self) -> None:
        """Write the params the run keeps (their average once averaging started)."""
        self._check_finite()
        if self.world.rank == 0:
            self.output.save_params(self.model, self.average.kept(self.model.params), self.corpus.words,
                                    self.config.to_dict())

    def evaluate(self, data: np.ndarray) -> float:
        """Perplexity of ``data`` with the params the run keeps (their average once averaging started)."""
        with self.average.in_place_of(self.model.params):
            return self._measure(data)

    def _measure(self, data: np.ndarray) -> float:
        """Perplexity of ``data`` with the model's params as they are."""
        return evaluate(self.model, data, self.world, self.config.model.precision, self.report.bar)

    def checkpoint(self) -> None:
        """Write the run's checkpoint (rank 0, gathering every process's rows)."""
        if not self.saving:
            return
        self._check_finite()
        gathered = self.world.gather(state.hidden_states(self.model))
        if self.world.rank != 0:
            return
        progress = dict(self.progress.state_dict(), elapsed_s=self.elapsed(), log_offset=self.output.log_offset())
        run = checkpoint.RunState(
            self.config.to_dict(), self.corpus.key, self.world.size, progress,
            optimizers.state_dict(self.optimizer), self.schedule.state_dict(),
            {key: np.concatenate([g[key] for g in gathered]) for key in gathered[0]},
            np.random.get_state(), state.dropout_states(self.model), self.model._file_entries(),
            self.average.state_dict())
        self.output.save_checkpoint(self.model, self.corpus.words, run)

    def restore(self, saved: checkpoint.Checkpoint) -> None:
        """Take up the run where checkpoint ``saved`` left it."""
        run = saved.state
        for key, value in self.model._file_entries().items():
            held = run.entries.get(key)
            if held is None or held.shape != value.shape or not np.array_equal(held, value):
                raise params_file.ParamsError(f"the checkpoint's {key.replace('_', ' ')} is not this run's (the "
                                              "training data changed since the run started)")
        params_file.assign("the checkpoint", self.model.params, saved.params)
        self.output.saved = run.progress["done"]
        self.progress.load_state_dict(run.progress)
        optimizers.load_state_dict(self.optimizer, run.optimizer)
        self.schedule.load_state_dict(run.schedule)
        self.average.load_state_dict(run.average, self.model.params)
        if self.progress.budget_time == self.budget.max_time:  # else a new time budget: planned anew
            self.budget.steps = self.progress.budget_steps
        state.load_hidden_states(self.model, run.hidden, self.rows)
        state.load_random_states(self.model, run.np_random, run.dropout)

    def train(self) -> dict:
        """Train to the end (or to a signal: ``Interrupted``); returns the perplexities."""
        if self.world.rank == 0:
            self.output.open_log(self.progress.log_offset)
        if self.config.schedule.max_words is not None:
            self._record("budget", max_words=self.config.schedule.max_words, budget_steps=self.budget.limit)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # the divergence guard says what went wrong
                while (self.progress.epoch < self.config.schedule.epochs and not self.schedule.stopped_early
                       and not self.budget_spent()):
                    self._epoch()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return self._finish()

    def budget_spent(self) -> bool:
        """Whether the run has made the steps its budget allows (``fastrnn.training.budget``)."""
        return self.progress.done >= self.budget.total or self._out_of_time

    def _clock(self) -> None:
        """A time budget's steps: planned after ``budget.PLAN_AT`` steps of this process
        (rank 0's plan, which times a checkpoint written then as the price of each file
        the run will write), or the budget spent before that (rank 0's clock)."""
        b, p = self.budget, self.progress
        b.time_step(self._here, time.perf_counter())
        if b.needs_plan(self._here):
            now = time.perf_counter()
            self.checkpoint()
            write_s = time.perf_counter() - now
            planned = b.plan(p.done, now, self.elapsed(), self._eval_words, self._writes, write_s)
            b.steps = p.budget_steps = self.world.bcast(planned)
            p.budget_time = b.max_time
            self._record("budget", budget_steps=b.steps, budget_words=b.steps * b.words_per_step,
                         step_s=round(b.step_s, 6), write_s=round(write_s, 6), max_time=b.max_time)
            self.say(f"--max-time {b.max_time:g} s: {b.steps:,} steps in all ({b.step_s * 1e3:.3g} ms a step)")
        elif b.steps is None:
            self._out_of_time = self.world.bcast(self.elapsed() >= b.max_time)

    def _eval_words(self, steps: int) -> int:
        """Words the run evaluates if it trains ``steps`` steps in all."""
        valid = 0 if self.corpus.valid is None else len(self.corpus.valid)
        test = 0 if self.corpus.test is None else len(self.corpus.test)
        epochs = steps // self.iters_per_epoch - self.progress.epoch if self.validates else 0
        return max(0, epochs) * valid + valid + test

    def _writes(self, steps: int) -> int:
        """Files the run writes from here if it trains ``steps`` steps in all: a
        checkpoint every ``--checkpoint-every`` steps, a checkpoint and a params file at
        each epoch's end and at the run's."""
        done, every = self.progress.done, self.config.output.checkpoint_every
        epochs = steps // self.iters_per_epoch - done // self.iters_per_epoch
        return (steps // every - done // every if every else 0) + 2 * epochs + 2

    def _on_signal(self, signum, frame) -> None:
        self._signal = signum

    def _reduce(self, grads, loss: float) -> tuple:
        """The step's collective (``fastrnn.parallel.Reducer``), with the stop flag."""
        if self.world.size == 1:
            return grads, loss
        grads, loss, stop = self._reducer(grads, loss, float(self._signal > 0))
        if stop > 0:
            self._stop = self._signal or signal.SIGTERM
        return grads, loss

    def _epoch(self) -> None:
        c, p = self.config, self.progress
        if c.model.model == "better" and p.iteration == 0:
            p.time_idx = 0  # the book calls fit once an epoch: its time index restarts
        start, words = time.perf_counter(), 0
        try:
            for it in self.report.epoch(range(p.iteration, self.iters_per_epoch), f"epoch {p.epoch + 1}"):
                if self.schedule.kind in BY_STEP:
                    self.optimizer.lr = self.schedule.lr_at(c.optim.lr, p.done, self.budget.total)
                T = bptt.length(c.model.seed, p.done, c.optim.time_size) if c.optim.variable_bptt else c.optim.time_size
                bx, bt = batches.windows(self.xs, self.ts, c.optim.batch_size, p.time_idx, T, self.rows)
                p.time_idx += T
                loss = self._step(bx, bt, T / c.optim.time_size)
                p.iteration = it + 1
                p.add_step(loss, self._stats.get("grad_norm", math.nan))
                if self.average.active:
                    self.average.add(self.model.params)
                elif self.average.starts_now(p.done, self.budget.total):
                    self._start_average()
                self._here += 1
                if self.budget.max_time is not None:
                    self._clock()
                if self.world.size == 1:
                    self._stop = self._signal
                words += c.optim.batch_size * T
                if it % c.output.eval_interval == 0:
                    self._report_line(it, words / (time.perf_counter() - start))
                if p.done % RELEASE_EVERY == 0:
                    self.corpus.release_pages()
                if self._stop:
                    self.checkpoint()
                    raise Interrupted(self._stop, f"epoch {p.epoch + 1}, iteration {p.iteration}", self.saving)
                if c.output.checkpoint_every and p.done % c.output.checkpoint_every == 0:
                    self.checkpoint()
                if self.budget_spent():
                    break
        finally:
            self.report.close()
        if p.iteration == self.iters_per_epoch:
            self._end_of_epoch(time.perf_counter() - start)
        else:
            self._end_of_budget()

    def _step(self, bx: np.ndarray, bt: np.ndarray, lr_scale: float) -> float:
        """One training step on this process's windows, at ``lr_scale`` times the rate; its loss."""
        o, lr = self.config.optim, self.optimizer.lr
        self.optimizer.lr = lr * lr_scale
        try:
            return train_step(self.model, self.optimizer, bx, bt, o.max_grad, self.progress.done + 1, self._reduce,
                              self.share, self._stats, o.weight_decay,
                              self._reducer.submit if self.world.size > 1 else None)
        finally:
            self.optimizer.lr = lr

    def _record(self, event: str, **values) -> None:
        """A log record: the event, where the run is, and ``values``."""
        p, o = self.progress, self.config.optim
        self.output.record({"event": event, "epoch": p.epoch + (event == "train"), "step": p.done,
                            "words": p.done * o.batch_size * o.time_size, "elapsed_s": round(self.elapsed(), 3),
                            "lr": self.optimizer.lr, **values})

    def _report_line(self, it: int, words_per_s: float) -> None:
        ppl, norm = self.progress.take_report()
        sent = self._reducer.take_sent() if self.world.size > 1 else {}
        self._record("train", iteration=it + 1, train_ppl=ppl, grad_norm=norm, words_per_s=round(words_per_s),
                     **{f"allreduce_{k}_per_step": v for k, v in sent.items()})
        if self.world.rank == 0:
            self.report.line(f"| epoch {self.progress.epoch + 1} |  iter {it + 1} / {self.iters_per_epoch} | time "
                             f"{int(self.elapsed())}[s] | perplexity {ppl:.2f} | "
                             f"{words_per_s:,.0f} {UNITS[self.config.data.tokens]}/s",
                             ppl=f"{ppl:.2f}", words_per_s=f"{words_per_s:,.0f}")

    def _end_of_epoch(self, seconds: float) -> None:
        """The schedule's step, the params file (for a validating schedule, the best
        params) and a checkpoint."""
        p, opt = self.progress, self.optimizer
        p.epoch, p.iteration = p.epoch + 1, 0
        ppl = self._validate(f"epoch {p.epoch}", seconds) if self.validates else None
        opt.lr, best = self.schedule.after_epoch(opt.lr, ppl, self.average.kept(self.model.params))
        if best or not self.schedule.validates:
            self.save_params()
        if p.epoch < self.config.schedule.epochs and self.schedule.stops(opt.lr):
            self.say(f"epoch {p.epoch}: lr {opt.lr:g} is below --min-lr {self.schedule.min_lr:g}: stopping early")
        self.checkpoint()

    def _start_average(self) -> None:
        self.average.begin(self.progress.done, self.model.params)
        self._record("average", start=self.progress.done)
        self.say(f"step {self.progress.done}: averaging the params from here ({self.average.kind})")

    def _validate(self, where: str, seconds: float | None = None) -> float:
        """The validation perplexity of the kept params, logged, reported and noted by
        ntasgd (which may start averaging here)."""
        ppl = self.evaluate(self.corpus.valid)
        self._record("valid", valid_ppl=ppl)
        self.say(f"{where}: valid perplexity {ppl:.2f}, lr {self.optimizer.lr:g}"
                 + ("" if seconds is None else f", {seconds:.0f} s"))
        self.average.checks.append(ppl)
        if self.average.starts_now(self.progress.done, self.budget.total):
            self._start_average()
        return ppl

    def _end_of_budget(self) -> None:
        """The budget spent within an epoch: a validating schedule's last validation
        (its params kept when the best), the params file."""
        p = self.progress
        if self.schedule.validates:
            ppl = self._validate(f"budget spent at epoch {p.epoch + 1}, iteration {p.iteration}")
            if self.schedule.consider(ppl, self.average.kept(self.model.params)):
                self.save_params()
        else:
            self.save_params()

    def _finish(self) -> dict:
        self.progress.finished = True
        self.checkpoint()  # before the evaluation resets the states: more epochs go on from here
        results = {}
        for param, kept in zip(self.model.params, self.schedule.best or self.average.kept(self.model.params)):
            param[...] = kept  # the params the run keeps, which the last evaluations measure
        if self.schedule.best is not None:
            results["valid"] = self.schedule.best_ppl
        elif self.corpus.valid is not None:
            results["valid"] = self._measure(self.corpus.valid)
        if self.corpus.test is not None:
            results["test"] = self._measure(self.corpus.test)
        self._record("end", **{f"{k}_ppl": v for k, v in results.items()})
        return results
