"""Two processes over TCP through a shaped link (a private network namespace of
this machine): the overlapped sums give the params of shared memory and of one
process, bit for bit.  Speed is the network bench's (``fastrnn.bench.network``)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from cli_support import FASTRNN, fastrnn
from fastrnn.bench.network import link_command
from fastrnn.params_file import read_params
from test_parallel import MPIEXEC, needs_mpi


def can_shape() -> str | None:
    """Why a shaped link cannot be made here (None: it can)."""
    if os.geteuid() != 0:
        return "a private network namespace needs root"
    if shutil.which("unshare") is None or shutil.which("tc") is None or shutil.which("ip") is None:
        return "needs unshare, ip and tc"
    command, env = link_command(["true"], 1.0)
    probe = subprocess.run(command, env=env, capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot shape a link here: {probe.stderr.strip()[:200]}"


ARGS = ("train", "--model", "better", "--wordvec-size", 24, "--hidden-size", 24, "--epochs", 1,
        "--max-iters", 12, "--eval-interval", 4, "--lr-schedule", "none", "--seed", 2, "--no-progress")


@needs_mpi
def test_over_tcp_with_overlap_the_params_are_one_process(tmp_path):
    why = can_shape()
    if why is not None:
        print(f"skipped: {why}")
        pytest.skip(why)
    fastrnn(*ARGS, "--out", tmp_path / "one")
    runs = {"shm": None, "tcp": 1.0}
    for name, gbits in runs.items():
        command, env = link_command([MPIEXEC, "-n", "2", FASTRNN, *map(str, ARGS), "--overlap", "--out",
                                     str(tmp_path / name)], gbits)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    one = read_params(tmp_path / "one" / "params.npz").arrays
    for name in runs:
        for x, y in zip(one, read_params(tmp_path / name / "params.npz").arrays, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)
