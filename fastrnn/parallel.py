"""The processes of a training run: one, or several started by ``mpiexec``.

``world()`` returns ``Single`` unless the process was started by an MPI launcher
with more than one process (``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE`` or
``PMIX_SIZE`` above 1); only then is ``mpi4py`` imported (the optional extra
``pip install "fastrnn[mpi]"``).  Both offer the few collective operations
data-parallel training needs, on rank 0's terms: ``allreduce_sum`` of a
contiguous float buffer, ``bcast`` and ``gather`` of small Python objects,
``allgather`` of one to every process, ``abort`` (which ends every process of
the job).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched_size() -> int:
    """Processes in the job by the launcher's environment (1 when not launched by MPI)."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


class Single:
    """The one process of a run that no MPI launcher started."""

    rank, size = 0, 1
    local_size = 1

    def allreduce_sum(self, buf: np.ndarray) -> None:
        pass

    def bcast(self, obj):
        return obj

    def gather(self, obj) -> list:
        return [obj]

    def allgather(self, obj) -> list:
        return [obj]

    def barrier(self) -> None:
        pass

    def abort(self, code: int) -> None:
        sys.exit(code)


class MPIWorld:
    """``MPI.COMM_WORLD`` of mpi4py."""

    def __init__(self):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.local_size = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()

    def allreduce_sum(self, buf: np.ndarray) -> None:
        """buf = the sum of every process's buf, in place."""
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def gather(self, obj) -> list | None:
        return self.comm.gather(obj, root=0)

    def allgather(self, obj) -> list:
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_GRACE)
        self.comm.Abort(code)


ABORT_GRACE = 0.5
"""Seconds an aborting process waits first: mpiexec forwards a process's output
as it comes, and an abort at once could lose the line that says why."""


class MPIUnavailable(RuntimeError):
    """Launched by mpiexec, but mpi4py cannot be imported."""


_world = None


def world():
    """The run's processes: ``Single``, or ``MPIWorld`` under an MPI launcher."""
    global _world
    if _world is None:
        size = launched_size()
        if size <= 1:
            _world = Single()
        else:
            try:
                _world = MPIWorld()
            except ImportError:
                raise MPIUnavailable(f"started by an MPI launcher with {size} processes, but mpi4py is not "
                                     "installed: pip install \"fastrnn[mpi]\"") from None
    return _world


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def share_of_cores(local_size: int) -> int:
    """Threads for each of ``local_size`` processes on one machine: its share of the cores."""
    return max(1, cores() // max(1, local_size))


def rows(rank: int, size: int, batch_size: int) -> slice:
    """The rows of a global batch that ``rank`` of ``size`` processes trains on."""
    return slice(rank * batch_size // size, (rank + 1) * batch_size // size)


class Reducer:
    """A training step's one collective over ``world``: the grads (each process's
    scaled to its share of the batch), the loss and a flag, summed over the
    processes in one buffer (kept between steps).  A ``fastrnn.sparse.RowGrad``
    goes as the rows of every process's ids (a process adds zeros at the rows
    it lacks, as it would with the whole array), so the sum does not grow with
    the vocabulary."""

    def __init__(self, world):
        self.world, self._buffer = world, None

    def __call__(self, grads: list, loss: float, flag: float) -> tuple:
        """(summed grads, summed loss, summed flag); dense grads are summed in place."""
        from .sparse import RowGrad

        mine = [g.rows for g in grads if isinstance(g, RowGrad)]
        every = iter(zip(*self.world.allgather(mine))) if mine else iter(())  # one collective for all
        shared = [np.unique(np.concatenate(next(every))) if isinstance(g, RowGrad) else None for g in grads]
        parts = [g.values.shape[1] * rows.size if rows is not None else g.size for g, rows in zip(grads, shared)]
        if self._buffer is None or self._buffer.size < sum(parts) + 2:
            self._buffer = np.empty(sum(parts) + 2 + sum(p for p, r in zip(parts, shared) if r is not None),
                                    grads[0].dtype)  # room for the row sets to double before it grows
        buf = self._buffer[:sum(parts) + 2]
        offset = 0
        for g, rows, n in zip(grads, shared, parts):
            segment = buf[offset:offset + n]
            if rows is None:
                segment[...] = g.reshape(-1)
            else:
                segment[...] = 0
                segment.reshape(rows.size, -1)[np.searchsorted(rows, g.rows)] = g.values
            offset += n
        buf[-2], buf[-1] = loss, flag
        self.world.allreduce_sum(buf)
        offset, out = 0, []
        for g, rows, n in zip(grads, shared, parts):
            segment = buf[offset:offset + n]
            if rows is None:
                g[...] = segment.reshape(g.shape)  # g may be a strided view: reshape(-1) would copy it
                out.append(g)
            else:
                out.append(RowGrad(rows, segment.reshape(rows.size, -1), g.dense))
            offset += n
        return out, float(buf[-2]), float(buf[-1])
