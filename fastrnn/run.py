"""One training run of ``fastrnn train``: a language model, the book's schedule,
checkpoints that resume exactly, and data-parallel processes.

The schedule is the book's by default.  ``simple`` and ``rnnlm`` train all
epochs as one stream (one time index through every epoch, the hidden state
carried on) and are evaluated at the end; ``better`` (its time index restarting
every epoch) follows ``lr_schedule`` "plateau": it is evaluated on the
validation set after every epoch (its state reset around the evaluation), keeps
the best params, and divides the learning rate by ``lr_decay`` (4) after
``patience`` (1) epochs without improvement.  Any model may take any schedule
("none", "plateau", "step": divide after every epoch) and any optimizer of
``fastrnn.optimizer`` (its state is checkpointed), with ``weight_decay`` and
an early stop once the learning rate falls below ``min_lr``.

With several processes (``fastrnn.parallel``), each trains its share of the
batch rows (their own corpus offsets and hidden states).  One allreduce a step
sums a buffer holding every grad scaled to its share of the batch, the loss
and a stop flag: the processes then apply the same update and stay identical,
and they stop at the same step.  Rank 0 reports, evaluates (the others wait
for its result), decides the learning rate and writes the files.
"""
from __future__ import annotations

import math
import mmap
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint, io, models, parallel
from .datasets.text import UNITS
from .runlog import RunLog
from .schedule import Schedule
from .layers.adaptive import frequency_order
from . import optimizer as optimizers
from .trainer import Report, TrainingDiverged, train_step
from .util import eval_perplexity, perplexity

MODELS = {"simple": "SimpleRnnlm", "rnnlm": "Rnnlm", "better": "BetterRnnlm"}
EVAL_BATCH, EVAL_TIME = 10, 35
"""The reference's evaluation batch (eval_perplexity's defaults)."""
COUNT_BLOCK = 1 << 24
"""Words counted at a time for the word order of an adaptive head."""
RELEASE_EVERY = 256
"""Iterations between releases of the corpus's mapped pages (resident memory stays
bounded by the model and a few batches, whatever the corpus's size)."""


@dataclass
class Corpus:
    """The data of a run: id arrays (memory maps for your own text) and the
    vocabulary, with a ``key`` that identifies them for resuming."""

    train: np.ndarray
    valid: np.ndarray | None
    test: np.ndarray | None
    words: list
    name: str
    key: dict

    def word_order(self) -> np.ndarray:
        """Word ids from the most to the least frequent in the training data (ties:
        the smaller id first), counted a block at a time."""
        counts = np.zeros(len(self.words), np.int64)
        for i in range(0, len(self.train), COUNT_BLOCK):
            counts += np.bincount(self.train[i:i + COUNT_BLOCK], minlength=len(self.words))
        return frequency_order(counts)


