"""The browser's two bars: the title (where the cursor is, the measure, the model) and the keys / status line.

Both draw from :class:`attncli.browse.state.State`, and fit their width: a phrase is never cut in the
middle (at 80 columns "float32 on" was), a status longer than the width takes a second line.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from attncli.browse.state import State

HINT = ("? keys  q quit  ←→ query  ↑↓ head  [ ] layer  w measure  g grid  m mean  r rollout  c scores  x scale  "
        "/ find  s svg  e json")
#: The same keys in fewer columns (80-column terminals); ? lists every key either way.
HINT_SHORT = "? keys ←→↑↓[] move w measure g grid m mean r rollout / find s svg e json q quit"
#: browse --generate: n and p step through the tokens written.
HINT_GENERATE = "? keys  q quit  n p / ←→ step  ↑↓ head  [ ] layer  m mean  g grid  x scale  / find  s svg  e json"
HINT_GENERATE_SHORT = "? keys n p step ↑↓ head [] layer m mean g grid / find s svg e json q quit"
#: ... on an encoder-decoder model, with a (self- / cross-attention); the short one leaves / out (80 columns).
HINT_CROSS = HINT_GENERATE.replace("layer  m", "layer  a self/cross  m")
HINT_CROSS_SHORT = HINT_GENERATE_SHORT.replace("layer m", "layer a self/cross m").replace(" / find", "")


class Title(Widget):
    def render(self) -> Text:
        app = self.app
        s: State = app.state  # type: ignore[attr-defined]
        text = Text(no_wrap=True, overflow="ellipsis")
        line = s.panes()[s.active]
        if not s.compare and len(s.data.lines) > 1 and not s.generation:
            text.append(f"{line.label} ({s.line + 1}/{len(s.data.lines)}) ", style="bold")
        query = s.queries[s.active]
        if s.grid:  # the grid's cursor, not the matrix behind it
            at_layer, at_head = s.selected
            layer = f"layer {at_layer} of {s.data.layers}" if s.data.layers > 1 else ""
            parts = [layer, f"head {at_head} of {s.heads()}", s.measure]
            how = ["grid: arrows pick, Enter opens, Esc leaves", "grid: Enter opens, Esc leaves", "grid"]
        else:
            layer = f"layer {s.layer} of {s.data.layers}" if s.data.layers > 1 and s.mode != "rollout" else ""
            where = (f"step {query} of {s.count(s.active)} {line.rows[query]}" if s.generation
                     else f"query {s.marked(s.active)} {line.tokens[s.marked(s.active)]}")
            parts, how = [layer, s.window(s.active) or "", s.what(), s.measure, where], [""]  # the window first
        if s.generation and len(s.data.lines) > 1:  # an encoder-decoder model's: self- or cross-attention
            parts.insert(0, line.label)
        room = self.size.width - text.cell_len
        head = " · ".join(p for p in parts if p)
        # the grid's keys in the longest form that fits (at 80 columns "Esc leaves" was cut)
        tail = next((h for h in how if len(head) + 3 + len(h) <= room), how[-1]) if how[0] else ""
        text.append(f"{head} · {tail}" if tail else head, style="bold")
        # the description's phrases while they fit (never one cut in the middle: "float32 on")
        for phrase in s.data.description.split(" · "):
            if text.cell_len + 3 + len(phrase) > self.size.width:
                break
            text.append(f" · {phrase}", style="dim")
        return text


class Hint(Widget):
    """The keys; after ``w`` skipped a measure, the status line that says so (until the next key)."""

    def render(self) -> Text:
        status = self.app.status  # type: ignore[attr-defined]
        if status:  # wrapped between words onto a second line when it is longer (see fit)
            return Text(status, style="bold")
        s = self.app.state  # type: ignore[attr-defined]
        long, short = (HINT, HINT_SHORT) if not s.generation else (HINT_CROSS, HINT_CROSS_SHORT) \
            if len(s.data.lines) > 1 else (HINT_GENERATE, HINT_GENERATE_SHORT)
        return Text(long if len(long) <= self.size.width else short, no_wrap=True, overflow="ellipsis")

    def fit(self) -> None:
        """One line for the keys; two for a status longer than the width (nothing cut)."""
        status = self.app.status  # type: ignore[attr-defined]
        self.styles.height = 2 if status and len(status) > self.size.width else 1
