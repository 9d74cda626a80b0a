"""The web guides' code runs: the admin guide, and the examples for Flask,
Django and FastAPI (each guide one script, top to bottom)."""

from __future__ import annotations

import pytest

from test_guides import guide_code


def test_the_admin_guide_runs() -> None:
    pytest.importorskip("starlette")
    exec(compile(guide_code("admin.rst"), "admin.rst", "exec"), {"__name__": "guide"})


def test_the_web_applications_guide_runs() -> None:
    for package in ("flask", "fastapi", "starlette"):
        pytest.importorskip(package)
    exec(compile(guide_code("web-applications.rst"), "web-applications.rst", "exec"), {"__name__": "guide"})
