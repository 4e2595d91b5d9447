"""browse on a long text: a window of query rows, computed with the row path, the next one past an edge.

A tiny random Llama (tests/test_decoders.py builds it offline) with a limit on attention small enough
that its every row of every layer does not fit: the browser opens on a window of rows. The rows it
shows are transformers' own ``output_attentions`` rows (1e-5), moving the cursor past the window's
edge computes the next window, and nothing the window path allocates is N x N (every tensor the
forward and the window make is recorded by a TorchDispatchMode).
"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import cli
from test_decoders import HAVE, make_model, reference

pytest.importorskip("textual")
pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")

from attncli.browse import window  # noqa: E402
from attncli.browse.app import BrowseApp, Main, Title  # noqa: E402
from attncli.cli.options import AttentionOptions, ModelOptions  # noqa: E402
from test_browse import drive  # noqa: E402

TEXT = " ".join(["the cat sat on the mat because it was soft"] * 5)  # 50 tokens
N = 50
LIMIT_MB = 0.02  # the full weights need 0.15 MiB; a row of every layer's weights and scores 3,200 bytes
WINDOW = 6  # rows per window under that limit: 0.02 MiB // 3,200 bytes


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("window") / "llama", "llama")


@pytest.fixture(scope="module")
def full(folder):
    tokens, attentions = reference(folder, TEXT)
    assert len(tokens) == N
    return attentions  # L x (H, N, N), eager


@pytest.fixture()
def runner(folder):
    runner = ModelOptions(model=str(folder)).runner(AttentionOptions())
    runner.transformer.max_attention_mb = LIMIT_MB  # as a long text: the full weights do not fit
    return runner


def opened(runner, **kwargs):
    return window.load([("TEXT", TEXT)], runner, **kwargs)


def assert_rows(line, full, start: int, stop: int) -> None:
    assert (line.offset, line.stop) == (start, stop)
    assert line.weights.shape == (2, 4, stop - start, N)  # (L, H, W, N): the window's rows only
    for layer, expected in enumerate(full):
        torch.testing.assert_close(line.weights[layer], expected[:, start:stop], atol=1e-5, rtol=0)


def test_a_text_too_long_for_its_weights_opens_on_a_window(runner, full):
    data = opened(runner)
    line = data.lines[0]
    assert_rows(line, full, 0, WINDOW)
    assert line.rows == line.tokens[:WINDOW] and line.loads == 1
    assert "6 rows at a time" in data.notes[0]


def test_the_rows_shown_equal_output_attentions(runner, full):
    async def check(app, pilot):
        s = app.state
        assert s.marked(0) == 2 and s.queries[0] == 2
        row = torch.tensor(s.row(0))  # what the row list and the strip show: layer 1, head 3, token 2
        torch.testing.assert_close(row[:3], full[1][3, 2, :3], atol=1e-5, rtol=0)
        assert all(v == -math.inf for v in row[3:].tolist())  # a causal row: the later keys are masked
        matrix = s.matrix(0)  # (W, N): row i is token i, masked past its diagonal
        assert matrix.shape == (WINDOW, N) and matrix[WINDOW - 1, WINDOW - 1] > 0 and matrix[0, 1] == -math.inf
        assert "rows 0-5 of 50" in str(app.query_one(Title).render())

    drive(BrowseApp(opened(runner), layer=1, head=3), ["right", "right"], check=check)


async def until(pilot, done, seconds: float = 30.0) -> None:
    """Wait for the window computed after a timer (a slow machine may need more than a moment)."""
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await pilot.pause(0.05)
    assert done()


def test_moving_past_the_edge_computes_the_next_window(runner, full):
    async def check(app, pilot):
        s = app.state
        assert "computing rows 6-11 of 50" in app.status  # said before the window is computed
        await until(pilot, lambda: s.panes()[0].loads == 2)
        line = s.panes()[0]
        assert_rows(line, full, WINDOW, 2 * WINDOW)  # the next window, computed with the row path
        assert line.loads == 2 and s.marked(0) == WINDOW and s.queries[0] == 0
        torch.testing.assert_close(torch.tensor(s.row(0))[:WINDOW + 1], full[0][0, WINDOW, :WINDOW + 1],
                                   atol=1e-5, rtol=0)
        assert "rows 6-11 of 50" in str(app.query_one(Title).render())
        assert f"{WINDOW:>4} " in "".join(seg.text for line_ in app.query_one(Main).lines() for seg in line_)
        await pilot.press("left")  # back past the first row: the window that ends there
        await until(pilot, lambda: line.loads == 3)
        assert_rows(s.panes()[0], full, 0, WINDOW)
        assert s.marked(0) == WINDOW - 1 and line.loads == 3

    drive(BrowseApp(opened(runner), layer=0, head=0), ["right"] * WINDOW, check=check)


def test_find_and_rows_and_focus_open_where_asked(runner, full):
    data = opened(runner, rows="20:23")
    assert_rows(data.lines[0], full, 20, 23)
    data = opened(runner, focus="40")  # centred on the focus row
    assert_rows(data.lines[0], full, 40 - WINDOW // 2, 40 + WINDOW - WINDOW // 2)
    state = BrowseApp(data).state  # on the window's first row, token 37
    state.find("soft")  # the next "soft": token 39, in this window
    assert state.marked(0) == 39 and data.lines[0].loads == 1
    state.find("soft")  # token 49, past the window: the last window is computed
    assert state.marked(0) == 49 and data.lines[0].loads == 2
    assert_rows(data.lines[0], full, N - WINDOW, N)


def test_the_last_window_ends_at_the_last_token(runner, full):
    data = opened(runner, focus="-1")
    assert_rows(data.lines[0], full, N - WINDOW, N)
    state = BrowseApp(data).state
    state.set_query(0, 10**6)  # clamped at the end, as the cursor stops there
    state.move_query(1)
    assert state.marked(0) == N - 1 and data.lines[0].loads == 1


def test_nothing_the_window_path_allocates_is_n_by_n(runner):
    """Every tensor made while a window is computed (the model's forward included) is recorded."""
    from torch.utils._python_dispatch import TorchDispatchMode

    sizes: list[tuple[int, ...]] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    sizes.append(tuple(t.shape))
            return out

    line = opened(runner).lines[0]
    with Record():
        line.slide(30)  # a window in the middle: one forward and its rows
    assert line.offset == 30 - WINDOW // 2 and sizes
    largest = max(math.prod(shape) for shape in sizes)
    assert largest <= 2 * 4 * WINDOW * N  # O(window x N): the stacked (L, H, W, N) weights
    assert not [shape for shape in sizes if sum(1 for d in shape if d >= N) >= 2]  # no (.., N, N) tensor
    sizes.clear()
    runner.transformer.max_attention_mb = 4096  # the full path, for contrast: a layer's (H, N, N) weights
    with Record():
        runner.run(TEXT)
    assert max(math.prod(shape) for shape in sizes) >= 4 * N * N


def test_measures_rollout_and_the_json_of_a_window(runner, full):
    app = BrowseApp(opened(runner), layer=1, head=0)
    s = app.state
    note = s.cycle_measure()
    assert s.measure == "weights" and "norm skipped: norm needs every row of every layer" in note
    assert "rollout needs every row" in s.toggle("rollout")
    s.set_query(0, 8)  # token 8: the window 5..10
    doc = s.document()
    assert doc["browse"]["rows"] == [5, 11] and doc["browse"]["query"] == 3
    assert doc["focus"] == list(range(5, 11)) and len(doc["weights"][0]) == WINDOW  # run --rows 5:11's layout
    torch.testing.assert_close(torch.tensor(doc["weights"]), full[1][:, 5:11], atol=1e-5, rtol=0)


def test_a_text_that_fits_is_browsed_whole(folder):
    runner = ModelOptions(model=str(folder)).runner(AttentionOptions())
    line = window.load([("TEXT", TEXT)], runner).lines[0]
    assert not hasattr(line, "slide") and line.weights.shape == (2, 4, N, N)


@pytest.mark.parametrize("args, expected", [
    (["--rows", "0:4"], "--rows: --rows goes with --model"),
    (["--join"], "--join: --join goes with --file"),
])
def test_row_options_refused_without_what_they_need(args, expected):
    out = cli("browse", *args, "the cat sat")
    assert out.code == 2 and out.stdout == "" and expected in out.stderr and "Traceback" not in out.stderr
