"""Results files of ``python -m fastrnn.bench --save FILE``, and the tables the
documentation's benchmarks page is generated from.

A results file is one JSON object: ``commit`` (``git describe`` of the checkout
fastrnn was imported from, or fastrnn's version), ``date`` (UTC, ISO 8601),
``cpu`` (``machine.cpu()``'s line), ``kind`` (the machine kind: LLVM's name for
the CPU, and the bf16 engine where there is one), ``command`` (the command line
that measured it), ``settings`` (threads, blocks, calls, pause, ids),
``roofline_gflops``, ``columns`` and ``rows`` (the printed table's cells), and
optionally a ``note``.
The page keeps one table per kind: the newest file of each.
"""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

from . import machine


def commit() -> str:
    """``git describe --tags --always --dirty`` of fastrnn's checkout, or its version when not in one."""
    import fastrnn

    where = Path(fastrnn.__file__).resolve().parents[1]
    try:
        run = subprocess.run(["git", "-C", str(where), "describe", "--tags", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        run = None
    return run.stdout.strip() if run is not None and run.returncode == 0 and run.stdout.strip() else fastrnn.__version__


def record(cpu_line: str, settings: dict, roofline: float, columns: list, rows: list) -> dict:
    return {"commit": commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": cpu_line, "kind": machine.kind(), "command": "python -m fastrnn.bench " + " ".join(sys.argv[1:]),
            "settings": settings, "roofline_gflops": round(roofline, 1), "columns": columns, "rows": rows}


def save(path: Path, results: dict) -> None:
    from ..params_file import atomic_write

    atomic_write(Path(path), lambda f: f.write(json.dumps(results, indent=1).encode() + b"\n"))


def newest_by_kind(directory: Path) -> dict:
    """{kind: results} of the newest results file of each kind in ``directory``."""
    newest = {}
    for path in sorted(Path(directory).glob("*.json")):
        results = json.loads(path.read_text())
        held = newest.get(results["kind"])
        if held is None or results["date"] > held["date"]:
            newest[results["kind"]] = results
    return newest


def markdown(results: dict) -> str:
    """A kind's section: what ran where, then the table."""
    s = results["settings"]
    lines = [f"### {results['kind']}", "",
             f"`{results['command']}` at `{results['commit']}`, {results['date'][:10]}, on {results['cpu']}; "
             f"{s['threads']} threads each, medians of {s['blocks']} blocks x {s['calls']} calls, {s['ids']} word "
             f"ids. Roofline: NumPy's BLAS on the large product at {results['roofline_gflops']} GFLOP/s."
             + (f" ({results['note']}.)" if results.get("note") else ""), "",
             "| " + " | ".join(results["columns"]) + " |", "|" + "|".join(" --- " for _ in results["columns"]) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in results["rows"]]
    return "\n".join(lines) + "\n"
