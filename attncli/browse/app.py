"""The Textual app of ``attncli browse``: panes of token strip, heatmap (or head grid), row and vector.

Widgets draw from :class:`attncli.browse.state.State` with the functions of
:mod:`attncli.browse.draw`; a key changes the state and asks the widgets to redraw. Nothing
here computes attention.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.strip import Strip as Line
from textual.widget import Widget

from attncli.browse import draw, heat
from attncli.browse.bars import Hint, Title  # noqa: F401  (Hint, Title: the tests read them from here)
from attncli.browse.screens import FindScreen, HelpScreen
from attncli.browse.state import State

class Part(Widget):
    """A piece of a pane that draws itself from the app's state."""

    def __init__(self, pane: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pane = pane
        self.hits: list = []

    @property
    def state(self) -> State:
        return self.app.state  # type: ignore[attr-defined]

    def precision(self, default: int) -> int:
        p = self.app.precision  # type: ignore[attr-defined]
        return default if p is None else p


class TokenStrip(Part):
    def render(self) -> Text:
        s = self.state
        line = s.panes()[self.pane]
        text, self.hits = draw.strip(line.tokens, s.row(self.pane), s.marked(self.pane), self.size.width,
                                     max(1, self.size.height), line.special)
        return text

    def fit(self) -> None:
        """As many lines as the text needs at this width, up to 2 (3 on a tall screen)."""
        width = self.size.width
        if width:
            most = 3 if self.screen.size.height >= 36 else 2
            need = draw.layout(self.state.panes()[self.pane].tokens, width)[-1][0] + 1
            self.styles.height = max(1, min(most, need))

    def on_resize(self, event) -> None:
        self.fit()

    def on_click(self, event) -> None:
        for y, x0, x1, index in self.hits:
            if y == event.y and x0 <= event.x < x1:
                line = self.state.panes()[self.pane]
                if index >= line.offset or not self.state.generation:  # a generation's rows: the tokens it wrote
                    self.app.pick(self.pane, index - line.offset)  # type: ignore[attr-defined]
                return


class Main(Part):
    """The heatmap of the current matrix, or the grid of every head (drawn line by line)."""

    def __init__(self, pane: int, **kwargs) -> None:
        super().__init__(pane, **kwargs)
        self._lines: list | None = None

    def refresh(self, *args, **kwargs):
        self._lines = None
        return super().refresh(*args, **kwargs)

    def lines(self) -> list:
        if self._lines is None:
            s = self.state
            width, height = self.size.width, max(3, self.size.height)
            if s.grid:
                self._lines, self.hits = heat.grid(s.grid_cells(self.pane), s.selected, width, height,
                                                   s.grid_scale(self.pane), cache=(s.pane_lines()[self.pane], s.measure),
                                                   mode=s.color_scale, measure=s.measure)
            else:
                line = s.panes()[self.pane]
                self._lines, self.hits = heat.heatmap(
                    s.matrix(self.pane), line.tokens, s.queries[self.pane], width, height, self.precision(2),
                    scale=s.scale(self.pane), key=s.key(self.pane), mode=s.color_scale, measure=s.measure,
                    rows=line.rows, start=0 if s.generation else line.offset)
        return self._lines

    def render_line(self, y: int) -> Line:
        lines = self.lines()
        width = self.size.width
        base = self.rich_style  # the widget's colors under every cell
        if y >= len(lines):
            return Line.blank(width, base)
        return Line(lines[y]).crop_extend(0, width, None).apply_style(base)

    def on_resize(self, event) -> None:
        self._lines = None

    def on_click(self, event) -> None:
        self.lines()
        if self.state.grid:
            for y0, y1, x0, x1, key in self.hits:
                if y0 <= event.y < y1 and x0 <= event.x < x1:
                    self.app.open_cell(key)  # type: ignore[attr-defined]
                    return
        elif 1 <= event.y <= len(self.hits):
            self.app.pick(self.pane, self.hits[event.y - 1])  # type: ignore[attr-defined]


class Side(Part):
    def render(self) -> Text:
        s = self.state
        line = s.panes()[self.pane]
        what = "scores" if s.mode == "scores" else s.measure
        query = s.queries[self.pane]
        name = f"step {query} {line.rows[query]}" if s.marked(self.pane) >= line.n else None  # cross-attention
        return draw.row_list(line.tokens, s.row(self.pane), s.marked(self.pane), self.size.width,
                             max(2, self.size.height), self.precision(4), what, name)


class Vector(Part):
    def render(self) -> Text:
        s = self.state
        vector = s.context(self.pane)
        if vector is None:  # browse --generate: what step k wrote, how likely it was, and what else
            line = s.panes()[self.pane]
            status = draw.fit_items(line.status(s.queries[self.pane], self.precision(3)), self.size.width)
            return Text(status, no_wrap=True, overflow="ellipsis")
        return draw.vector_line(vector, self.size.width, self.precision(3), f"context d={len(vector)}")


class Pane(Vertical):
    def __init__(self, index: int, label: str) -> None:
        super().__init__(classes="pane")
        self.index = index
        self.border_title = label

    def compose(self) -> ComposeResult:
        yield TokenStrip(self.index, classes="strip")
        with Horizontal(classes="body"):
            yield Main(self.index, classes="main")
            yield Side(self.index, classes="side")
        yield Vector(self.index, classes="vector")


class BrowseApp(App):
    """``attncli browse``."""

    TITLE = "attncli browse"
    CSS = """
    Screen { layout: vertical; }
    Title, .hint { height: 1; }
    .hint { color: $text-muted; }
    #panes { height: 1fr; }
    .pane { width: 1fr; height: 1fr; }
    .strip { height: 2; }
    .body { height: 1fr; }
    .main { width: 1fr; height: 1fr; }
    .side { width: 30%; min-width: 20; max-width: 40; height: 1fr; padding-left: 1; }
    .vector { height: 1; }
    .compare .pane { border: round $primary-darken-2; }
    .compare .pane.active { border: round $accent; }
    .compare .body { layout: vertical; }
    .compare .side { width: 1fr; max-width: 100%; height: 7; padding-left: 0; }
    """
    BINDINGS = [
        Binding("left,h", "query(-1)", "query", show=False),
        Binding("right,l", "query(1)", "query", show=False),
        Binding("up,k", "head(-1)", "head", show=False),
        Binding("down,j", "head(1)", "head", show=False),
        Binding("left_square_bracket", "layer(-1)", "layer", show=False),
        Binding("right_square_bracket", "layer(1)", "layer", show=False),
        Binding("m", "mode('mean')", show=False),
        Binding("r", "mode('rollout')", show=False),
        Binding("c", "mode('scores')", show=False),
        Binding("g", "grid", show=False),
        Binding("x", "color_scale", show=False),
        Binding("w", "measure", show=False),
        Binding("a", "attention", show=False),
        Binding("enter", "open", show=False),
        Binding("escape", "leave", show=False),
        Binding("slash", "find", show=False),
        Binding("n", "line(1)", show=False),
        Binding("p", "line(-1)", show=False),
        Binding("tab", "pane", show=False, priority=True),
        Binding("s", "save_svg", show=False),
        Binding("e", "save_json", show=False),
        Binding("question_mark", "help", show=False),
        Binding("q", "quit", show=False),
    ]

    def __init__(self, data, *, compare: bool = False, precision: int | None = None, out_dir: Path | None = None,
                 layer: int | None = None, head: int = 0, mode: str = "head", query: int = 0,
                 color_scale: str | None = None) -> None:
        super().__init__()
        self.state = State(data, compare=compare, layer=data.layers - 1 if layer is None else layer, head=head,
                           mode=mode, color_scale=color_scale)
        if compare and not query:  # open on the first word every context has
            shared = set.intersection(*({t.lower() for t in line.tokens} for line in data.lines))
            query = next((i for i, t in enumerate(data.lines[0].tokens) if t.lower() in shared), 0)
        self.state.set_query(0, max(0, min(query, self.state.count(0) - 1)))
        self.status = ""  # the status line under the panes, when a key has something to say
        self.scale_chosen = color_scale is not None  # by --color-scale or x: a keeps it
        self.precision = precision
        self.out_dir = Path(out_dir) if out_dir is not None else Path.cwd()
        self.saved: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Title()
        with Horizontal(id="panes", classes="compare" if self.state.compare else ""):
            for i, line in enumerate(self.state.panes()):
                yield Pane(i, line.label if self.state.compare else "")
        yield Hint(classes="hint")

    def on_mount(self) -> None:
        import torch

        # Everything heavy was computed before the app opened; what is left are small tensor
        # operations, which extra threads only slow down (and a busy machine more so).
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        # Colors per the terminal's color system (a headless app, for tests and screenshots, is truecolor).
        draw.set_color_system(None if self.is_headless else self.console.color_system)
        self._mark_active()
        for note in self.state.data.notes:
            self.notify(note, severity="warning", timeout=6)

    def on_unmount(self) -> None:
        import torch

        torch.set_num_threads(self._threads)

    def _mark_active(self) -> None:
        for pane in self.query(Pane):
            pane.set_class(self.state.compare and pane.index == self.state.active, "active")

    def redraw(self, message: str | None = None, status: str = "") -> None:
        if message:
            self.notify(message, severity="warning", timeout=4)
            return
        self.status = status
        for widget in self.query(Part):
            widget.refresh()
        self.query_one(Title).refresh()
        hint = self.query_one(Hint)
        hint.fit()
        hint.refresh()

    # -- called by widgets on clicks
    def pick(self, pane: int, index: int) -> None:
        self.state.active = pane
        self.state.set_query(pane, index)
        self._mark_active()
        self.redraw()

    def open_cell(self, key) -> None:
        self.state.open_selected(key)
        self.redraw()

    # -- actions
    def action_query(self, step: int) -> None:
        rows = None if self.state.grid else self.state.pending(step)
        if rows is not None:  # past a window's edge: say so, draw, then compute (a forward pass)
            self.status = f"computing {rows} (a forward pass of the model)"
            self.query_one(Hint).refresh()
            self.set_timer(0.1, lambda: (self.state.move_query(step), self.redraw()))  # the line is drawn first
            return
        self.state.move_selected(0, step) if self.state.grid else self.state.move_query(step)
        self.redraw()

    def action_head(self, step: int) -> None:
        s = self.state
        if s.grid:
            s.move_selected(step, 0) if s.data.layers > 1 else s.move_selected(0, step)
            self.redraw()
        else:
            self.redraw(s.move_head(step))

    def action_layer(self, step: int) -> None:
        if self.state.grid and self.state.data.layers > 1:
            self.state.move_selected(step, 0)
            self.redraw()
        else:
            self.redraw(self.state.move_layer(step))

    def action_mode(self, mode: str) -> None:
        self.state.grid = False
        self.redraw(self.state.toggle(mode))

    def action_grid(self) -> None:
        self.state.grid = not self.state.grid
        self.state.selected = (self.state.layer, self.state.head)
        self.redraw()

    def action_color_scale(self) -> None:
        self.state.cycle_scale()
        self.scale_chosen = True
        self.redraw()

    def action_attention(self) -> None:  # browse --generate, an encoder-decoder model: self / cross-attention
        from attncli.browse.generated import switch_attention

        self.redraw(switch_attention(self.state, keep_scale=self.scale_chosen))
        for strip in self.query(TokenStrip):
            strip.fit()

    def action_measure(self) -> None:
        """The next measure (weights, norm, mixing, alti, value-zeroing), computed on first use; one
        that cannot be shown (value zeroing past its budget) is skipped, and the status line says so."""
        s = self.state
        before = s.measure
        note = s.cycle_measure()
        if s.measure == before:
            self.redraw(note or "no other measure applies here")
            return
        self.redraw(status=note or "")
        if note:
            self.notify(note, severity="warning", timeout=6)

    def action_open(self) -> None:
        if self.state.grid:
            self.open_cell(None)

    def action_leave(self) -> None:
        """Escape: leave the grid for the matrix it was opened from."""
        if self.state.grid:
            self.state.grid = False
            self.redraw()

    def action_line(self, step: int) -> None:
        if self.state.generation:  # n and p step through the tokens written
            self.action_query(step)
            return
        self.redraw(self.state.move_line(step))
        for strip in self.query(TokenStrip):
            strip.fit()

    def action_pane(self) -> None:
        s = self.state
        s.active = (s.active + 1) % len(s.panes())
        self._mark_active()
        self.redraw()

    def action_find(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.redraw(self.state.find(text))

        self.push_screen(FindScreen(), done)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _target(self, suffix: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.out_dir / f"attncli-browse-{stamp}{suffix}"
        count = 2
        while path.exists():
            path = self.out_dir / f"attncli-browse-{stamp}-{count}{suffix}"
            count += 1
        return path

    def action_save_svg(self) -> None:
        self._save(".svg", lambda handle: handle.write(self.export_screenshot()))

    def action_save_json(self) -> None:
        from attncli.documents.jsonout import stream_json

        def write(handle) -> None:
            stream_json(self.state.document(), handle.write)
            handle.write("\n")
        self._save(".json", write)

    def _save(self, suffix: str, write) -> None:
        """A new file (never an existing name, a FIFO or a device), written whole or not at all."""
        from attncli.errors import AttnError
        from attncli.io.fileio import atomic_write

        path = self._target(suffix)
        try:
            atomic_write(path, write, overwrite=False)  # a temporary file renamed into place
        except AttnError as error:
            self.notify(error.line(), severity="error")
            return
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.saved.append(path)
        self.notify(f"saved {path.name}" if suffix == ".svg" else f"wrote {path.name}")  # the full path is printed on exit
