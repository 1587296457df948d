"""Parameter files: fastrnn's own ``.npz`` format, written atomically, and the
reference's ``.pkl`` files, read safely.

A params file is a NumPy ``.npz`` archive holding ``param_0 ... param_{k-1}``
in ``model.params`` order, each in its own dtype, ``format`` (the string
``fastrnn-params-1``), ``model`` (the class name) and ``checksum`` (SHA-256 of
every other entry's name, dtype, shape and bytes); a file written by
``fastrnn train`` also holds ``words`` (the vocabulary, one word a line, as
UTF-8 bytes) and ``settings`` (JSON).  A checkpoint (``fastrnn.training.checkpoint``) has
the same entries and more, so it reads as a params file too.  Files are read
with ``allow_pickle=False``: loading a file never runs code.  Before an entry is
read, its declared shape must match its stored size (a damaged or crafted
header cannot make a reader allocate more than the file holds), and after, the
entries must match the checksum (files of fastrnn before 0.x carry none).

The reference saves a pickled list of float16 arrays.  A pickle can name any
callable to run while it loads; ``read_reference_pickle`` resolves only the
three names NumPy arrays need and refuses every other one before it is called.
"""
from __future__ import annotations

import errno
import hashlib
import io as _io
import json
import math
import os
import pickle
import re
import stat
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

FORMAT = "fastrnn-params-1"
CHECKPOINT_FORMAT = "fastrnn-checkpoint-1"


class ParamsError(ValueError):
    """A file that is not a readable params file, or params that do not fit a model."""


def atomic_write(path, write: Callable, keep=None) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, flush it to
    disk, and rename it over ``path`` (then flush the directory entry): a reader
    never sees a half-written file, and after a crash at any moment ``path`` holds
    either its old or its new content.  With ``keep``, the old content becomes
    ``keep`` first, through a hard link, so ``path`` exists at every moment
    (``keep``: the content before the old one, or the old one); on a file system
    without hard links it is renamed there, and a crash before the second rename
    leaves the old content in ``keep`` alone."""
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
        if keep is not None and path.exists():
            _keep(path, Path(keep))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def stale_temporaries(directory: Path, names) -> list:
    """The temporary files ``atomic_write`` of a file called one of ``names`` in
    ``directory`` may have left (a killed process leaves them): ``.NAME.XXXXXXXX.tmp``
    (``tempfile.mkstemp``'s eight characters) and ``.NAME.link.tmp``.  No other file."""
    pattern = re.compile("|".join(rf"\.{re.escape(n)}\.([a-z0-9_]{{8}}|link)\.tmp" for n in names))
    return [p for p in Path(directory).glob(".*.tmp") if pattern.fullmatch(p.name)]


def _keep(path: Path, keep: Path) -> None:
    """Make ``keep`` hold ``path``'s content, ``path`` left in place: a hard link
    beside ``keep`` renamed over it (a rename where links are not supported)."""
    link = keep.with_name(f".{keep.name}.link.tmp")  # one left by a crash is replaced
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        os.replace(path, keep)
        return
    os.replace(link, keep)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_finite(arrays: Sequence[np.ndarray], what: str = "params") -> None:
    """Raise ValueError when an array holds NaN or infinity."""
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{what}[{i}] holds non-finite values: not written")


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), np.uint8)


def save_params(path, params: Sequence[np.ndarray], model: str, words: Sequence[str] | None = None,
                settings: dict | None = None, extra: dict | None = None, fmt: str = FORMAT, keep=None) -> None:
    """Write params (finite values only) with the model's name, a checksum and,
    when given, its vocabulary ``words``, its ``settings`` and ``extra`` arrays,
    atomically (``keep``: see ``atomic_write``)."""
    check_finite(params)
    arrays = {f"param_{i}": np.asarray(p) for i, p in enumerate(params)}
    if words is not None:
        arrays["words"] = _text_array("\n".join(words))
    if settings is not None:
        arrays["settings"] = _text_array(json.dumps(settings))
    arrays.update(extra or {})
    arrays.update(format=np.array(fmt), model=np.array(model))
    arrays["checksum"] = np.array(checksum(arrays))
    atomic_write(path, lambda f: np.savez(f, **arrays), keep)


