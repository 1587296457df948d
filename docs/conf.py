"""Sphinx configuration of fastrnn's documentation site (``sphinx-build -W docs docs/_build``).

MyST Markdown pages; the API reference from the docstrings (autodoc); the
command-line reference written from ``fastrnn.cli.build_parser`` at every build
(``reference/cli.md``, not kept in git), so it cannot drift from the parsers; the
benchmarks page's tables from the results files in ``docs/benchmarks/``.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import fastrnn  # noqa: E402

project = "fastrnn"
author = "The fastrnn developers"
copyright = "2026, The fastrnn developers"
release = version = fastrnn.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "cli_reference", "benchmarks_page"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_generated", "benchmarks"]
html_theme = "furo"
html_title = f"fastrnn {release}"
html_static_path = []
html_extra_path = ["_generated/extra"]  # the asv dashboard, as asv/
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"
nitpicky = False
suppress_warnings = ["myst.xref_missing"] if os.environ.get("FASTRNN_DOCS_LAX") else []
