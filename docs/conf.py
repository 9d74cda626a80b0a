"""Sphinx configuration for the gitmodel documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors, so broken references and docstring markup fail the build).
"""

import os
import sys

# Document the source tree this file belongs to, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import gitmodel  # noqa: E402

project = "gitmodel"
author = "Ben Davis and the gitmodel authors"
copyright = "2012 Ben Davis; 2026 the gitmodel authors"
version = release = gitmodel.__version__

extensions = ["sphinx.ext.autodoc"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list = []
