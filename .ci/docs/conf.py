"""Sphinx configuration of the API reference (built by .ci/run).

The sources live under .ci/ because the repository's top level is fixed by the
design (pyproject.toml, README.md, acclip_optax/, tests/, examples/, colab/,
.ci/, benchmarks/). Build: python -m sphinx -W --keep-going -q -b html
.ci/docs build/docs
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)
# Importing the package for autodoc initialises JAX; keep it on the CPU and
# quiet so that a build never waits on accelerator probing.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "acclip-optax"
author = "acclip-optax developers"
copyright = "acclip-optax developers"  # pylint: disable=redefined-builtin

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style Args:/Returns:/Examples:
    "sphinx.ext.mathjax",  # .. math:: and :math: in the docstrings
    "sphinx.ext.viewcode",
    "myst_parser",  # README.md and the reproduction report
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

autodoc_default_options = {"show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_inherit_docstrings = False
# NamedTuple fields are documented by the class docstring, not one by one.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The README and the reproduction README link files of the repository by paths
# relative to themselves; the include makes them relative to this folder, so
# that Sphinx finds them (a page of this site, or a download), and a link to a
# file that does not exist still fails the build.
_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s]+)\)")


def _repository_links(app, relative_path, parent_docname, content):
  del parent_docname
  folder = os.path.dirname(os.path.join(app.srcdir, relative_path))

  def fix(match):
    target = os.path.normpath(os.path.join(folder, match.group(1)))
    if target == os.path.join(ROOT, "examples", "reproduce", "README.md"):
      return "](reproduction.md)"
    return "](" + os.path.relpath(target, app.srcdir) + ")"

  content[0] = _LINK.sub(fix, content[0])


def setup(app):
  app.connect("include-read", _repository_links)


html_theme = "alabaster"
html_title = "acclip-optax"
html_static_path: list[str] = []
