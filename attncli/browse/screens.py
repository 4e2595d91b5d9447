"""The two pop-ups of the browser: the key table (``?``) and the token search (``/``)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from attncli.errors import option

#: (keys, what they do): the help screen and the README's key table; ``{name}`` is the option of parameter
#: ``name`` (attncli.errors.option: ``--name`` on the command line).
KEYS = (
    ("← → or h l", "previous / next query token (or click a token or a heatmap row)"),
    ("↑ ↓ or k j", "previous / next head"),
    ("[ ]", "previous / next layer ({model})"),
    ("m", "mean of the heads (again: back to one head)"),
    ("r", "attention rollout through all layers ({model})"),
    ("c", "scores before the softmax, causal mask shown (toy attention)"),
    ("g", "grid of every head (layer x head for {model}); arrows pick, Enter or click opens"),
    ("x", "next color scale: matrix, row, keys ({color_scale}; the legend names it)"),
    ("w", "next measure: weights, norm, mixing, alti, value-zeroing ({measure}; the legend names it)"),
    ("/", "jump to a token by its text"),
    ("n p", "next / previous line of {file}; with {generate}, next / previous token written"),
    ("a", "with {generate} on an encoder-decoder model: self-attention / cross-attention to the source"),
    ("tab", "next pane ({compare})"),
    ("s", "save the screen as SVG"),
    ("e", "write this view's JSON (run {json}'s layout, plus where the cursor is)"),
    ("?", "this help"),
    ("q", "quit"),
)


class _Options(dict):
    """``{model}`` in a key's description: the option that parameter is (attncli.errors.option)."""

    def __missing__(self, name: str) -> str:
        return option(name)


class _Closing:
    """Dismissed once: keys that arrive together (a paste, a fast typist) may ask twice, or after
    another screen took its place; popping then would pop a screen that is not this one.

    The flag is not ``_closed``: that is Textual's own ``MessagePump._closed``, and setting it
    before ``dismiss`` left the screen's message queue open, so the pop waited on it forever
    and the whole app froze (Escape in the find box, any key in the help)."""

    _dismissed = False

    def close(self, value) -> None:
        if self._dismissed or not self.is_current:
            return
        self._dismissed = True
        self.dismiss(value)


class HelpScreen(_Closing, ModalScreen):
    """Every key; any key closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: auto; max-width: 100%; height: auto; border: round $accent;
                          background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, what in KEYS:
            table.add_row(keys, what.format_map(_Options()))
        yield Static(table)

    def on_key(self, event) -> None:
        event.stop()
        self.close(None)

    def on_click(self, event) -> None:
        self.close(None)


class FindScreen(_Closing, ModalScreen[str]):
    """One line of input; Enter jumps to the token, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    FindScreen { align: center middle; }
    FindScreen > Vertical { width: 50; max-width: 100%; height: auto; border: round $accent;
                            background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("jump to token (Enter; Escape cancels)")
            yield Input(placeholder="token text", id="find")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.close(event.value)

    def action_cancel(self) -> None:
        self.close("")
