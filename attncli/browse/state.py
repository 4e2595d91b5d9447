"""Where the browser stands (line, layer, head, mode, query per pane) and what that selects.

Pure Python over :class:`attncli.browse.data.BrowseData`: no Textual, so the moves are easy
to test. Every matrix comes from tensors computed when the browser opened; a head mean is
computed on first use and kept, and so is a line under another measure (``w``: BrowseData.under).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from attncli.errors import option

MODES = ("head", "mean", "rollout", "scores")
#: The color scales (--color-scale; ``x`` cycles them): the names of attncli.render.layout.SCALE_MODES.
SCALES = ("matrix", "row", "keys")
#: The measures ``w`` cycles through, in this order (attncli.core.measures.MEASURES).
MEASURE_ORDER = ("weights", "norm", "mixing", "alti", "value-zeroing")


@dataclass
class State:
    data: object  # BrowseData
    compare: bool = False
    line: int = 0  # the --file line shown (single mode)
    layer: int = 0
    head: int = 0
    mode: str = "head"
    queries: list[int] = field(default_factory=list)  # one cursor per pane
    active: int = 0  # the pane the cursor keys move (compare mode)
    grid: bool = False
    selected: tuple[int, int] = (0, 0)  # (layer, head) picked in the grid
    color_scale: str | None = None  # matrix, row or keys; None: keys for causal attention, else matrix
    measure: str | None = None  # what the matrices hold (MEASURE_ORDER); None: the lines' own
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.measure = self.measure or self.data.lines[0].measure
        if not self.queries:
            self.queries = [0] * len(self.panes())
        self.selected = (self.layer, self.head)
        if self.color_scale is None:  # run's rule: a causal query 0 and an attention sink take column 0
            self.color_scale = "keys" if any(line.causal for line in self.data.lines) else "matrix"

    # -- what is shown
    def panes(self) -> list:
        """The lines shown, under the current measure."""
        return [self.data.under(index, self.measure) for index in self.pane_lines()]

    def heads(self) -> int:
        """The heads of what is shown: 1 for a measure of the whole layer (mixing, alti, value zeroing)."""
        return int(self.panes()[0].weights.shape[1])

    @property
    def generation(self) -> bool:
        """browse --generate: the rows are the steps of a generation (attncli.browse.generated)."""
        return getattr(self.data.lines[0], "generation", None) is not None

    def window(self, pane: int) -> str | None:
        """A long text's window of rows (attncli.browse.window): which rows it holds; None for a whole line."""
        line = self.panes()[pane]
        return line.shown() if hasattr(line, "slide") else None

    def count(self, pane: int) -> int:
        """The rows of a pane: its query tokens, or the steps of a generation."""
        line = self.panes()[pane]
        return line.n if line.rows is None else len(line.rows)

    def marked(self, pane: int) -> int:
        """The token of the pane's current row (a generation's row k: the token step k wrote)."""
        return self.panes()[pane].offset + self.queries[pane]

    def headless(self) -> bool:
        """A measure of the whole layer (mixing, alti, value zeroing): no heads to step through."""
        from attncli.core import measures

        return not measures.has_heads(self.measure)

    def pane_lines(self) -> list[int]:
        return list(range(len(self.data.lines))) if self.compare else [self.line]

    def key(self, pane: int, layer: int | None = None, head: int | None = None, mode: str | None = None) -> tuple:
        """What names the matrix a pane shows: (line, layer, head, mode, measure, first row)."""
        layer = self.layer if layer is None else layer
        head = min(self.head if head is None else head, self.heads() - 1)
        mode = mode or self.mode
        return (self.pane_lines()[pane], layer if mode != "rollout" else None,
                head if mode in ("head", "scores") else None, mode, self.measure, self.panes()[pane].offset)

    def _first_key(self, pane: int) -> int:
        """The first key column the scale covers: 1 under ``keys`` (column 0 may saturate), else 0."""
        return 1 if self.color_scale == "keys" and self.panes()[pane].n > 1 else 0

    def scale(self, pane: int) -> tuple[float, float]:
        """(lo, hi) of the finite values of the pane's matrix (from key 1 on under ``keys``), once per matrix.

        Under ``row`` this is still the matrix's range (the heatmap sizes its cells by it); the
        heatmap colors each row by its own range.
        """
        from attncli.browse.draw import value_range

        start = self._first_key(pane)
        key = ("scale", start) + self.key(pane)
        if key not in self._cache:
            line_index, layer, head, mode, measure, first = self.key(pane)
            line = self.panes()[pane]
            if mode == "head" and not line.causal:
                table = ("range", line_index, start, measure, first)
                if table not in self._cache:  # every head of every layer in one pass
                    shown = line.weights[..., start:]  # (L, H, N, N - start)
                    self._cache[table] = (shown.amin(dim=(-2, -1)).tolist(),  # (L, H)
                                          shown.amax(dim=(-2, -1)).tolist())  # (L, H)
                lows, highs = self._cache[table]
                self._cache[key] = (lows[layer][head], highs[layer][head])
            else:
                self._cache[key] = value_range(self.matrix(pane)[:, start:])  # (N, N - start)
        return self._cache[key]

    def cycle_scale(self) -> None:
        """The next color scale: matrix, row, keys, matrix..."""
        self.color_scale = SCALES[(SCALES.index(self.color_scale) + 1) % len(SCALES)]

    def matrix(self, pane: int, layer: int | None = None, head: int | None = None, mode: str | None = None):
        """The (R, N) matrix a pane shows (R = N but for a generation's steps or a window of rows); masked
        cells (causal) are -inf."""
        import torch

        key = self.key(pane, layer, head, mode)
        index, layer, head, mode, measure, first = key
        if key not in self._cache:
            line = self.data.under(index, measure)
            if mode == "rollout":
                m = line.rollout  # (N, N)
            elif mode == "mean" and line.level is not None:
                m = line.level[layer, 0]  # (N, N): norm's layer level, all heads together
            elif mode == "mean":
                from attncli.core.attention import head_mean

                m = head_mean(line.weights[layer])[0]  # (N, N)
            elif mode == "scores":
                m = line.scores[layer, head]  # (N, N)
            else:
                m = line.weights[layer, head]  # (N, N)
            if line.causal and mode != "rollout" and not self.generation:  # a generation's rows come masked
                upper = torch.ones_like(m, dtype=torch.bool).triu(1 + first)  # (R, N): row i is token first + i
                m = m.masked_fill(upper, -math.inf)  # (R, N)
            self._cache[key] = m
        return self._cache[key]

    def row(self, pane: int) -> list[float]:
        """The current query's row of the pane's matrix, as shown and as run --json has it."""
        return self.matrix(pane)[self.queries[pane]].tolist()

    def context(self, pane: int) -> list[float] | None:
        line = self.panes()[pane]
        if line.contexts is None:
            return None
        return line.contexts[min(self.layer, line.contexts.shape[0] - 1), self.queries[pane]].tolist()

    def what(self) -> str:
        if self.mode == "mean":
            return "all heads (layer level)" if self.panes()[0].level is not None else "mean of heads"
        if self.mode == "rollout":
            return "rollout (all layers)"
        if self.headless():
            return "all heads (layer level)"
        head = f"head {self.head} of {self.heads()}"
        return f"{head} · scores" if self.mode == "scores" else head

    # -- moves (each returns a message when the move is not possible, else None)
    def pending(self, step: int) -> str | None:
        """The rows a query move of ``step`` would compute (a window's next rows), None when it computes none."""
        line = self.panes()[self.active]
        if self.window(self.active) is None:
            return None
        token = max(0, min(line.n - 1, line.offset + self.queries[self.active] + step))
        start = line.window_of(token)
        return None if start is None else line.rows_from(start)

    def move_query(self, step: int) -> None:
        pane = self.active
        line = self.panes()[pane]
        if self.window(pane) is not None:  # past an edge of the window: the next one is computed
            self.set_query(pane, max(-line.offset, min(line.n - 1 - line.offset, self.queries[pane] + step)))
            return
        n = self.count(pane)
        self.set_query(pane, max(0, min(n - 1, self.queries[pane] + step)))

    def set_query(self, pane: int, index: int) -> None:
        """Move a pane's cursor; in compare mode the others follow to the same word where they have it.

        ``index`` counts from the pane's first row; on a window of rows one outside it (negative, or past
        its last row) moves the window to hold that token (attncli.browse.window.WindowLine.slide)."""
        line = self.panes()[pane]
        if hasattr(line, "slide"):
            token = max(0, min(line.n - 1, line.offset + index))
            line.slide(token)
            self.queries[pane] = token - line.offset
            return  # one pane: nothing follows
        self.queries[pane] = index
        if not self.compare:
            return
        panes = self.panes()
        word = panes[pane].tokens[index].lower()
        for other, line in enumerate(panes):
            if other == pane:
                continue
            hits = [i for i, tok in enumerate(line.tokens) if tok.lower() == word]
            if hits:
                self.queries[other] = min(hits, key=lambda i: abs(i - index))

    def move_head(self, step: int) -> str | None:
        if self.headless():
            return f"{self.measure} has one value per layer (all heads together): no heads to step through"
        if self.mode in ("mean", "rollout"):
            self.mode = "head"
        self.head = (self.head + step) % self.heads()
        return None

    def move_layer(self, step: int) -> str | None:
        if self.data.layers == 1:
            return f"toy attention has one layer; {option('model')} shows a real model's layers"
        if self.mode == "rollout":
            self.mode = "head"
        target = self.layer + step
        if not 0 <= target < self.data.layers:  # no silent wrap from the last layer to the first
            return f"layer {self.layer} is the {'last' if target > self.layer else 'first'} layer"
        self.layer = target
        return None

    def toggle(self, mode: str) -> str | None:
        from attncli.core import measures

        if self.generation and mode != "mean":
            return f"browse {option('generate')} shows each step's attention weights (m: the mean of the heads)"
        if mode == "rollout" and self.data.model is not None and not measures.normalized(self.measure):
            return f"rollout does not apply to {self.measure} (its rows do not sum to 1): w for weights, alti or value-zeroing"
        if mode == "rollout" and self.window(0) is not None:
            return "rollout needs every row of every layer; this long text is shown a window of rows at a time"
        if mode == "rollout" and self.panes()[0].rollout is None:
            return f"rollout goes with {option('model')} (toy attention has one layer)"
        if mode == "scores" and self.measure != "weights":
            return f"c shows the scores of the softmax weights, not of {self.measure} (w cycles the measure)"
        if mode == "mean" and self.headless():
            return f"{self.measure} has one value per layer already (all heads together)"
        if mode == "scores" and self.panes()[0].scores is None:
            return "a real model does not expose its scores; c works for toy attention"
        self.mode = "head" if self.mode == mode else mode
        return None

    def move_line(self, step: int) -> str | None:
        if self.compare or len(self.data.lines) == 1:
            return f"n and p step through the lines of {option('file')}"
        from attncli.errors import AttnError

        self.line = (self.line + step) % len(self.data.lines)
        self.queries = [min(self.queries[0], self.data.lines[self.line].n - 1)]
        try:
            self.panes()  # the new line under the measure shown (computed on first use)
        except AttnError as error:
            self.measure = self.data.lines[self.line].measure
            self._fit_mode()
            return f"{error.line()}: this line is shown under {self.measure}"
        return None

    # -- the measure
    def cycle_measure(self) -> str | None:
        """The next measure of MEASURE_ORDER that these lines can be shown under; a note for each one
        skipped (value zeroing past its budget of layer passes, a tensors config's missing inputs)."""
        from attncli.errors import AttnError

        if self.generation:
            return f"browse {option('generate')} shows the softmax weights of each step; w cycles the measures of browse TEXT"
        at = MEASURE_ORDER.index(self.measure)
        skipped = []
        for k in range(1, len(MEASURE_ORDER)):
            name = MEASURE_ORDER[(at + k) % len(MEASURE_ORDER)]
            try:
                for index in self.pane_lines():
                    self.data.under(index, name)
            except AttnError as error:
                skipped.append(f"{name} skipped: {error.message}")
                continue
            self.measure = name
            self._fit_mode()
            return "; ".join(skipped) or None
        return "; ".join(skipped)

    def _fit_mode(self) -> None:
        """Leave a mode the measure has not: scores (weights only), rollout (rows summing to 1), a head mean."""
        line = self.panes()[0]
        if (self.mode == "scores" and (self.measure != "weights" or line.scores is None)) or \
                (self.mode == "rollout" and line.rollout is None) or (self.mode == "mean" and self.headless()):
            self.mode = "head"
        self.selected = (self.layer, min(self.selected[1], self.heads() - 1))

    def find(self, text: str) -> str | None:
        """Jump the active pane's cursor to the next token that is (else starts with, else contains) ``text``.

        Tokens are compared as --focus compares them: the tokenizer's string, the shown form
        (``␣bank``) or the text a user types (``bank``), case-insensitively.
        """
        from attncli.core.focus import word_texts
        from attncli.documents.tokens_display import display_tokens

        line = self.panes()[self.active]
        tokens = line.raw or line.tokens
        needle = text.strip().lower()
        if not needle:
            return None
        texts = [t.lower() for t in word_texts(tokens)[0]]
        forms = [{t.lower(), d.lower(), w} for t, d, w in zip(tokens, display_tokens(tokens), texts)]
        start = self.marked(self.active)
        order = [(start + k) % len(tokens) for k in range(1, len(tokens) + 1)]
        if self.generation:
            order = [i for i in order if i >= line.offset]  # a generation's rows: the tokens it wrote
        for test in (lambda i: needle in forms[i], lambda i: texts[i].startswith(needle),
                     lambda i: needle in texts[i]):
            for i in order:
                if test(i):
                    self.set_query(self.active, i - line.offset)
                    return None
        return f"no {'written ' if self.generation else ''}token matches {text!r}"

    # -- the grid
    def move_selected(self, d_layer: int, d_head: int) -> None:
        """Move the grid's cursor; it stops at the edges (the grid scrolls to keep it in view)."""
        layer, head = self.selected
        self.selected = (max(0, min(self.data.layers - 1, layer + d_layer)),
                         max(0, min(self.heads() - 1, head + d_head)))

    def open_selected(self, key: tuple[int, int] | None = None) -> None:
        self.layer, self.head = key or self.selected
        self.selected = (self.layer, self.head)
        self.mode = "head"
        self.grid = False

    def grid_cells(self, pane: int) -> list[tuple[str, list[tuple[str, object, tuple[int, int]]]]]:
        """(row label, [(label, matrix, (layer, head))]): a model's layer x head grid, or a toy run's heads."""
        heads = range(self.heads())
        if self.data.layers == 1:
            return [("", [(f"head {h}", self.matrix(pane, 0, h, "head"), (0, h)) for h in heads])]
        return [(f"L{layer}", [(f"h{h}", self.matrix(pane, layer, h, "head"), (layer, h)) for h in heads])
                for layer in range(self.data.layers)]

    def grid_scale(self, pane: int) -> tuple[float, float]:
        """One scale for every head of the grid: 0 to the largest weight of any of them (from key 1 on
        under ``keys``; under ``row`` the thumbnails color each of their rows by its own range)."""
        start = self._first_key(pane)
        key = ("grid scale", self.pane_lines()[pane], start, self.measure, self.panes()[pane].offset)
        if key not in self._cache:
            line = self.panes()[pane]
            self._cache[key] = (0.0, float(line.weights[..., start:].max()))  # over (L, H, N, N - start)
        return self._cache[key]

    def document(self) -> dict:
        """The run --json document of what is shown (the active pane's line), with where the cursor is."""
        line = self.panes()[self.active]
        mode = self.mode if self.mode in ("mean", "rollout") else "head"
        doc = line.document(self.layer, mode)
        doc["browse"] = {"line": line.label, "layer": self.layer,
                         "head": None if mode != "head" or self.headless() else self.head,
                         "mode": self.mode, "query": self.queries[self.active], "color_scale": self.color_scale,
                         "measure": self.measure}
        if self.window(self.active) is not None:  # the query counts from the window's first row
            doc["browse"]["rows"] = [line.offset, line.stop]
        return doc
