"""A training run's checkpoint: everything it needs to go on exactly where it stopped.

A checkpoint is a params file (``fastrnn.io``, format ``fastrnn-checkpoint-1``)
whose ``param_i`` entries are the model's params, plus named arrays (the best
params so far, carried hidden states, random generator keys) and one JSON
document, ``run``, with the rest: settings, position, learning rate and
schedule, report accumulators, generator states.  It is written atomically
(temporary file, fsync, rename), so a crash at any moment leaves the previous
checkpoint or the new one, never a broken file; the one before is kept as
``checkpoint.prev.npz``, and ``load_latest`` falls back to it when the newer
one is damaged (a checksum of the contents tells).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, io

NAME = "checkpoint.npz"
PREVIOUS = "checkpoint.prev.npz"
OUTPUTS = (NAME, PREVIOUS, "params.npz", "ppl.png")
"""Every file a run writes into its directory (``--out``), each atomically."""
VERSION = 1
"""Version of the ``run`` document; another version is refused on resume."""


@dataclass
class Checkpoint:
    params: list
    model: str
    words: list | None
    run: dict
    arrays: dict


def save(directory, model: str, params, words, run: dict, arrays: dict) -> None:
    """Write ``directory/checkpoint.npz`` (finite params only), the one it replaces
    kept as ``checkpoint.prev.npz``; ``run`` must be JSON-serialisable."""
    directory = Path(directory)
    document = dict(run, version=VERSION, fastrnn=__version__)
    io.save_params(directory / NAME, params, model, words=words, settings=run.get("settings"),
                   fmt=io.CHECKPOINT_FORMAT, extra={"run": np.frombuffer(json.dumps(document).encode(), np.uint8),
                                                    **arrays}, keep=directory / PREVIOUS)


def load(path) -> Checkpoint:
    """Read a checkpoint; raises OSError or io.ParamsError (not a checkpoint, or of
    another version)."""
    stored = io.read_params(path, formats=(io.CHECKPOINT_FORMAT,))
    entries = dict(stored.entries)
    try:
        run = json.loads(bytes(entries.pop("run")).decode())
    except (KeyError, ValueError):
        raise io.ParamsError(f"{path} is not a fastrnn checkpoint (no run document)") from None
    if run.get("version") != VERSION:
        raise io.ParamsError(f"{path} was written by fastrnn {run.get('fastrnn', '?')} (checkpoint version "
                             f"{run.get('version')}); this fastrnn {__version__} resumes version {VERSION} only")
    return Checkpoint(stored.arrays, stored.model, stored.words, run, entries)


def load_latest(directory) -> tuple:
    """``(checkpoint, note)``: the checkpoint in ``directory``, or the one before it
    when that is missing or damaged (``note`` then says so; else None).  Raises
    FileNotFoundError when there is neither, and the newer one's error when
    neither can be read."""
    directory = Path(directory)
    try:
        return load(directory / NAME), None
    except (OSError, io.ParamsError) as newer:
        try:
            older = load(directory / PREVIOUS)
        except (OSError, io.ParamsError):
            raise newer from None
        why = "is missing" if isinstance(newer, FileNotFoundError) else f"cannot be used ({newer})"
        return older, (f"{directory / NAME} {why}; going on from the checkpoint before it, {PREVIOUS} "
                       f"(iteration {older.run['position']['done']})")