class WriteFailed(Exception):
    """A file of the run could not be written (no space, a size limit, a read-only
    or vanished directory, an I/O error): the run stops, and what it wrote before
    stays as it was."""

    def __init__(self, path: Path, error: OSError):
        self.path = path
        super().__init__(f"cannot write {path} ({error.strerror or error})")


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run (after a checkpoint, when it has a directory)."""

    def __init__(self, signum: int, where: str, saved: bool):
        self.signum = signum
        super().__init__(where)
        self.saved = saved


def release_pages(corpus: np.ndarray) -> None:
    """Drop this process's mapping of a memory-mapped corpus's pages (they stay in
    the page cache and are mapped again when read)."""
    mm = getattr(corpus, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


PRESETS = {"simple": ("rnn", 1, False), "rnnlm": ("lstm", 1, False), "better": ("lstm", 2, True)}
"""The cell, layers and tying of each ``--model``, built by its own class."""


def build(s: dict, V: int, head: dict):
    """The model of settings ``s``: the preset's class (SimpleRnnlm, Rnnlm,
    BetterRnnlm) when the structure is the preset's, else an RnnLanguageModel
    (the same draws: the same bits where both could be built)."""
    structure = (s.get("cell"), s.get("layers"), s.get("tied"))
    preset = PRESETS[s["model"]]
    if (structure == preset or structure == (None, None, None)) and (s["dropout"] is None) == (s["model"] != "better"):
        cls = getattr(models, MODELS[s["model"]])
        return cls(V, s["wordvec_size"], s["hidden_size"], *([s["dropout"]] if s["model"] == "better" else []), **head)
    cell, layers, tied = structure
    return models.RnnLanguageModel(V, s["wordvec_size"], s["hidden_size"], cell=cell, layers=layers, tied=tied,
                                   dropout_ratio=s["dropout"], **head)


class Run:
    """A training run: ``settings`` (a dict, see ``fastrnn.cli``), ``corpus``, the
    output directory ``out`` (None: nothing written; only rank 0's counts) and the
    processes ``world``."""

    def __init__(self, settings: dict, corpus: Corpus, out: Path | None, world, progress: bool | None = None):
        self.settings, self.corpus, self.out, self.world = settings, corpus, out, world
        self.saving = world.bcast(out is not None)  # whether the run has a directory: rank 0's say
        s = settings
        np.random.seed(s["seed"])
        head = ({"head": "adaptive", "cutoffs": s["cutoffs"], "div_value": s["div_value"],
                 "order": corpus.word_order()} if s["head"] == "adaptive" else {})
        self.model = build(s, len(corpus.words), head)
        self.model.set_precision(s.get("precision", "fp32"))
        if world.rank > 0:  # each process its own reproducible dropout masks
            for k, layer in enumerate(getattr(self.model, "drop_layers", [])):
                layer.rng = np.random.default_rng(np.random.SeedSequence(s["seed"], spawn_key=(world.rank, k)))
        if world.size > 1:  # each process holds one group of the batch's rows (fastrnn._groups)
            self.model.set_groups(1)
        self.optimizer = next(cls for cls in (optimizers.SGD, optimizers.Momentum, optimizers.Nesterov,
                                              optimizers.AdaGrad, optimizers.RMSprop, optimizers.Adam)
                              if cls.__name__.lower() == s.get("optimizer", "sgd"))(s["lr"])
        self.rows = parallel.rows(world.rank, world.size, s["batch_size"])
        self.weight = (self.rows.stop - self.rows.start) / s["batch_size"]
        self.xs, self.ts = corpus.train[:-1], corpus.train[1:]
        self.iters_per_epoch = len(self.xs) // (s["batch_size"] * s["time_size"])
        if s["max_iters"] is not None:
            self.iters_per_epoch = min(self.iters_per_epoch, s["max_iters"])
        self.report = Report(progress) if world.rank == 0 else Report(False)
        self.quiet = world.rank != 0
        self.epoch = self.iteration = self.time_idx = self.done = 0
        self.ppl_list, self.total_loss, self.loss_count, self.norm_sum = [], 0.0, 0, 0.0
        self.finished = False
        self.schedule = Schedule(s)
        self._reducer = parallel.Reducer(world)
        self._signal = 0  # a signal received by this process
        self._stop = 0  # a signal every process knows of: the run stops at this step
        self._started = time.time()
        self.saved = None
        """Position (``done``) of the last checkpoint written or resumed from, or None."""
        self.elapsed_before = 0.0  # seconds of training before this process (a resumed run)
        self.log, self.log_offset = None, 0
        self._stats = {}

    # -- output ---------------------------------------------------------------

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def _path(self, name: str) -> Path | None:
        return None if self.out is None else self.out / name

    def _write(self, name: str, write) -> None:
        """``write()``, which writes ``out/name``; the directory made again if it
        went away (before or during the write); any failure a WriteFailed."""
        for attempt in (1, 2):
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                return write()
            except FileNotFoundError as e:
                if attempt == 2:
                    raise WriteFailed(self.out / name, e) from None
            except OSError as e:
                raise WriteFailed(self.out / name, e) from None

    @staticmethod
    def _guard(path: Path, write) -> None:
        """``write()``, which writes ``path``; a failure a WriteFailed."""
        try:
            write()
        except OSError as e:
            raise WriteFailed(path, e) from None

    def kept(self, resumable: bool = True) -> str:
        """What the output directory holds, in words (with how to go on, when
        going on can help)."""
        if self.out is None:
            return "nothing was saved (no --out)"
        if self.saved is None:
            return f"{self.out} holds no checkpoint yet"
        if not (self.out / checkpoint.NAME).exists():
            return f"{self.out / checkpoint.NAME} of iteration {self.saved} is gone"
        return (f"{self.out / checkpoint.NAME} holds the params of iteration {self.saved}"
                + (f": resume with: fastrnn train --resume {self.out}" if resumable else ", all finite"))
    def _check_finite(self) -> None:
        """Raise TrainingDiverged when a param holds NaN or infinity (nothing of it is written)."""
        for p in self.model.params:
            if not np.all(np.isfinite(p)):
                raise TrainingDiverged(self.done, "an update made a param infinite or NaN")

    def save_params(self, params) -> None:
        self._check_finite()
        if self.world.rank == 0 and self.out is not None:
            self._write("params.npz", lambda: io.save_params(
                self._path("params.npz"), params, self.model._params_name, self.corpus.words, self.settings,
                self.model._file_entries()))

    # -- one step -----------------------------------------------------------

    def _reduce(self, grads, loss: float) -> tuple:
        """The step's collective (``fastrnn.parallel.Reducer``), with the stop flag."""
        if self.world.size == 1:
            return grads, loss
        grads, loss, stop = self._reducer(grads, loss, float(self._signal > 0))
        if stop > 0:
            self._stop = self._signal or signal.SIGTERM
        return grads, loss

    def _batch(self):
        s = self.settings
        jump = len(self.xs) // s["batch_size"]
        starts = np.arange(s["batch_size"])[self.rows] * jump
        pos = (starts[:, None] + self.time_idx + np.arange(s["time_size"])) % len(self.xs)
        self.time_idx += s["time_size"]
        return self.xs[pos], self.ts[pos]

    # -- evaluation -----------------------------------------------------------

    def evaluate(self, data: np.ndarray) -> float:
        """Perplexity of ``data`` (rank 0 computes it, every process gets it), in
        float32 whatever the run's precision and with one process's groups of rows
        whatever the processes; the model's state is reset before and after, as in
        the book's scripts."""
        ppl = None
        if self.world.rank == 0:
            self.model.reset_state()
            self.model.set_precision("fp32")  # as ``fastrnn eval`` measures it
            groups = self.model.groups
            self.model.set_groups(self.model.GROUPS)  # as one process evaluates: the same bits
            try:
                ppl = eval_perplexity(self.model, data, EVAL_BATCH, EVAL_TIME, progress=self.report.bar)
            finally:
                self.model.set_precision(self.settings.get("precision", "fp32"))
                self.model.set_groups(groups)
        self.model.reset_state()
        return self.world.bcast(ppl)

    # -- checkpoints ------------------------------------------------------------

    def _layer_states(self) -> dict:
        states = {}
        for k, layer in enumerate(self.model.layers):
            for name in getattr(layer, "STATES", ()) if getattr(layer, "stateful", False) else ():
                value = getattr(layer, name)
                if value is not None:
                    states[f"state_{k}_{name}"] = value
        return states

    def checkpoint(self) -> None:
        """Write the run's checkpoint (rank 0, gathering every process's rows)."""
        if not self.saving:
            return
        self._check_finite()
        mine = (self._layer_states(), [layer.rng.bit_generator.state for layer in
                                       getattr(self.model, "drop_layers", [])])
        gathered = self.world.gather(mine)
        if self.world.rank != 0:
            return
        states = {key: np.concatenate([g[0][key] for g in gathered]) for key in gathered[0][0]}
        key, keys, pos, has_gauss, gauss = np.random.get_state()
        optimizer, optimizer_arrays = optimizers.state_of(self.optimizer)
        schedule, best = self.schedule.document()
        arrays = {**states, "np_random_keys": keys, **self.model._file_entries(), **optimizer_arrays, **best}
        run = {"settings": self.settings, "corpus": self.corpus.key, "processes": self.world.size,
               "position": {"epoch": self.epoch, "iteration": self.iteration, "time_idx": self.time_idx,
                            "done": self.done},
               "lr": self.optimizer.lr, **schedule, "ppl_list": self.ppl_list,
               "report": {"total_loss": self.total_loss, "loss_count": self.loss_count, "norm_sum": self.norm_sum},
               "elapsed_s": self.elapsed(), "log_offset": None if self.log is None else self.log.offset(),
               "np_random": [key, pos, has_gauss, gauss], "dropout": [g[1] for g in gathered],
               "finished": self.finished,
               "optimizer": optimizer}
        self._write(checkpoint.NAME, lambda: checkpoint.save(self.out, self.model._params_name,
                                                             self.model.params, self.corpus.words, run, arrays))
        self.saved = self.done

    def restore(self, ck: checkpoint.Checkpoint) -> None:
        """Take up the run where checkpoint ``ck`` left it."""
        run = ck.run
        self.saved = run["position"]["done"]
        for key, value in self.model._file_entries().items():
            held = ck.arrays.get(key)
            if held is None or held.shape != value.shape or not np.array_equal(held, value):
                raise io.ParamsError(f"the checkpoint's {key.replace('_', ' ')} is not this run's (the training "
                                     "data changed since the run started)")
        io.assign("the checkpoint", self.model.params, ck.params)
        p = run["position"]
        self.epoch, self.iteration, self.time_idx, self.done = p["epoch"], p["iteration"], p["time_idx"], p["done"]
        self.optimizer.lr = run["lr"]
        self.schedule.restore(run, ck.arrays)
        self.ppl_list = run["ppl_list"]
        self.total_loss, self.loss_count = run["report"]["total_loss"], run["report"]["loss_count"]
        self.norm_sum = run["report"].get("norm_sum", 0.0)
        self.elapsed_before, self.log_offset = run.get("elapsed_s", 0.0), run.get("log_offset") or 0
        self.finished = run["finished"]
        optimizers.restore_state(self.optimizer, run.get("optimizer", {}), ck.arrays)
        key, pos, has_gauss, gauss = run["np_random"]
        np.random.set_state((key, ck.arrays["np_random_keys"], pos, has_gauss, gauss))
        for k, layer in enumerate(self.model.layers):
            for name in getattr(layer, "STATES", ()):
                value = ck.arrays.get(f"state_{k}_{name}")
                setattr(layer, name, None if value is None else value[self.rows].copy())
        if run["processes"] == self.world.size:  # else the masks go on from this run's own seeds
            for layer, state in zip(getattr(self.model, "drop_layers", []), run["dropout"][self.world.rank]):
                layer.rng.bit_generator.state = state

    # -- the run ------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._signal = signum

    def train(self) -> dict:
        """Train to the end (or to a signal: ``Interrupted``); returns the perplexities."""
        if self.settings.get("log") and self.world.rank == 0:
            path = Path(self.settings["log"])
            self._guard(path, lambda: setattr(self, "log", RunLog(path, self.log_offset)))
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # the divergence guard says what went wrong
                self._epochs()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return self._finish()

    def _interrupt(self) -> None:
        self.checkpoint()
        where = f"epoch {self.epoch + 1}, iteration {self.iteration}"
        raise Interrupted(self._stop, where, self.saving)

    def _epochs(self) -> None:
        s = self.settings
        better = s["model"] == "better"
        while self.epoch < s["epochs"] and not self.schedule.stopped_early:
            if better and self.iteration == 0:
                self.time_idx = 0  # the book calls fit once an epoch: its time index restarts
            start, words = time.perf_counter(), 0
            try:
                for it in self.report.epoch(range(self.iteration, self.iters_per_epoch), f"epoch {self.epoch + 1}"):
                    bx, bt = self._batch()
                    loss = train_step(self.model, self.optimizer, bx, bt, s["max_grad"], self.done + 1, self._reduce,
                                      self.weight, self._stats, s.get("weight_decay", 0.0))
                    self.iteration, self.done = it + 1, self.done + 1
                    if self.world.size == 1:
                        self._stop = self._signal
                    self.total_loss += loss
                    self.loss_count += 1
                    self.norm_sum += self._stats.get("grad_norm", math.nan)
                    words += s["batch_size"] * s["time_size"]
                    if it % s["eval_interval"] == 0:
                        self._report_line(it, words / (time.perf_counter() - start))
                    if self.done % RELEASE_EVERY == 0:
                        release_pages(self.corpus.train)
                    if self._stop:
                        self._interrupt()
                    if s["checkpoint_every"] and self.done % s["checkpoint_every"] == 0:
                        self.checkpoint()
            finally:
                self.report.close()
            self._end_of_epoch(time.perf_counter() - start)

    def elapsed(self) -> float:
        """Seconds of training, over every process that took part in the run."""
        return self.elapsed_before + time.time() - self._started

    def _record(self, event: str, **values) -> None:
        """A record of the log (when there is one): the event, where the run is, and ``values``."""
        if self.log is not None:
            s = self.settings
            record = {"event": event, "epoch": self.epoch + (event == "train"), "step": self.done,
                      "words": self.done * s["batch_size"] * s["time_size"], "elapsed_s": round(self.elapsed(), 3),
                      "lr": self.optimizer.lr, **values}
            self._guard(self.log.path, lambda: self.log.write(record))

    def report_iterations(self) -> list:
        """The iteration of the run (counted from 1 over all epochs) of each entry of
        ``ppl_list``: reports come at an epoch's iterations 1, 1 + eval_interval, ...,
        and start again each epoch."""
        per_epoch = -(-self.iters_per_epoch // self.settings["eval_interval"])
        return [k // per_epoch * self.iters_per_epoch + k % per_epoch * self.settings["eval_interval"] + 1
                for k in range(len(self.ppl_list))]

    def _report_line(self, it: int, words_per_s: float) -> None:
        ppl = perplexity(self.total_loss / self.loss_count)
        norm = self.norm_sum / self.loss_count
        self.ppl_list.append(ppl)
        self.total_loss, self.loss_count, self.norm_sum = 0.0, 0, 0.0
        self._record("train", iteration=it + 1, train_ppl=ppl, grad_norm=norm, words_per_s=round(words_per_s))
        if not self.quiet:
            self.report.line(f"| epoch {self.epoch + 1} |  iter {it + 1} / {self.iters_per_epoch} | time "
                             f"{int(self.elapsed())}[s] | perplexity {ppl:.2f} | "
                             f"{words_per_s:,.0f} {UNITS[self.settings.get('tokens', 'words')]}/s",
                             ppl=f"{ppl:.2f}", words_per_s=f"{words_per_s:,.0f}")

    def _end_of_epoch(self, seconds: float) -> None:
        """The schedule's step (``fastrnn.schedule``), the params file (for a
        validating schedule, the best params) and a checkpoint."""
        self.epoch, self.iteration = self.epoch + 1, 0
        ppl = None
        if self.schedule.validates:
            ppl = self.evaluate(self.corpus.valid)
            self._record("valid", valid_ppl=ppl)
            self.say(f"epoch {self.epoch}: valid perplexity {ppl:.2f}, lr {self.optimizer.lr:g}, {seconds:.0f} s")
        self.optimizer.lr, best = self.schedule.after_epoch(self.optimizer.lr, ppl, self.model.params)
        if best or not self.schedule.validates:
            self.save_params(self.model.params)
        if self.epoch < self.settings["epochs"] and self.schedule.stops(self.optimizer.lr):
            self.say(f"epoch {self.epoch}: lr {self.optimizer.lr:g} is below --min-lr {self.schedule.min_lr:g}: "
                     "stopping early")
        self.checkpoint()

    def _finish(self) -> dict:
        self.finished = True
        self.checkpoint()  # before the evaluation resets the states: more epochs go on from here
        results = {}
        if self.schedule.best is not None:
            for p, b in zip(self.model.params, self.schedule.best):
                p[...] = b
            results["valid"] = self.schedule.best_ppl
        elif self.corpus.valid is not None:
            results["valid"] = self.evaluate(self.corpus.valid)
        if self.corpus.test is not None:
            results["test"] = self.evaluate(self.corpus.test)
        self._record("end", **{f"{k}_ppl": v for k, v in results.items()})
        return results
