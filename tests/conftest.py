"""Shared helpers: run the CLI in-process and parse its JSON from stdout only; one cache home per session.

Every test sees ``XDG_CACHE_HOME`` set to a folder of this session's own, so nothing reads or writes
``~/.cache`` and no test depends on what an earlier run left there. SmolLM2's dequantized cache
(attncli.models.cache) is built there at most once per session, by the ``smol_cache`` fixture (about
20-60 s on two cores); tests that need the GGUF model ask for it.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch  # noqa: F401  (imported once, quietly)

from attncli.cli import app

# No example may fail for being slow: the machine is shared (two cores, other runs beside this one).
# Tests that set their own settings(...) inherit this deadline unless they name one.
settings.register_profile("attncli", deadline=None)
settings.load_profile("attncli")

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"  # optional: test_seeds.py skips without it


class Run:
    def __init__(self, result):
        self.result = result
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr

    @property
    def json(self):
        return json.loads(self.stdout)

    def __repr__(self) -> str:  # shown by pytest on failure
        return f"<exit {self.code}\nstdout: {self.stdout[:2000]}\nstderr: {self.stderr[:2000]}>"


def cli(*args: str, input: str | None = None, env: dict | None = None) -> Run:
    """Invoke attncli in-process; exceptions propagate so a crash is a test failure."""
    runner = CliRunner()
    result = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
    return Run(result)


def run_json(*args: str, **kwargs) -> dict:
    out = cli(*args, "--json", **kwargs)
    assert out.code == 0, out
    return out.json


def assert_close(actual, expected, tol: float) -> None:
    """Nested lists compared element by element (None must match None)."""
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected):
            assert_close(a, e, tol)
    elif expected is None:
        assert actual is None
    else:
        assert actual is not None and math.isclose(actual, expected, rel_tol=0, abs_tol=tol), (actual, expected)


@pytest.fixture
def tmp_config(tmp_path):
    def write(text: str, name: str = "config.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    os.environ.pop("ATTNCLI_DEBUG", None)


@pytest.fixture(scope="session", autouse=True)
def _session_cache_home(tmp_path_factory):
    """XDG_CACHE_HOME for the whole session (subprocesses inherit it); tests of the cache itself set their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture(scope="session")
def smol_cache(_session_cache_home):
    """SmolLM2's cache entry in the session's cache home, built once (later loads of ``smollm2`` reuse it)."""
    from attncli.models import cache

    return cache.ensure("smollm2", progress=lambda *args: None)
