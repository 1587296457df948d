"""Parameter files: fastrnn's own ``.npz`` format, written atomically.

A params file is a NumPy ``.npz`` archive holding ``param_0 ... param_{k-1}``
in ``model.params`` order, each in its own dtype, and ``format`` (the string
``fastrnn-params-1``) and ``model`` (the class name).  It is read with
``allow_pickle=False``: loading a file never runs code.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

FORMAT = "fastrnn-params-1"


def atomic_write(path, write: Callable) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it
    over ``path``: a reader never sees a half-written file, even if the process dies."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is not what a plain open gives
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_params(path, params: Sequence[np.ndarray], model: str) -> None:
    arrays = {f"param_{i}": np.asarray(p) for i, p in enumerate(params)}
    atomic_write(path, lambda f: np.savez(f, format=np.array(FORMAT), model=np.array(model), **arrays))


def load_params(path, params: Sequence[np.ndarray], model: str) -> None:
    """Copy the arrays of ``path`` into ``params`` in place (identities are kept)."""
    with np.load(path, allow_pickle=False) as z:
        if "format" not in z.files or str(z["format"]) != FORMAT:
            raise ValueError(f"{path} is not a fastrnn params file ({FORMAT})")
        if str(z["model"]) != model:
            raise ValueError(f"{path} holds params of {z['model']}, not {model}")
        arrays = [z[f"param_{i}"] for i in range(sum(k.startswith("param_") for k in z.files))]
    if len(arrays) != len(params):
        raise ValueError(f"{path} holds {len(arrays)} params, the model has {len(params)}")
    for i, (p, a) in enumerate(zip(params, arrays)):
        if p.shape != a.shape:
            raise ValueError(f"{path}: param {i} has shape {a.shape}, the model's is {p.shape}")
    for p, a in zip(params, arrays):
        p[...] = a
