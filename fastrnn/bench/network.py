"""``python -m fastrnn.bench.network``: data-parallel training over a network.

Two processes of one thread each (``mpiexec -n 2 fastrnn train --threads 1
--batch-per-process 20``) train one model over shared memory and over TCP through links shaped to the
given speeds, in a private network namespace of this machine (root and
``unshare``; ``tc``'s token bucket on the loopback, whose one queue both
directions share: a link of R is ``tbf rate 2R``).  MPICH takes TCP there
when told ``MPIR_CVAR_NOLOCAL=1 MPIR_CVAR_CH4_NETMOD=ofi FI_PROVIDER=tcp`` (libfabric's
maintained TCP provider; its older ``sockets`` one works too).
Each line gives the median words/s of the report lines after the first two,
its ratio to shared memory, the bytes each process sums a step and the seconds
the update waited for the sums (``--log``'s ``allreduce_*_per_step``), with
the gradients summed while the backward pass goes on (``overlap``) and after it.

The models: ``better`` on the Penn Treebank's training text (full softmax,
10,000 words), ``better`` with the adaptive head on a Zipf-distributed text of
50,000 words (``fastrnn.bench.corpus``; the same text every run) and ``rnnlm``
on PTB.  With ``--hosts FILE`` the processes run on real hosts instead (no
shaping, no root; the text must be at the same path on each).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .machine import cpu, openblas_kernels

ROWS, TIME = 20, 35
"""Rows of each process (``--batch-per-process``) and time steps of a batch."""
TCP = {"MPIR_CVAR_NOLOCAL": "1", "MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp"}
"""What makes MPICH send over TCP between processes of one machine."""
MODELS = {
    "better": ["--model", "better", "--lr-schedule", "none"],
    "better-adaptive": ["--model", "better", "--lr-schedule", "none", "--head", "adaptive"],
    "rnnlm": ["--model", "rnnlm"],
}
"""Each model's options (``--lr-schedule none``: no validation between the measured steps)."""


def texts(directory: Path) -> dict:
    """The training text of each model, written once into ``directory``."""
    from ..datasets import ptb
    from .corpus import write_corpus

    ptb_text = directory / "ptb.train.txt"
    if not ptb_text.exists():
        ids, _, id_to_word = ptb.load_data("train")
        words = [id_to_word[i] for i in ids]
        ptb_text.write_text(" ".join("\n" if w == "<eos>" else w for w in words).replace(" \n ", "\n"))
    zipf = directory / "zipf50k.txt"
    if not zipf.exists():
        write_corpus(zipf, 1_000_000, distinct=50_000, seed=0)
    return {"better": ptb_text, "better-adaptive": zipf, "rnnlm": ptb_text}


def link_command(command: list, gbits: float | None) -> tuple:
    """(command, environment) of ``command`` over shared memory (None) or a link of ``gbits``."""
    env = dict(os.environ)
    if gbits is None:
        return command, env
    env.update(TCP)
    shaped = (f"ip link set lo up && tc qdisc add dev lo root tbf rate {2 * gbits * 1000:.0f}mbit burst 1mb "
              "latency 10ms && exec \"$@\"")
    return ["unshare", "-n", "sh", "-c", shaped, "sh", *command], env


def run(model: str, text: Path, cache: Path, gbits: float | None, overlap: bool, precision: str, iters: int,
        hosts=None) -> dict:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
    fastrnn = str(Path(sys.executable).with_name("fastrnn"))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        train = [fastrnn, "train", *MODELS[model], "--train-file", str(text), "--cache-dir", str(cache),
                 "--epochs", "1", "--max-iters", str(iters), "--eval-interval", "5", "--threads", "1",
                 "--batch-per-process", str(ROWS), "--time-size", str(TIME),
                 "--no-progress", "--log", str(log), "--overlap" if overlap else "--no-overlap",
                 "--grad-precision", precision]
        launch = [mpiexec, "-n", "2", *(["-f", str(hosts)] if hosts else [])]
        command, env = link_command(launch + train, gbits)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if r["event"] == "train"][2:]  # after warm-up
    return {"words/s": statistics.median(r["words_per_s"] for r in steps),
            "MB/step": statistics.median(r["allreduce_bytes_per_step"] for r in steps) / 1e6,
            "wait ms": 1000 * statistics.median(r["allreduce_wait_s_per_step"] for r in steps)}


