"""The documentation site: built with Sphinx, warnings as errors, then opened in
headless Chromium: the pages render, every internal link resolves, and the search
finds TimeLSTM."""
import fcntl
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytest.importorskip("sphinx", reason="the docs extra (sphinx, myst-parser, furo) is not installed")
pytest.importorskip("myst_parser", reason="the docs extra (sphinx, myst-parser, furo) is not installed")
pytest.importorskip("furo", reason="the docs extra (sphinx, myst-parser, furo) is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    lock = ROOT / "docs" / "_generated" / ".build.lock"  # a build writes docs/_generated: one worker at a time
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                              "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
                             capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr  # no warning
    return out / "html"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "link", "img", "script"):
                self.hrefs.append(attrs[key])


def parsed(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_every_internal_link_resolves(site):
    pages = {p: parsed(p) for p in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for href in links.hrefs:
            url = urlsplit(href)
            if url.scheme or url.netloc or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {href}")
            elif (url.fragment and not url.fragment.startswith("/")  # "#/...": a route of asv's scripts
                  and target.suffix == ".html" and url.fragment not in pages[target].ids):
                broken.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert len(pages) > 15 and not broken, broken


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def rendered(url: str, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("page,expected", [
    ("index.html", ["from fastrnn.time_layers import *", "Quick start", "Python API"]),
    ("reference/api.html", ["fastrnn.time_layers.TimeLSTM", "fastrnn.models.BetterRnnlm", "eval_perplexity"]),
    ("reference/cli.html", ["fastrnn train", "--max-time", "--variable-bptt", "fastrnn score"]),
    ("benchmarks.html", ["python -m fastrnn.bench", "better_step"]),
])
def test_pages_render_in_chromium(served, tmp_path, page, expected):
    dom = rendered(f"{served}/{page}", tmp_path)
    text = re.sub(r"<[^>]+>", "", dom)
    assert all(e in text for e in expected), [e for e in expected if e not in text]


def test_the_benchmarks_page_has_the_newest_table_of_each_kind(site, tmp_path):
    """The page's tables come from docs/benchmarks/*.json, one a machine kind; of two
    files of one kind, the newer one's table is the one kept."""
    from fastrnn.bench.results import newest_by_kind

    files = sorted((ROOT / "docs" / "benchmarks").glob("*.json"))
    kinds = newest_by_kind(ROOT / "docs" / "benchmarks")
    page = re.sub(r"<[^>]+>", "", (site / "benchmarks.html").read_text(encoding="utf-8"))
    assert files and all(kind in page and results["rows"][0][1] in page for kind, results in kinds.items())
    held = json.loads(files[0].read_text())
    older = dict(held, kind="testkind", date="2000-01-01T00:00:00+00:00", rows=[["old_case", *held["rows"][0][1:]]])
    newer = dict(held, kind="testkind", date="2100-01-01T00:00:00+00:00", rows=[["new_case", *held["rows"][0][1:]]])
    (tmp_path / "a.json").write_text(json.dumps(newer))
    (tmp_path / "b.json").write_text(json.dumps(older))
    assert newest_by_kind(tmp_path)["testkind"]["rows"][0][0] == "new_case"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
def test_the_asv_dashboard_renders(site, served, tmp_path):
    """The asv results kept in asv_benchmarks/results/ appear as the site's dashboard,
    its scripts copied beside it (docs/_ext/benchmarks_page.py)."""
    if not (site / "asv" / "vendor").is_dir():
        pytest.skip("no npm here to copy the dashboard's scripts beside it (it loads them from CDNs then)")
    dom = rendered(f"{served}/asv/index.html", tmp_path)
    assert "TrainingStep.time_step" in dom and "bench_layers" in dom and "airspeed velocity error" not in dom


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
def test_search_finds_timelstm(served, tmp_path):
    dom = rendered(f"{served}/search.html?q=TimeLSTM", tmp_path)
    assert 'href="reference/api.html#fastrnn.time_layers.TimeLSTM"' in dom
