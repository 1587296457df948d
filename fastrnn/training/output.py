"""A training run's output directory (``--out``) and log (``--log``): the lock,
the policy that a new run does not replace another, and every write of the
run's files (params, checkpoint, plot, log records), each failure one
``WriteFailed`` that leaves what was written before as it was."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .. import params_file
from ..cli.options import UserError
from ..runlog import RunLog
from . import checkpoint

PARAMS = "params.npz"
PLOT = "ppl.png"
LOCK = ".fastrnn.lock"


class WriteFailed(Exception):
    """A file of the run could not be written (no space, a size limit, a read-only
    or vanished directory, an I/O error): the run stops, and what it wrote before
    stays as it was."""

    def __init__(self, path: Path, error: OSError):
        self.path = path
        super().__init__(f"cannot write {path} ({error.strerror or error})")


def guarded(path: Path, write):
    """``write()``, which writes ``path``; a failure a WriteFailed."""
    try:
        return write()
    except OSError as e:
        raise WriteFailed(path, e) from None


_LOCKS = []
"""Descriptors of the locks this process holds (open until it ends)."""


def hold_lock(out: Path, option: str) -> None:
    """Hold ``out/.fastrnn.lock`` (an advisory lock, released when this process
    ends) so that two runs never write the same directory; it names the holder.
    Then remove what writes of a killed run left half done (their temporary files,
    and no other file)."""
    path = out / LOCK
    try:  # held read-only: a file open for writing would keep its file system from going read-only
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise UserError(f"{option} {out}: cannot lock it ({path}: {e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise UserError(f"{option} {out}: another fastrnn train is writing there"
                        + (f" (process {holder})" if holder.isdigit() else "")) from None
    _LOCKS.append(fd)
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
        for stale in params_file.stale_temporaries(out, checkpoint.OUTPUTS):
            stale.unlink()
    except OSError as e:
        raise UserError(f"{option} {out}: cannot write there ({e.strerror})") from None


def refuse_to_replace(out: Path) -> None:
    """A new run must not overwrite a run in ``out``: one that could go on, or a
    finished one (``--resume --epochs N`` extends it), unless ``--overwrite``."""
    try:
        found, _ = checkpoint.load_latest(out)
    except (OSError, params_file.ParamsError):  # none, or none readable: nothing to lose
        return
    p = found.state.progress
    if p["finished"]:
        raise UserError(f"--out {out} holds a finished run ({p['epoch']} epochs): extend it with: fastrnn train "
                        f"--resume {out} --epochs N, or give another --out, or --overwrite to start over there")
    raise UserError(f"--out {out} holds a run stopped in epoch {p['epoch'] + 1} at iteration {p['iteration']}: "
                    f"go on with it with: fastrnn train --resume {out}, or give another --out, or --overwrite to "
                    "start over there")


def check_log(log: Path, new_run: bool, overwrite: bool) -> None:
    """UserError unless ``log`` can be a run's log: a regular file or none, and for a
    new run (unless ``overwrite``) none or an empty one."""
    from ..cli.files import writable_dir

    if log.is_dir():
        raise UserError(f"--log {log} is a directory: give a file")
    if log.exists() and not log.is_file():
        raise UserError(f"--log {log} is not a regular file")
    if new_run and not overwrite and log.exists() and log.stat().st_size > 0:
        raise UserError(f"--log {log} exists: give a new file, or --overwrite to replace it")
    writable_dir(log.parent, "--log")


class Output:
    """Where a run writes: the directory ``out`` (None: nothing written) and the
    log's path (None: no log).  ``saved`` is the position (steps done) of the last
    checkpoint written or resumed from."""

    def __init__(self, out: Path | None, log: Path | None = None):
        self.out, self.log_path, self.log, self.saved = out, log, None, None

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

    def save_params(self, model, params, words, settings: dict) -> None:
        if self.out is not None:
            self._write(PARAMS, lambda: params_file.save_params(self.out / PARAMS, params, model._params_name, words,
                                                                 settings, model._file_entries()))

    def save_checkpoint(self, model, words, state: checkpoint.RunState) -> None:
        self._write(checkpoint.NAME, lambda: checkpoint.save(self.out, model._params_name, model.params, words, state))
        self.saved = state.progress["done"]

    def open_log(self, offset: int) -> None:
        """Open the log (when there is one), cut back to ``offset`` bytes."""
        if self.log_path is not None:
            self.log = guarded(self.log_path, lambda: RunLog(self.log_path, offset))

    def record(self, record: dict) -> None:
        if self.log is not None:
            guarded(self.log.path, lambda: self.log.write(record))

    def log_offset(self) -> int:
        return 0 if self.log is None else self.log.offset()

    def plot(self, iterations: list, ppl_list: list) -> None:
        """ppl.png: the training perplexity of each report line (log scale)."""
        if self.out is None or not ppl_list:
            return
        import matplotlib
        matplotlib.use("Agg")
        from ..trainer import _plot

        guarded(self.out / PLOT, lambda: _plot(iterations, ppl_list, "iterations", "training perplexity", None,
                                               self.out / PLOT, log=True))

    def saved_note(self, resumable: bool = True) -> str:
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
