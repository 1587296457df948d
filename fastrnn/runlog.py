"""A training run's log: JSON lines, one record a report line or an evaluation,
each flushed as it is written.

A checkpoint records the log's length when it was written; a resumed run cuts
the log back to that length before it goes on, so the records of iterations
done after the checkpoint (and a line half-written by a killed process) are
not repeated: a stopped and resumed run's log is one continuous record.
Non-finite numbers are written as ``null`` (strict JSON has no infinity).
"""
from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path


class LogBusy(Exception):
    """Another process is writing the log."""


class RunLog:
    """The log at ``path``: emptied, or cut back to ``offset`` bytes (a resumed run),
    once this process holds its lock (``LogBusy`` when another one does; released
    when the log is closed or the process ends)."""

    def __init__(self, path, offset: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogBusy(f"{self.path}: another fastrnn train is writing it") from None
        self._file = os.fdopen(fd, "wb")
        self._file.truncate(min(offset, os.fstat(fd).st_size))
        self._file.seek(0, os.SEEK_END)

    def write(self, record: dict) -> None:
        """Append ``record`` as one line and flush it."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean, allow_nan=False).encode() + b"\n")
        self._file.flush()

    def offset(self) -> int:
        """Bytes written so far (where a resumed run goes on)."""
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def read(path) -> list:
    """The records of a log (a last line cut short is left out)."""
    records = []
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                records.append(json.loads(line))
    return records
