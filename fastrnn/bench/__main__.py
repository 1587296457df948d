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
import multiprocessing.spawn as mp_spawn
import os
import statistics
import sys
import time
from pathlib import Path

from ..kernels.gemm import BF16
from . import results
from .cases import CASES, IDS, flops
from .machine import cpu
from .worker import worker


AGAINST = "fastrnn@against"
"""The contender ``--against`` names: fastrnn in another Python environment."""
OWN = "fastrnn@own"
"""The contender ``--own-products`` names: fastrnn with every float product on its own core (``FASTRNN_PRODUCTS=own``)."""


def measure(case: str, contenders: list, threads: int, blocks: int, calls: int, pause: float,
            ids: str = "uniform", against: str | None = None) -> tuple:
    """(median seconds per call, peak resident MB) of each contender, timed in
    alternating blocks; AGAINST runs in the interpreter ``against``, OWN with
    FASTRNN_PRODUCTS=own."""
    ctx = mp.get_context("spawn")
    workers = {}
    for name in contenders:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, name.partition("@")[0], case, threads, ids), daemon=True)
        if name == AGAINST:
            mp_spawn.set_executable(against)
        saved = os.environ.get("FASTRNN_PRODUCTS")
        if name == OWN:
            os.environ["FASTRNN_PRODUCTS"] = "own"
        try:
            proc.start()
        finally:
            mp_spawn.set_executable(sys.executable)
            if name == OWN and saved is None:
                os.environ.pop("FASTRNN_PRODUCTS")
            elif name == OWN:
                os.environ["FASTRNN_PRODUCTS"] = saved
        workers[name] = (parent, proc)
    peaks = {}
    try:
        for parent, _ in workers.values():
            parent.recv()
        times = {name: [] for name in contenders}
        for _ in range(blocks):
            for name, (parent, _) in workers.items():
                time.sleep(pause)
                parent.send(calls)
                times[name] += parent.recv()
        return {name: statistics.median(t) if t else None for name, t in times.items()}, peaks
    finally:
        for name, (parent, proc) in workers.items():
            parent.send(None)
            peaks[name] = parent.recv() if parent.poll(10) else None
            proc.join(timeout=10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES),
                        default=[c for c in CASES if c not in ("large_product", "adaptive_250k", "adaptive_250k_c2")
                                 and (BF16 or CASES[c].get("precision", "fp32") == "fp32")],
                        help="default: all but large_product (the roofline, always measured), the 250k cases, and "
                             "the _bf16 ones on a CPU without AVX512_BF16")
    parser.add_argument("--ids", choices=IDS, default="uniform",
                        help="word ids of the model cases: uniform over the vocabulary, or Zipf-distributed like text")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="consecutive calls a block")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between blocks")
    parser.add_argument("--no-numpy", action="store_true", help="leave out the (slow) NumPy design")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the results to FILE (JSON, stamped "
                        "with the commit, the date and the CPU: fastrnn.bench.results; the docs' benchmarks page "
                        "is made from docs/benchmarks/*.json)")
    parser.add_argument("--against", metavar="PYTHON",
                        help="also time the fastrnn installed for this Python interpreter (another commit's "
                             "environment, say), in a column of its own")
    parser.add_argument("--own-products", action="store_true",
                        help="also time fastrnn with every float product on its own core (FASTRNN_PRODUCTS=own), in "
                             "a column of its own: the price of results that do not depend on the BLAS kernel")
    args = parser.parse_args(argv)
    if not BF16 and any(CASES[c].get("precision", "fp32") != "fp32" for c in args.cases):
        parser.error("the _bf16 cases need a CPU with AVX512_BF16, which this one has not")

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
    if args.own_products:
        contenders.insert(1, OWN)
    if args.against:
        contenders.insert(1, AGAINST)
        print(f"{AGAINST}: the fastrnn of {args.against}")
    cpu_line = cpu()
    print(f"{cpu_line}; {args.threads} threads each; medians of {args.blocks} blocks x {args.calls} calls, "
          f"alternating, {args.pause} s pauses; {args.ids} word ids", flush=True)
    roof = measure("large_product", ["numpy"], args.threads, args.blocks, args.calls, args.pause)[0]["numpy"]
    roof = flops("large_product") / roof / 1e9
    print(f"roofline: NumPy's BLAS makes the large product {'x'.join(map(str, CASES['large_product']['product']))} "
          f"at {roof:.1f} GFLOP/s on {args.threads} threads, {roof / args.threads:.1f} a core", flush=True)
    names = ([c + " ms" for c in contenders] + ["x vs " + c for c in contenders[1:]] + ["GFLOP/s", "of roofline"]
             + ["fastrnn MB"])
    table, rows = Table(["case", *names], args.markdown), []
    for case in args.cases:
        med, peak = measure(case, contenders, args.threads, args.blocks, args.calls, args.pause, args.ids,
                            args.against)
        row = [f"{med[c] * 1e3:.2f}" if med[c] else "-" for c in contenders]
        row += [f"{med[c] / med['fastrnn']:.2f}" if med[c] else "-" for c in contenders[1:]]
        rate = flops(case) / med["fastrnn"] / 1e9 if flops(case) else None
        row += [f"{rate:.1f}", f"{rate / roof:.0%}"] if rate else ["", ""]
        row += [f"{peak['fastrnn']:,.0f}" if peak.get("fastrnn") else "-"]
        table.row([case, *row])
        rows.append([case, *row])
    print("x vs C: C's median time over fastrnn's (above 1: fastrnn is faster); GFLOP/s: fastrnn's, layer and "
          "product cases; of roofline: that rate over the roofline's; fastrnn MB: peak resident memory of "
          "fastrnn's process")
    if args.save:
        settings = {k: getattr(args, k) for k in ("threads", "blocks", "calls", "pause", "ids")}
        results.save(args.save, results.record(cpu_line, settings, roof, ["case", *names], rows))
        print(f"results: {args.save}")
    return 0


class Table:
    """Rows printed as they come: aligned text, or Markdown."""

    def __init__(self, header: list, markdown: bool):
        self.markdown = markdown
        self.widths = [max(12, len(h) + 2) for h in header]
        self.row(header)
        if markdown:
            print("|" + "|".join(" --- " for _ in header) + "|")

    def row(self, cells: list) -> None:
        if self.markdown:
            print("| " + " | ".join(cells) + " |", flush=True)
        else:
            print(f"{cells[0]:<14}" + "".join(f"{c:>{w}}" for c, w in zip(cells[1:], self.widths[1:])), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
