"""Paths and files of the ``fastrnn`` commands: output directories (made, probed,
locked), the cache, params files and the models they hold, text converted to ids."""
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


def hold_lock(out: Path, option: str) -> None:
    """Hold ``out/.fastrnn.lock`` (an advisory lock, released when this process
    ends) so that two runs never write the same directory; it names the holder.
    Then remove what writes of a killed run left half done (their temporary files,
    and no other file)."""
    import fcntl

    from .. import checkpoint, io

    path = out / ".fastrnn.lock"
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
        for stale in io.stale_temporaries(out, checkpoint.OUTPUTS):
            stale.unlink()
    except OSError as e:
        raise UserError(f"{option} {out}: cannot write there ({e.strerror})") from None


_LOCKS = []
"""Descriptors of the locks this process holds (open until it ends)."""


def refuse_to_replace(out: Path) -> None:
    """A new run must not overwrite a run in ``out``: one that could go on, or a
    finished one (``--resume --epochs N`` extends it), unless ``--overwrite``."""
    from .. import checkpoint, io

    try:
        ck, _ = checkpoint.load_latest(out)
    except (OSError, io.ParamsError):  # none, or none readable: nothing to lose
        return
    p = ck.run["position"]
    if ck.run.get("finished"):
        raise UserError(f"--out {out} holds a finished run ({p['epoch']} epochs): extend it with: fastrnn train "
                        f"--resume {out} --epochs N, or give another --out, or --overwrite to start over there")
    raise UserError(f"--out {out} holds a run stopped in epoch {p['epoch'] + 1} at iteration {p['iteration']}: "
                    f"go on with it with: fastrnn train --resume {out}, or give another --out, or --overwrite to "
                    "start over there")


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
