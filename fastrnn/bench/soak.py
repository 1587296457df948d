"""``python -m fastrnn.bench.soak``: a run killed at random moments, resumed each time.

Trains once without a stop (``fastrnn train ARGS --out DIR/whole``), then runs
the same training in ``DIR/soak`` and sends it SIGKILL at a random moment,
``--kills`` times (each time ``fastrnn train --resume`` goes on; until the
first checkpoint exists, the run starts over), lets the last resume finish,
and compares the two runs' params and checkpoints bit for bit.  Prints one
line: the kills, the checkpoints the stops fell back to, the times, and
whether the params are identical.
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import params_file
from ..training import checkpoint
from .machine import cpu

FASTRNN = [sys.executable, "-m", "fastrnn"]


def soak(args: list, kills: int, low: float, high: float, where: Path, seed: int) -> dict:
    """Kill a run ``kills`` times, each after a random time in [low, high) seconds."""
    rng = random.Random(seed)
    start = time.perf_counter()
    subprocess.run([*FASTRNN, "train", *args, "--out", str(where / "whole")], check=True, capture_output=True)
    whole_s = time.perf_counter() - start
    out, done, positions = where / "soak", 0, []
    start = time.perf_counter()
    while done < kills:
        resumable = (out / checkpoint.NAME).exists() or (out / checkpoint.PREVIOUS).exists()
        command = ["train", "--resume", str(out)] if resumable else ["train", *args, "--out", str(out)]
        proc = subprocess.Popen([*FASTRNN, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(low, high))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        if proc.returncode == 0:
            break
        if proc.returncode != -signal.SIGKILL:
            raise RuntimeError(f"fastrnn {' '.join(command)} exited {proc.returncode}: {err.decode()}")
        done += 1
        try:
            positions.append(checkpoint.load_latest(out)[0].run["position"]["done"])
        except (OSError, params_file.ParamsError):
            positions.append(0)
    subprocess.run([*FASTRNN, "train", "--resume", str(out)], check=True, capture_output=True)
    soak_s = time.perf_counter() - start
    same = all(np.array_equal(a, b) for a, b in zip(params_file.read_params(where / "whole" / "params.npz").arrays,
                                                    params_file.read_params(out / "params.npz").arrays))
    ck1, ck2 = checkpoint.load(where / "whole" / checkpoint.NAME), checkpoint.load(out / checkpoint.NAME)
    same = same and all(np.array_equal(a, b) for a, b in zip(ck1.params, ck2.params)) and all(
        np.array_equal(ck1.arrays[k], ck2.arrays[k]) for k in ck1.arrays)
    return {"kills": done, "positions": positions, "whole_s": whole_s, "soak_s": soak_s, "identical": same}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--after", type=float, nargs=2, default=(4.0, 12.0), metavar=("LOW", "HIGH"),
                        help="seconds from a start to its kill, drawn uniformly")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--dir", type=Path, help="where the two runs go (default: a temporary directory)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER,
                        help="after --: the arguments of fastrnn train (default: --epochs 1 --checkpoint-every 100)")
    a = parser.parse_args(argv)
    train_args = [x for x in a.train_args if x != "--"] or ["--epochs", "1", "--checkpoint-every", "100"]
    where = a.dir or Path(tempfile.mkdtemp(prefix="fastrnn-soak-"))
    try:
        r = soak(train_args + ["--no-progress"], a.kills, *a.after, where, a.seed)
    finally:
        if a.dir is None:
            shutil.rmtree(where, ignore_errors=True)
    print(f"fastrnn train {' '.join(train_args)}: {r['kills']} kills (SIGKILL after {a.after[0]:g}-{a.after[1]:g} s), "
          f"resumed from iterations {', '.join(map(str, r['positions']))}; uninterrupted {r['whole_s']:.0f} s, "
          f"killed and resumed {r['soak_s']:.0f} s; params and checkpoint "
          + ("bit-identical" if r["identical"] else "DIFFERENT") + f" ({cpu()})")
    return 0 if r["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
