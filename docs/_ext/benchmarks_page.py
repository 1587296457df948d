"""When a build starts: writes ``_generated/benchmark-tables.md`` from the results
files in ``docs/benchmarks/`` (the newest table of each machine kind,
``fastrnn.bench.results``), so no figure on the benchmarks page is copied by hand,
and publishes the asv results kept in ``asv_benchmarks/results/`` as the site's
``asv/`` dashboard (``asv publish``)."""
import shutil
import subprocess
import sys
from pathlib import Path

NO_RESULTS = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>fastrnn asv</title></head>
<body><p>No asv results are kept yet: <code>cd asv_benchmarks && asv run</code> makes them.</p>
<p><a href="../index.html">fastrnn</a></p></body></html>
"""


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


def publish_asv(app, config=None) -> None:
    """``asv publish`` of the kept results into ``_generated/extra/asv`` (the site's ``asv/``)."""
    src = Path(app.srcdir)
    suite, html = src.parent / "asv_benchmarks", src / "_generated" / "extra" / "asv"
    shutil.rmtree(html, ignore_errors=True)
    if any((suite / "results").glob("*/*.json")):
        run = subprocess.run([sys.executable, "-m", "asv", "publish", "--no-pull"], cwd=suite,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError("asv publish failed:\n" + run.stdout + run.stderr)
    else:
        html.mkdir(parents=True)
        (html / "index.html").write_text(NO_RESULTS)


def setup(app):
    app.connect("builder-inited", write)
    app.connect("config-inited", publish_asv)  # before Sphinx looks for html_extra_path
    return {"parallel_read_safe": True, "parallel_write_safe": True}
