"""Paths and files of the ``fastrnn`` commands: directories made and probed, the
cache, text converted to ids."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .options import UserError


def absolute(path: Path, option: str) -> Path:
    """``path`` made absolute, its links resolved (a link loop is the user's mistake)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: Python 3.11's "Symlink loop"
        raise UserError(f"{option} {path}: {getattr(e, 'strerror', None) or e}") from None


def writable_dir(path: Path, option: str) -> Path:
    """``path`` created if needed, once a file can be written in it (probed with a
    file of a random name, created exclusively: a planted link is not followed)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".fastrnn-probe-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise UserError(f"{option} {path}: exists and is not a directory") from None
    except OSError as e:
        raise UserError(f"{option} {path}: cannot write there ({e.strerror or e})") from None
    return path


def cache_dir_of(cache_dir) -> Path:
    """The cache directory a command uses (``--cache-dir``, else the default of
    ``fastrnn.datasets.text.cache_root``), once it can be written."""
    from ..datasets import text

    try:
        root = text.cache_root(cache_dir)
    except text.CacheError as e:
        raise UserError(str(e)) from None
    return writable_dir(root, "--cache-dir" if cache_dir is not None else "the cache directory (give --cache-dir)")


def corpus_step(option: str, path, step):
    """``step()``, which reads text file ``path`` (and writes the cache); its errors
    as one line naming ``option`` (a cache's, the cache)."""
    from ..datasets import text

    try:
        return step()
    except text.CacheError as e:
        raise UserError(str(e)) from None
    except text.CorpusError as e:
        raise UserError(f"{option} {e}") from None
    except OSError as e:
        raise UserError(f"{option} {path}: {e.strerror or e}") from None


def convert_text(path: Path, vocab, cache_dir, progress, option: str, verify: bool = False):
    """The ids of text file ``path`` under ``vocab`` (converted once, then cached; with
    ``verify`` the cache is trusted only for the same SHA-256)."""
    from ..datasets import text

    done = corpus_step(option, path, lambda: text.convert(path, vocab, cache_dir, progress, verify))
    if done.seconds is not None:
        print(f"converted {path}: {done.tokens:,} {text.UNITS[vocab.tokens]} "
              f"({done.unks / done.tokens:.1%} <unk>) in "
              f"{done.seconds:.1f} s", flush=True)
    return done