def checksum(entries: dict) -> str:
    """SHA-256 of the entries' names, dtypes, shapes and bytes (``checksum`` itself
    left out), in name order."""
    h = hashlib.sha256()
    for name in sorted(entries):
        if name == "checksum":
            continue
        a = np.asarray(entries[name])
        b = a if a.flags.c_contiguous else a.T if a.flags.f_contiguous else np.ascontiguousarray(a)
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(memoryview(b.reshape(-1).view(np.uint8)) if b.size else b"")
    return h.hexdigest()


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
    try:
        arrays = _ArraysOnly(_io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        if "refused" in str(e):
            raise
        raise ParamsError(f"{path} is not a readable params pickle ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError, OverflowError) as e:
        raise ParamsError(f"{path} is not a readable params pickle (truncated or damaged: "
                          f"{type(e).__name__})") from None
    if not isinstance(arrays, (list, tuple)) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ParamsError(f"{path} does not hold a list of arrays")
    return list(arrays)


@dataclass
class ParamsFile:
    """What a params file holds: the arrays in ``model.params`` order, the model's
    name (None in a reference pickle), and, when stored, the vocabulary and the
    training run's settings.  ``entries`` gives a checkpoint's other arrays."""

    arrays: list
    model: str | None
    words: list | None = None
    settings: dict | None = None
    format: str | None = None
    entries: dict | None = None


def _text(z, key: str) -> str | None:
    return bytes(z[key]).decode("utf-8") if key in z else None


def _check_headers(z, path) -> None:
    """Raise ParamsError when an entry's declared dtype and shape do not fill its
    stored size exactly (read before the entry is: nothing is allocated for it)."""
    fmt = np.lib.format
    for info in z.zip.infolist():
        name = info.filename.removesuffix(".npy")
        if info.compress_type != zipfile.ZIP_STORED:  # a compressed entry could expand without bound
            raise ParamsError(f"{path}: its entry {name} is compressed; fastrnn's params files are not")
        with z.zip.open(info) as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
            if dtype.hasobject or f.tell() + dtype.itemsize * math.prod(shape) != info.file_size:
                raise ParamsError(f"{path} is damaged: its entry {name} declares {shape} values of {dtype}, "
                                  f"which is not what it stores")


def read_params(path, formats: tuple = (FORMAT, CHECKPOINT_FORMAT)) -> ParamsFile:
    """The params of fastrnn's ``.npz`` files (of the given formats) or of the
    reference's ``.pkl``, read without running code.  Raises OSError when the
    file cannot be opened and ParamsError when it is not such a file (or not a
    regular file: a FIFO would block a reader for ever)."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        raise ParamsError(f"{path} is not a regular file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise ParamsError(f"{path} is empty")
    if head[:1] == b"\x80" or str(path).endswith(".pkl"):
        return ParamsFile(read_reference_pickle(path), None)
    if head != b"PK\x03\x04":
        raise ParamsError(f"{path} is not a params file (neither fastrnn's .npz nor the reference's .pkl)")
    try:
        with np.load(path, allow_pickle=False) as z:
            _check_headers(z, path)
            entries = {k: z[k] for k in z.files}
    except ParamsError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError, NotImplementedError, RuntimeError,
            struct.error) as e:  # what zipfile and np.load raise on damaged bytes (a flag: NotImplementedError)
        raise ParamsError(f"{path} is not a readable params file (truncated or damaged: {e})") from None
    fmt = str(entries["format"]) if "format" in entries else None
    if fmt not in formats:
        raise ParamsError(f"{path} is not a fastrnn params file" if fmt is None else
                          f"{path} has format {fmt}; this fastrnn reads {', '.join(formats)}")
    if "checksum" in entries and str(entries["checksum"]) != checksum(entries):
        raise ParamsError(f"{path} is damaged: its contents do not match its checksum")
    try:
        arrays = [entries.pop(f"param_{i}") for i in range(sum(k.startswith("param_") for k in entries))]
        words, settings = _text(entries, "words"), _text(entries, "settings")
        others = {k: v for k, v in entries.items() if k not in ("format", "model", "words", "settings", "checksum")}
        return ParamsFile(arrays, str(entries["model"]), None if words is None else words.split("\n"),
                          None if settings is None else json.loads(settings), fmt, others)
    except (KeyError, ValueError) as e:
        raise ParamsError(f"{path} is not a readable params file (truncated or damaged: {e})") from None


def assign(path, params: Sequence[np.ndarray], arrays: Sequence[np.ndarray]) -> None:
    """Copy ``arrays`` (read from ``path``) into ``params`` in place, cast to each
    param's dtype (identities are kept), once all of them fit."""
    if len(arrays) != len(params):
        raise ParamsError(f"{path} holds {len(arrays)} params, the model has {len(params)}")
    for i, (p, a) in enumerate(zip(params, arrays)):
        if a.dtype.kind != "f":
            raise ParamsError(f"{path}: param {i} has dtype {a.dtype}, expected floating point")
        if p.shape != a.shape:
            raise ParamsError(f"{path}: param {i} has shape {a.shape}, the model's is {p.shape}")
    for p, a in zip(params, arrays):
        p[...] = a


def load_params(path, params: Sequence[np.ndarray], model: str, entries: dict | None = None) -> None:
    """Copy the arrays of ``path`` (fastrnn ``.npz`` of ``model``, or reference
    ``.pkl``) into ``params`` in place, once the file holds the same ``entries``
    (the model's other arrays, such as an adaptive head's settings and word order)."""
    stored = read_params(path)
    if stored.model is not None and stored.model != model:
        raise ParamsError(f"{path} holds params of {stored.model}, not {model}")
    for key, value in (entries or {}).items():
        held = (stored.entries or {}).get(key)
        if held is None or held.shape != value.shape or not np.array_equal(held, value):
            raise ParamsError(f"{path} was not saved by a model with this {key.replace('_', ' ')}"
                              + ("" if held is not None else f" (it holds no {key.replace('_', ' ')})"))
    assign(path, params, stored.arrays)
