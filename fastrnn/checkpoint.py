"""A training run's checkpoint: everything it needs to go on exactly where it stopped.

A checkpoint is a params file (``fastrnn.io``, format ``fastrnn-checkpoint-1``)
whose ``param_i`` entries are the model's params, plus named arrays (the best
params so far, carried hidden states, random generator keys) and one JSON
document, ``run``, with the rest: settings, position, learning rate and
schedule, report accumulators, generator states.  It is written atomically
(temporary file, fsync, rename), so a crash at any moment leaves the previous
checkpoint or the new one, never a broken file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from . import __version__, io

NAME = "checkpoint.npz"
VERSION = 1
"""Version of the ``run`` document; another version is refused on resume."""


@dataclass
class Checkpoint:
    params: list
    model: str
    words: list | None
    run: dict
    arrays: dict


def save(path, model: str, params, words, run: dict, arrays: dict) -> None:
    """Write a checkpoint (finite params only); ``run`` must be JSON-serialisable."""
    document = dict(run, version=VERSION, fastrnn=__version__)
    io.save_params(path, params, model, words=words, settings=run.get("settings"), fmt=io.CHECKPOINT_FORMAT,
                   extra={"run": np.frombuffer(json.dumps(document).encode(), np.uint8), **arrays})


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
