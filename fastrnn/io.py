"""Parameter files: fastrnn's own ``.npz`` format, written atomically, and the
reference's ``.pkl`` files, read safely.

A params file is a NumPy ``.npz`` archive holding ``param_0 ... param_{k-1}``
in ``model.params`` order, each in its own dtype, and ``format`` (the string
``fastrnn-params-1``) and ``model`` (the class name).  It is read with
``allow_pickle=False``: loading a file never runs code.

The reference saves a pickled list of float16 arrays.  A pickle can name any
callable to run while it loads; ``read_reference_pickle`` resolves only the
three names NumPy arrays need and refuses every other one before it is called.
"""
from __future__ import annotations

import io as _io
import os
import pickle
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


def _multiarray():
    """NumPy's ``multiarray`` module (``numpy._core`` since NumPy 2, ``numpy.core`` before)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1
        from numpy.core import multiarray
    return multiarray


_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): lambda: _multiarray()._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): lambda: _multiarray()._reconstruct,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that can build NumPy arrays and nothing else."""

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a params pickle holds "
                                         "NumPy arrays only")
        return _ALLOWED[module, name]()


def read_reference_pickle(path) -> list:
    """The list of arrays in a reference ``.pkl`` params file, read without running code."""
    with open(path, "rb") as f:
        data = f.read()
    arrays = _ArraysOnly(_io.BytesIO(data)).load()
    if not isinstance(arrays, (list, tuple)) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ValueError(f"{path} does not hold a list of arrays")
    return list(arrays)


def read_params(path) -> tuple:
    """(arrays, model name) of a params file: fastrnn's ``.npz`` (the name it
    stores) or the reference's ``.pkl`` (name None), read without running code."""
    with open(path, "rb") as f:
        is_pickle = f.read(1) == b"\x80" or str(path).endswith(".pkl")  # an .npz starts with PK
    if is_pickle:
        return read_reference_pickle(path), None
    with np.load(path, allow_pickle=False) as z:
        if "format" not in z.files or str(z["format"]) != FORMAT:
            raise ValueError(f"{path} is not a fastrnn params file ({FORMAT})")
        return [z[f"param_{i}"] for i in range(sum(k.startswith("param_") for k in z.files))], str(z["model"])


def assign(path, params: Sequence[np.ndarray], arrays: Sequence[np.ndarray]) -> None:
    """Copy ``arrays`` (read from ``path``) into ``params`` in place, cast to each
    param's dtype (identities are kept), once all of them fit."""
    if len(arrays) != len(params):
        raise ValueError(f"{path} holds {len(arrays)} params, the model has {len(params)}")
    for i, (p, a) in enumerate(zip(params, arrays)):
        if a.dtype.kind != "f":
            raise ValueError(f"{path}: param {i} has dtype {a.dtype}, expected floating point")
        if p.shape != a.shape:
            raise ValueError(f"{path}: param {i} has shape {a.shape}, the model's is {p.shape}")
    for p, a in zip(params, arrays):
        p[...] = a


def load_params(path, params: Sequence[np.ndarray], model: str) -> None:
    """Copy the arrays of ``path`` (fastrnn ``.npz`` of ``model``, or reference
    ``.pkl``) into ``params`` in place."""
    arrays, stored = read_params(path)
    if stored is not None and stored != model:
        raise ValueError(f"{path} holds params of {stored}, not {model}")
    assign(path, params, arrays)
