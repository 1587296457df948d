"""A training run's checkpoint: everything it needs to go on exactly where it stopped.

A checkpoint is a params file (``fastrnn.params_file``, format
``fastrnn-checkpoint-1``) whose ``param_i`` entries are the model's params, plus
named arrays and one JSON document, ``run``.  This module alone knows their
names: it composes the state each part of a run gives (``RunState``) into the
file and takes it apart again.

Arrays: ``state_<layer>_<name>`` (a carried hidden state, every process's rows),
``best_<i>`` (the schedule's best params), ``average_<i>`` (the params' average,
``fastrnn.training.average``), ``optimizer_<slot>_<param>``,
``np_random_keys``, and the model's own entries (an adaptive head's settings and
word order, a custom model's structure).  The document holds the settings, the
corpus's fingerprint, the number of processes, the position, the learning rate,
the schedule's and the report's numbers, the generators' other state,
``finished`` and the steps a time budget allows (``fastrnn.training.budget``).

It is written atomically (temporary file, fsync, rename), so a crash at any
moment leaves the previous checkpoint or the new one, never a broken file; the
one before is kept as ``checkpoint.prev.npz``, and ``load_latest`` falls back to
it when the newer one is damaged (a checksum of the contents tells).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, params_file

NAME = "checkpoint.npz"
PREVIOUS = "checkpoint.prev.npz"
OUTPUTS = (NAME, PREVIOUS, "params.npz", "ppl.png")
"""Every file a run writes into its directory (``--out``), each atomically."""
VERSION = 1
"""Version of the ``run`` document; another version is refused on resume."""


@dataclass
class RunState:
    """What a checkpoint holds besides the params, as the run's parts give it:
    ``progress`` (``state.Progress``), ``optimizer`` and ``schedule`` (their
    ``state_dict``), ``hidden`` and the generators (``state``), the settings
    (``RunConfig.to_dict``), the corpus's fingerprint, the model's file entries."""

    settings: dict
    corpus: dict
    processes: int
    progress: dict
    optimizer: dict
    schedule: dict
    hidden: dict
    np_random: tuple
    dropout: list
    """Each dropout layer's count of training forwards (``state.dropout_states``)."""
    entries: dict
    average: dict
    """``Average.state_dict``: count, start, checks and arrays (None before it starts)."""


@dataclass
class Checkpoint:
    params: list
    model: str
    words: list | None
    state: RunState


_POSITION = ("epoch", "iteration", "time_idx", "done")
_REPORT = ("total_loss", "loss_count", "norm_sum")
_SCHEDULE = ("valid_ppls", "bad_epochs", "stopped_early")


def _document(state: RunState) -> dict:
    p, sch = state.progress, state.schedule
    key, _, pos, has_gauss, gauss = state.np_random
    return {"settings": state.settings, "corpus": state.corpus, "processes": state.processes,
            "position": {k: p[k] for k in _POSITION}, "lr": state.optimizer["lr"],
            "best_ppl": None if math.isinf(sch["best_ppl"]) else sch["best_ppl"], **{k: sch[k] for k in _SCHEDULE},
            "ppl_list": p["ppl_list"], "report": {k: p[k] for k in _REPORT}, "elapsed_s": p["elapsed_s"],
            "log_offset": p["log_offset"], "np_random": [key, pos, has_gauss, gauss], "dropout": state.dropout,
            "finished": p["finished"], "optimizer": {"iter": state.optimizer["iter"]},
            "budget": {"steps": p["budget_steps"], "time": p["budget_time"]},
            "average": {k: state.average[k] for k in ("count", "start", "checks")}}


def _arrays(state: RunState) -> dict:
    return {**{f"state_{k}_{name}": a for (k, name), a in state.hidden.items()},
            "np_random_keys": state.np_random[1], **state.entries,
            **{f"optimizer_{j}_{i}": a for j, slot in enumerate(state.optimizer["slots"]) for i, a in enumerate(slot)},
            **{f"best_{i}": b for i, b in enumerate(state.schedule["best"] or [])},
            **{f"average_{i}": a for i, a in enumerate(state.average["arrays"] or [])}}


def save(directory, model: str, params, words, state: RunState) -> None:
    """Write ``directory/checkpoint.npz`` (finite params only), the one it replaces
    kept as ``checkpoint.prev.npz``."""
    directory = Path(directory)
    document = dict(_document(state), version=VERSION, fastrnn=__version__)
    params_file.save_params(directory / NAME, params, model, words=words, settings=state.settings,
                            fmt=params_file.CHECKPOINT_FORMAT,
                            extra={"run": np.frombuffer(json.dumps(document).encode(), np.uint8), **_arrays(state)},
                            keep=directory / PREVIOUS)


