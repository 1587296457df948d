"""The processes of a training run: one, or several started by ``mpiexec``.

``world()`` returns ``Single`` unless the process was started by an MPI launcher
with more than one process (``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE`` or
``PMIX_SIZE`` above 1); only then is ``mpi4py`` imported (the optional extra
``pip install "fastrnn[mpi]"``).  Both offer the few collective operations
data-parallel training needs, on rank 0's terms: ``bcast`` and ``gather`` of
small Python objects, ``allgather`` of one to every process, ``abort`` (which
ends every process of the job); ``Reducer`` sums a step's grads.
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


POLL_S = 0.0002
"""Seconds between the tests that advance an overlapped sum while the backward
pass goes on (MPICH progresses a non-blocking collective only inside MPI calls;
sleeping between them leaves the cores to the backward pass)."""


def _wait(request, hurry) -> None:
    """Wait for ``request``: in one call when ``hurry`` is None or set, else testing it
    every ``POLL_S`` until it is done or ``hurry`` (a ``threading.Event``) is set."""
    while hurry is not None and not hurry.is_set():
        if request.Test():
            return
        time.sleep(POLL_S)
    request.Wait()


def to_bf16(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of float32 ``x`` (1-D), rounded to nearest
    even, in ``out`` when given (a serial kernel: it may run beside the training's)."""
    from .kernels.bf16 import round_row

    out = np.empty(x.size, np.uint16) if out is None else out
    round_row(x, out)
    return out


