"""Sphinx configuration of the API reference (``make docs``; ``make test`` builds it with warnings as errors).

Sphinx with autodoc + napoleon because jaxsge's docstrings are reStructuredText (``literals``,
:func:`roles`); autosummary walks the whole package, so a new module appears without editing
this file.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import jaxsge  # noqa: E402

project = "jaxsge"
author = "jaxsge developers"
version = release = jaxsge.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated/**/.*"]
autosummary_generate = True
autosummary_ignore_module_all = True
# Document what each module defines (not what it re-exports: the package's __all__ names are
# documented once, in the module that defines them).
autodoc_default_options = {"members": True, "ignore-module-all": True, "member-order": "bysource"}
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "alabaster"
html_title = f"jaxsge {release} API reference"