def _numbered(arrays: dict, pattern: str) -> dict:
    """``{numbers: array}`` of the entries whose names match ``pattern`` (groups of digits)."""
    found = {}
    for name, a in arrays.items():
        m = re.fullmatch(pattern, name)
        if m:
            found[tuple(int(g) if g.isdigit() else g for g in m.groups())] = a
    return dict(sorted(found.items()))


def _state(run: dict, arrays: dict) -> RunState:
    """The RunState of a document and its arrays; a checkpoint of an older fastrnn
    lacks some numbers: they take their start values."""
    slots = _numbered(arrays, r"optimizer_(\d+)_(\d+)")
    best = list(_numbered(arrays, r"best_(\d+)").values())
    average = {"count": 0, "start": None, "checks": [], **run.get("average", {}),
               "arrays": list(_numbered(arrays, r"average_(\d+)").values()) or None}
    report = {"norm_sum": 0.0, **run["report"]}
    progress = {**run["position"], **report, "ppl_list": run["ppl_list"], "elapsed_s": run.get("elapsed_s", 0.0),
                "log_offset": run.get("log_offset") or 0, "finished": run["finished"],
                "budget_steps": run.get("budget", {}).get("steps"), "budget_time": run.get("budget", {}).get("time")}
    schedule = {"best_ppl": math.inf if run["best_ppl"] is None else run["best_ppl"], "valid_ppls": run["valid_ppls"],
                "bad_epochs": run.get("bad_epochs", 0), "stopped_early": run.get("stopped_early", False),
                "best": best or None}
    optimizer = {"lr": run["lr"], "iter": run.get("optimizer", {}).get("iter"),
                 "slots": [[a for (j, _), a in slots.items() if j == n] for n in range(1 + max((j for j, _ in slots),
                                                                                           default=-1))]}
    key, pos, has_gauss, gauss = run["np_random"]
    dropout = run["dropout"]
    if dropout and isinstance(dropout[0], list):  # an older fastrnn's: each process's generator states
        dropout = [progress["done"]] * len(dropout[0])  # a training step is one training forward of each layer
    entries = {k: a for k, a in arrays.items() if not re.fullmatch(r"(state_\d+_.+|best_\d+|average_\d+|"
                                                                    r"optimizer_\d+_\d+|np_random_keys)", k)}
    return RunState(run["settings"], run["corpus"], run["processes"], progress, optimizer, schedule,
                    _numbered(arrays, r"state_(\d+)_(.+)"), (key, arrays["np_random_keys"], pos, has_gauss, gauss),
                    dropout, entries, average)


def load(path) -> Checkpoint:
    """Read a checkpoint; raises OSError or params_file.ParamsError (not a
    checkpoint, or of another version)."""
    stored = params_file.read_params(path, formats=(params_file.CHECKPOINT_FORMAT,))
    entries = dict(stored.entries)
    try:
        run = json.loads(bytes(entries.pop("run")).decode())
    except (KeyError, ValueError):
        raise params_file.ParamsError(f"{path} is not a fastrnn checkpoint (no run document)") from None
    if run.get("version") != VERSION:
        raise params_file.ParamsError(f"{path} was written by fastrnn {run.get('fastrnn', '?')} (checkpoint version "
                                      f"{run.get('version')}); this fastrnn {__version__} resumes version {VERSION} "
                                      "only")
    try:
        state = _state(run, entries)
    except (KeyError, TypeError, ValueError):
        raise params_file.ParamsError(f"{path} is damaged: its run document lacks what a checkpoint holds") from None
    return Checkpoint(stored.arrays, stored.model, stored.words, state)


def load_latest(directory) -> tuple:
    """``(checkpoint, note)``: the checkpoint in ``directory``, or the one before it
    when that is missing or damaged (``note`` then says so; else None).  Raises
    FileNotFoundError when there is neither, and the newer one's error when
    neither can be read."""
    directory = Path(directory)
    try:
        return load(directory / NAME), None
    except (OSError, params_file.ParamsError) as newer:
        try:
            older = load(directory / PREVIOUS)
        except (OSError, params_file.ParamsError):
            raise newer from None
        why = "is missing" if isinstance(newer, FileNotFoundError) else f"cannot be used ({newer})"
        return older, (f"{directory / NAME} {why}; going on from the checkpoint before it, {PREVIOUS} "
                       f"(iteration {older.state.progress['done']})")
