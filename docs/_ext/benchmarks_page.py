"""Writes ``_generated/benchmark-tables.md`` from the results files in
``docs/benchmarks/`` when a build starts: the newest table of each machine kind
(``fastrnn.bench.results``), so no figure on the benchmarks page is copied by hand."""
from pathlib import Path


def text(directory: Path) -> str:
    from fastrnn.bench.results import markdown, newest_by_kind

    newest = newest_by_kind(directory)
    if not newest:
        return "No results files yet: `python -m fastrnn.bench --save docs/benchmarks/NAME.json` makes one.\n"
    return "\n".join(markdown(newest[k]) for k in sorted(newest))


def write(app) -> None:
    src = Path(app.srcdir)
    path = src / "_generated" / "benchmark-tables.md"
    path.parent.mkdir(exist_ok=True)
    new = text(src / "benchmarks")
    if not path.is_file() or path.read_text() != new:
        path.write_text(new)


def setup(app):
    app.connect("builder-inited", write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