LATENCY_S = 20e-6
"""The projection's latency of one message between machines (Ethernet and MPI over TCP)."""


def comm_seconds(nbytes: float, n: int, gbits: float, latency: float = LATENCY_S) -> float:
    """The cost model of a ring allreduce of ``nbytes`` over ``n`` machines on links
    of ``gbits``: 2(n-1)/n x bytes / bandwidth + 2(n-1) x latency."""
    return 2 * (n - 1) / n * nbytes * 8 / (gbits * 1e9) + 2 * (n - 1) * latency


def step_seconds(compute: float, comm: float, hidden: float, overlap: bool) -> float:
    """A step of ``compute`` seconds whose sums take ``comm``: after the backward pass
    (no overlap), or while its last ``hidden`` seconds go on."""
    return compute + (max(0.0, comm - hidden) if overlap else comm)


MACHINES = (8, 32, 128)
"""The projection's cluster sizes, each at 10 and 100 Gbit/s."""


def project(rows: list, words_per_step: int) -> list:
    """The model's check and projection, as dicts of ``precision``, ``overlap``,
    ``machines``, ``gbits``, ``measured`` (None for a projection) and ``predicted``
    words/s of all machines: ``compute`` from shared memory, ``hidden`` fitted
    to the slowest link with overlap, every other link predicted; then ``MACHINES``."""
    shm = {(r["overlap"], r["precision"]): r for r in rows if r["gbits"] is None}
    tcp = [r for r in rows if r["gbits"] is not None]
    lines = []
    for (overlap, precision), base in shm.items():
        compute = words_per_step / base["words/s"]
        mine = sorted((r for r in tcp if (r["overlap"], r["precision"]) == (overlap, precision)),
                      key=lambda r: r["gbits"])
        if not mine:
            continue
        slowest = mine[0]
        comm = comm_seconds(slowest["MB/step"] * 1e6, 2, slowest["gbits"])
        hidden = compute + comm - words_per_step / slowest["words/s"] if overlap else 0.0
        case = {"overlap": overlap, "precision": precision}
        for r in mine[1:]:
            t = step_seconds(compute, comm_seconds(r["MB/step"] * 1e6, 2, r["gbits"]), hidden, overlap)
            lines.append(dict(case, machines=2, gbits=r["gbits"], measured=r["words/s"], predicted=words_per_step / t))
        for n in MACHINES:
            for gbits in (10, 100):
                t = step_seconds(compute, comm_seconds(base["MB/step"] * 1e6, n, gbits), hidden, overlap)
                lines.append(dict(case, machines=n, gbits=gbits, measured=None,
                                  predicted=n * words_per_step / 2 / t))
    return lines


