"""When a build starts: writes ``_generated/benchmark-tables.md`` from the results
files in ``docs/benchmarks/`` (the newest table of each machine kind,
``fastrnn.bench.results``), so no figure on the benchmarks page is copied by hand,
and publishes the asv results kept in ``asv_benchmarks/results/`` as the site's
``asv/`` dashboard (``asv publish``), its scripts copied beside it from npm."""
import re
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


VENDORED = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}
"""The scripts and style asv's dashboard loads from CDNs, and the npm packages that hold
them (stupidtable 1.0.1 is not on npm: 1.1.3, the same plugin): copied beside the
dashboard, so that it renders without reaching a CDN."""


def vendor(html: Path, cache: Path) -> bool:
    """Copy ``VENDORED``'s files into ``html/vendor`` (npm packs, kept in ``cache``) and
    point the dashboard's pages at them; False (the CDN links kept) without npm."""
    import tarfile

    npm = shutil.which("npm")
    if npm is None:
        return False
    cache.mkdir(parents=True, exist_ok=True)
    (html / "vendor").mkdir(exist_ok=True)
    local = {}
    for url, (package, member) in VENDORED.items():
        name, version = package.rsplit("@", 1)
        tgz = cache / f"{name}-{version}.tgz"
        if not tgz.is_file():
            run = subprocess.run([npm, "pack", package, "--silent"], cwd=cache, capture_output=True, text=True)
            if run.returncode != 0 or not tgz.is_file():
                return False
        target = html / "vendor" / f"{name}-{Path(member).name}"
        with tarfile.open(tgz) as tar:
            target.write_bytes(tar.extractfile(f"package/{member}").read())
        local[url] = f"vendor/{target.name}"
    for page in html.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        for url, path in local.items():
            text = text.replace(f'"{url}"', f'"{path}"')
        text = re.sub(r'\s+integrity="[^"]*"', "", text)  # the CDN's hashes: not of these copies
        page.write_text(text, encoding="utf-8")
    return True


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
        vendor(html, src / "_generated" / "npm")
    else:
        html.mkdir(parents=True)
        (html / "index.html").write_text(NO_RESULTS)


def setup(app):
    app.connect("builder-inited", write)
    app.connect("config-inited", publish_asv)  # before Sphinx looks for html_extra_path
    return {"parallel_read_safe": True, "parallel_write_safe": True}
