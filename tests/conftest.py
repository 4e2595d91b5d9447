"""Shared helpers: run the CLI in-process and parse its JSON from stdout only."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch  # noqa: F401  (imported once, quietly)

from attncli.cli import app

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"


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