def plot(model: str, lines: list, words_per_machine: float, path: Path) -> None:
    """Projected words/s of all machines against machines, with overlap, a line for
    each transfer and link: on the left as words/s (log-log, beside linear scaling
    from ``words_per_machine``), on the right as a share of linear scaling."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (total, share) = plt.subplots(1, 2, figsize=(10, 4))
    total.plot(MACHINES, [n * words_per_machine for n in MACHINES], "k:", label="linear (no network)")
    for precision in ("fp32", "bf16"):
        for gbits in (10, 100):
            points = [(x["machines"], x["predicted"]) for x in lines if x["overlap"] and x["machines"] > 2
                      and (x["precision"], x["gbits"]) == (precision, gbits)]
            if points:
                label = f"{precision} transfer, {gbits} Gbit/s"
                total.plot(*zip(*points), marker="o", label=label)
                share.plot([n for n, _ in points], [100 * w / (n * words_per_machine) for n, w in points],
                           marker="o", label=label)
    total.set_yscale("log")
    total.set_ylabel("words/s of all machines")
    share.set_ylabel("% of linear scaling")
    share.set_ylim(0, 110)
    for ax in (total, share):
        ax.set_xscale("log", base=2)
        ax.set_xticks(MACHINES, [str(n) for n in MACHINES])
        ax.set_xlabel("machines (one process of one thread each)")
        ax.grid(True, which="both", alpha=0.3)
    total.legend(fontsize="small")
    fig.suptitle(f"{model}: projected from 2 processes over shaped links (overlap on)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def measure(models: list, links: list, precisions: list, repeats: int, run_one) -> dict:
    """{(model, gbits, precision, overlap): the median of each figure over ``repeats``
    rounds}; every round runs each case once, in turn (the machine's drift then
    touches every case alike).  ``run_one(model, gbits, overlap, precision)`` is one run."""
    cases = [(m, g, p, o) for m in models for g in links for p in precisions for o in (False, True)]
    runs = {case: [] for case in cases}
    for _ in range(repeats):
        for model, gbits, precision, overlap in cases:
            runs[model, gbits, precision, overlap].append(run_one(model, gbits, overlap, precision))
    return {case: {k: statistics.median(r[k] for r in got) for k in got[0]} for case, got in runs.items()}


def print_tables(model: str, results: dict, hosts: bool, plot_dir: Path | None = None) -> None:
    """The runs of ``model`` against shared memory, then (shaped links) the model's check
    and projection, plotted into ``plot_dir`` when given."""
    print("| model | link | transfer | overlap | words/s | vs shared memory, same overlap | vs shared memory, "
          "no overlap | MB a step | wait ms a step |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for (name, gbits, precision, overlap), r in results.items():
        if name != model:
            continue
        rows.append(dict(r, gbits=gbits, overlap=overlap, precision=precision))
        same = results[model, None, precision, overlap]["words/s"]
        plain = results[model, None, precision, False]["words/s"]
        link = ("hosts" if hosts else "shared memory") if gbits is None else f"TCP {gbits:g} Gbit/s"
        print(f"| {model} | {link} | {precision} | {'yes' if overlap else 'no'} | {r['words/s']:,.0f} | "
              f"{r['words/s'] / same:.2f}x | {r['words/s'] / plain:.2f}x | {r['MB/step']:.1f} | {r['wait ms']:.1f} |")
    if hosts:
        return
    print(f"\n{model}: the model (ring allreduce, {LATENCY_S * 1e6:g} us a message; overlap hides the "
          "sums behind the backward pass's last seconds, fitted on the slowest link)")
    print("| transfer | overlap | link, machines | measured words/s (model's error) | model words/s (all machines) |")
    print("| --- | --- | --- | --- | --- |")
    lines = project(rows, 2 * ROWS * TIME)
    for x in lines:
        shown = f"{x['gbits']:g} Gbit/s, {x['machines']} {'processes' if x['measured'] else 'machines'}"
        measured = "-" if x["measured"] is None else f"{x['measured']:,.0f} ({x['predicted'] / x['measured'] - 1:+.0%})"
        print(f"| {x['precision']} | {'yes' if x['overlap'] else 'no'} | {shown} | {measured} | {x['predicted']:,.0f} |")
    if plot_dir is not None:
        one = max(r["words/s"] for (name, gbits, _, _), r in results.items() if name == model and gbits is None) / 2
        plot(model, lines, one, plot_dir / f"network-{model}.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.network", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--gbits", nargs="+", type=float, default=[25, 10, 1], help="link speeds (Gbit/s)")
    parser.add_argument("--iters", type=int, default=32, help="steps of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (its figures are their medians)")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"],
                        help="how the gradients travel (--grad-precision)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "fastrnn-network-bench",
                        help="where the texts and their cache are kept")
    parser.add_argument("--hosts", type=Path, help="an mpiexec hosts file: run on real hosts (no shaping)")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write network-MODEL.png of the projection there")
    args = parser.parse_args(argv)
    if args.hosts is None and (os.geteuid() != 0 or shutil.which("unshare") is None):
        parser.error("shaping a link needs root and unshare (or give --hosts FILE for real hosts)")
    args.dir.mkdir(parents=True, exist_ok=True)
    corpus = texts(args.dir)
    print(f"{cpu()}; {openblas_kernels()}; 2 processes x 1 thread; medians of {args.repeats} runs a case", flush=True)
    links = [None] if args.hosts else [None, *args.gbits]

    def run_one(model, gbits, overlap, precision):
        return run(model, corpus[model], args.dir / "cache", gbits, overlap, precision, args.iters, args.hosts)

    results = measure(args.models, links, args.precisions, args.repeats, run_one)
    for model in args.models:
        print_tables(model, results, args.hosts is not None, args.plot)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
