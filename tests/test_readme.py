"""The README stays true: its example outputs are what attncli prints, and its error table covers the catalogue."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import cli
from test_errors import CATALOGUE

README = Path(__file__).resolve().parent.parent / "README.md"


def console_blocks():
    if not README.exists():
        return []
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n\$ (.+?)\n(.*?)```", text, re.S)
    return [(command, output) for command, output in blocks if "|" not in command]


@pytest.mark.skipif(not README.exists(), reason="README not beside the tests (installed elsewhere)")
def test_readme_has_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert "<!-- run-command -->" in text and "<!-- test-command -->" in text
    assert 'attncli run "She ate the apple"' in text


@pytest.mark.parametrize("command, output", console_blocks(), ids=[c for c, _ in console_blocks()])
def test_readme_example_output_is_current(command, output):
    args = shlex.split(command)
    assert args[0] == "attncli"
    out = cli(*args[1:])
    assert out.code == 0
    assert out.stdout.rstrip() == output.rstrip()


@pytest.mark.skipif(not README.exists(), reason="README not beside the tests")
def test_readme_error_table_covers_the_catalogue():
    text = README.read_text(encoding="utf-8")
    for name, _config, _args, _code, expected in CATALOGUE:
        assert f"| {name} |" in text, name
        assert expected.replace("|", "\\|") in text, expected