def from_bf16(h: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 values of bfloat16 bit patterns ``h`` (1-D), in ``out`` when given."""
    from .kernels.bf16 import widen

    out = np.empty(h.size, np.float32) if out is None else out
    widen(h, out)
    return out


def _sum_bf16(comm, buf: np.ndarray, hurry) -> None:
    """``buf`` (float32) = the sum over the processes of each one's ``buf`` rounded to
    bfloat16: each process gets one chunk from every process (bfloat16), sums them
    in float32 in rank order and sends the sum back, rounded to bfloat16; every
    process ends with the same values."""
    from mpi4py import MPI

    from .kernels.bf16 import sum_rounded

    n = comm.Get_size()
    chunk = -(-buf.size // n)
    send = np.zeros(n * chunk, np.uint16)
    to_bf16(buf, send[:buf.size])
    got = np.empty((n, chunk), np.uint16)
    _wait(comm.Ialltoall([send, MPI.UINT16_T], [got, MPI.UINT16_T]), hurry)
    total = np.empty(chunk, np.uint16)
    sum_rounded(got, total)
    sums = np.empty(n * chunk, np.uint16)
    _wait(comm.Iallgather([total, MPI.UINT16_T], [sums, MPI.UINT16_T]), hurry)
    from_bf16(sums[:buf.size], buf)


def _sum_bucket(comm, grads: list, buffers: list, extra: tuple, dtype, hurry=None, bf16: bool = False) -> tuple:
    """(summed grads, summed ``extra`` numbers, bytes of this process's part) of one bucket over
    ``comm``: dense grads summed in place, a ``fastrnn.sparse.RowGrad`` as the rows
    of every process's ids (a process adds zeros at the rows it lacks, as it would
    with the whole array, so the sum does not grow with the vocabulary).
    ``buffers`` holds the bucket's buffer between steps; ``hurry``: see ``_wait``;
    ``bf16``: the grads travel as bfloat16 (``_sum_bf16``), ``extra`` in float32 on its own."""
    from mpi4py import MPI

    from .sparse import RowGrad

    mine = [g.rows for g in grads if isinstance(g, RowGrad)]
    every = iter(zip(*comm.allgather(mine))) if mine else iter(())
    shared = [np.unique(np.concatenate(next(every))) if isinstance(g, RowGrad) else None for g in grads]
    parts = [g.values.shape[1] * rows.size if rows is not None else g.size for g, rows in zip(grads, shared)]
    size = sum(parts) + len(extra)
    if not buffers or buffers[0].size < size or buffers[0].dtype != dtype:  # room for row sets to double
        buffers[:] = [np.empty(size + sum(p for p, r in zip(parts, shared) if r is not None), dtype)]
    buf = buffers[0][:size]
    offset = 0
    for g, rows, n in zip(grads, shared, parts):
        segment = buf[offset:offset + n]
        if rows is None:
            segment[...] = g.reshape(-1)
        else:
            segment[...] = 0
            segment.reshape(rows.size, -1)[np.searchsorted(rows, g.rows)] = g.values
        offset += n
    buf[offset:] = extra
    if bf16:
        if offset:
            _sum_bf16(comm, buf[:offset], hurry)
        if extra:
            _wait(comm.Iallreduce(MPI.IN_PLACE, buf[offset:], op=MPI.SUM), hurry)
        sent = offset * 2 + buf[offset:].nbytes
    else:
        _wait(comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM), hurry)
        sent = buf.nbytes
    offset, out = 0, []
    for g, rows, n in zip(grads, shared, parts):
        segment = buf[offset:offset + n]
        if rows is None:
            g[...] = segment.reshape(g.shape)  # g may be a strided view: reshape(-1) would copy it
            out.append(g)
        else:
            out.append(RowGrad(rows, segment.reshape(rows.size, -1), g.dense))
        offset += n
    return out, tuple(float(x) for x in buf[offset:]), sent


class _Overlap:
    """A thread that sums buckets of grads in the order they come, on a communicator
    of its own, while the backward pass goes on (Numba's kernels and NumPy's
    products release the GIL): testing the sums every ``POLL_S`` until ``hurry``
    is set (the step waits for them), then waiting in MPI at full speed."""

    def __init__(self, comm):
        import queue
        import threading

        self.comm, self.jobs, self.hurry = comm.Dup(), queue.Queue(), threading.Event()
        threading.Thread(target=self._work, daemon=True, name="fastrnn-allreduce").start()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job["result"] = _sum_bucket(self.comm, job["grads"], job["buffers"], job["extra"],
                                            job["dtype"], self.hurry, job["bf16"])
            except BaseException as e:  # raised again in the waiting thread
                job["error"] = e
            job["done"].set()

    def start(self, grads: list, buffers: list, dtype, bf16: bool, extra: tuple = ()) -> dict:
        import threading

        job = {"grads": grads, "buffers": buffers, "extra": extra, "dtype": dtype, "bf16": bf16,
               "done": threading.Event()}
        self.jobs.put(job)
        return job

    @staticmethod
    def wait(job: dict) -> tuple:
        job["done"].wait()
        if "error" in job:
            raise job["error"]
        return job["result"]


class Reducer:
    """A training step's collective over ``world``: the grads (each process's
    scaled to its share of the batch), the loss and a flag, summed over the
    processes.  Without ``overlap`` in one bucket after the backward pass; with
    it, each bucket ``submit`` gets (a layer's final grads) starts summing at once
    on another thread, and the call sums the rest with the loss and the flag and
    waits for all.  Every element is the same sum either way: the same bits.
    ``precision="bf16"``: the grads travel as bfloat16 (``_sum_bf16``): half the
    bytes, every process with the same params, the bits no longer one process's."""

    def __init__(self, world, overlap: bool = False, precision: str = "fp32"):
        self.world, self.bf16 = world, precision == "bf16"
        self._overlap = _Overlap(world.comm) if overlap and world.size > 1 else None
        self._buffers, self._jobs = [], []
        self.sent = {"steps": 0, "bytes": 0, "wait_s": 0.0}
        """Since ``take_sent``: steps, bytes summed (each process's buffers) and seconds the
        step waited for the sums after its backward pass."""

    def take_sent(self) -> dict:
        """``sent`` per step, then reset: ``bytes`` and ``wait_s`` (None before a step)."""
        steps = self.sent["steps"]
        per_step = {k: (v / steps if steps else None) for k, v in self.sent.items() if k != "steps"}
        self.sent = {"steps": 0, "bytes": 0, "wait_s": 0.0}
        return per_step

    def _bucket_buffers(self, k: int) -> list:
        while len(self._buffers) <= k:
            self._buffers.append([])
        return self._buffers[k]

    def submit(self, grads: list) -> None:
        """Start summing ``grads``, final for this step (without overlap: nothing yet)."""
        if self._overlap is not None and grads:
            self._jobs.append(self._overlap.start(grads, self._bucket_buffers(len(self._jobs)), grads[0].dtype,
                                                  self.bf16))

    def __call__(self, grads: list, loss: float, flag: float) -> tuple:
        """(summed grads, summed loss, summed flag) of the step; dense grads are summed in place."""
        start = time.perf_counter()
        jobs, self._jobs = self._jobs, []
        started = {id(g) for job in jobs for g in job["grads"]}
        rest = [g for g in grads if id(g) not in started]
        dtype = grads[0].dtype
        if self._overlap is None:
            last = _sum_bucket(self.world.comm, rest, self._bucket_buffers(0), (loss, flag), dtype, None, self.bf16)
        else:
            self._overlap.hurry.set()
            try:
                last = _Overlap.wait(self._overlap.start(rest, self._bucket_buffers(len(jobs)), dtype, self.bf16,
                                                         (loss, flag)))
            finally:
                self._overlap.hurry.clear()
        summed, sent = {}, 0
        for job, (out, _, nbytes) in [(job, _Overlap.wait(job)) for job in jobs] + [({"grads": rest}, last)]:
            summed.update(zip(map(id, job["grads"]), out))
            sent += nbytes
        self.sent["steps"] += 1
        self.sent["bytes"] += sent
        self.sent["wait_s"] += time.perf_counter() - start
        return [summed[id(g)] for g in grads], *last[1]
