"""The documentation site builds with ``mkdocs build --strict``: no broken link or anchor, every
page of docs/ in the nav (mkdocs.yml's validation settings make those warnings, strict makes them
failures). mkdocs and mkdocs-material come with the test extra, so this never skips in CI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (ROOT / "mkdocs.yml").exists(), reason="mkdocs.yml not beside the tests")
def test_the_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None and os.environ.get("CI") != "true":
        pytest.skip("mkdocs is not installed (pip install '.[test]'); under CI=true this fails instead")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").exists()
    for page in sorted((ROOT / "docs").glob("*.md")):
        name = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert (site / name).exists(), f"docs/{page.name} was not built"
