"""``python -m fastrnn.bench``: throughput of fastrnn beside PyTorch and the NumPy design.

Each contender runs in its own process with the same thread count.  The parent
asks them in turn for blocks of consecutive calls, pausing between blocks, so
that no library's spinning worker threads slow the one timed next; it reports
medians over all calls and the ratios of the medians from this one run.
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import platform
import statistics
import time

from .cases import CASES, flops
from .worker import worker


def measure(case: str, contenders: list, threads: int, blocks: int, calls: int, pause: float) -> dict:
    """Median seconds per call of each contender, timed in alternating blocks."""
    ctx = mp.get_context("spawn")
    workers = {}
    for name in contenders:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, name, case, threads), daemon=True)
        proc.start()
        workers[name] = (parent, proc)
    try:
        for parent, _ in workers.values():
            parent.recv()
        times = {name: [] for name in contenders}
        for _ in range(blocks):
            for name, (parent, _) in workers.items():
                time.sleep(pause)
                parent.send(calls)
                times[name] += parent.recv()
        return {name: statistics.median(t) if t else None for name, t in times.items()}
    finally:
        for parent, proc in workers.values():
            parent.send(None)
            proc.join(timeout=10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="consecutive calls a block")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between blocks")
    parser.add_argument("--no-numpy", action="store_true", help="leave out the (slow) NumPy design")
    args = parser.parse_args(argv)

    # The workers start from the user's environment, not fastrnn's OpenMP
    # setting; importing fastrnn makes it again, and the workers of other
    # libraries take it back before those load their OpenMP runtime.
    from fastrnn._threads import OMP_DEFAULTS
    for name in OMP_DEFAULTS:
        os.environ.pop(name, None)

    contenders = ["fastrnn"]
    if importlib.util.find_spec("torch") is not None:
        contenders.append("torch")
    else:
        print("PyTorch is not installed: no PyTorch column")
    if not args.no_numpy:
        contenders.append("numpy")
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads each; medians of "
          f"{args.blocks} blocks x {args.calls} calls, alternating, {args.pause} s pauses")
    header = f"{'case':<12}" + "".join(f"{c + ' ms':>12}" for c in contenders) + "".join(
        f"{'x vs ' + c:>14}" for c in contenders[1:]) + f"{'GFLOP/s':>10}"
    print(header)
    for case in args.cases:
        med = measure(case, contenders, args.threads, args.blocks, args.calls, args.pause)
        row = f"{case:<12}" + "".join(f"{med[c] * 1e3:>12.2f}" if med[c] else f"{'-':>12}" for c in contenders)
        row += "".join(f"{med[c] / med['fastrnn']:>14.2f}" if med[c] else f"{'-':>14}" for c in contenders[1:])
        row += f"{flops(case) / med['fastrnn'] / 1e9:>10.1f}" if flops(case) else ""
        print(row, flush=True)
    print("x vs C: C's median time over fastrnn's (above 1: fastrnn is faster); GFLOP/s: fastrnn's, layer cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
