"""The terminal view of ``attncli compare``: focus rows in panels, vectors, similarities.

The panels stand side by side when they fit the width and are stacked otherwise; inside them
wide rows are split into column blocks, so no number is ever cut.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from attncli.render.display import prepare_compare
from attncli.render.colors import Paint
from attncli.render.layout import (
    SCALE_WORDS, Column, Lazy, Scale, adaptive_precision, block_table, fmt, heading, label, note, wrap_phrases,
)
from attncli.render.matrix import row_maxima, vector_lines
from attncli.io.textsafe import visible
from attncli.errors import option

#: The focus token's column header carries this mark.
FOCUS_MARK = "◂"


def _fmt(value: float | None, precision: int) -> str:
    return "n/a" if value is None else fmt(value, precision)


def summary(entry: dict, precision: int = 2) -> Text:
    """``bank: cosine 0.71 between context 1 and 2 (inputs identical: 1.00)`` for every pair."""
    k = len(entry["context"])
    line_ = Text()
    line_.append(f"{visible(entry['token'])}: ", style="bold")
    parts = []
    for i in range(k):
        for j in range(i + 1, k):
            cos = entry["cosine"][i][j]
            inp = entry["input_cosine"][i][j]
            same = "identical" if inp is not None and inp >= 1 - 1e-12 else "cosine"
            parts.append(f"cosine {_fmt(cos, precision)} between context {i + 1} and {j + 1} "
                         f"(inputs {same}: {_fmt(inp, precision)})")
    line_.append("; ".join(parts))
    return line_


def where(entry: dict) -> str:
    """Plain words for the token's positions: "bank, the 2nd token (index 1) of both contexts"."""
    token = visible(entry["token"])
    indices = entry["indices"]
    occurrence = entry.get("occurrence") or 1
    which = f" (occurrence {occurrence})" if occurrence > 1 else ""
    if len(set(indices)) == 1:
        every = "both contexts" if len(indices) == 2 else f"all {len(indices)} contexts"
        return f"{token}{which}: token {indices[0] + 1} of {every} (index {indices[0]})"
    places = ", ".join(f"token {i + 1} of context {c + 1}" for c, i in enumerate(indices))
    return f"{token}{which}: {places}"


def focus_lines(paint: Paint, width: int, tokens: list[str], rows: list[list[float]], index: int,
                precision: int, scale: Scale) -> list[Text]:
    """The focus token's attention over this context's keys, one line per head."""
    columns = [Column(label(t) + (FOCUS_MARK if j == index else ""), precision + 3) for j, t in enumerate(tokens)]
    table_rows = []
    for h, row in enumerate(rows):
        best = row_maxima(row, precision)
        cells = [Text(fmt(w, precision) + ("*" if j in best else " "), style=paint.weight(scale.row(h)(w),
                                                                                        bold=j in best))
                 for j, w in enumerate(row)]
        table_rows.append((Text(str(h), style="dim"), cells))
    return block_table("head", columns, table_rows, width, noun="keys")


def similarity_lines(entry: dict, precision: int, width: int) -> list[Text]:
    k = len(entry["context"])
    n_heads = len(entry["head_cosine"]) if entry["head_cosine"] is not None else 0
    columns = [Column(name, precision + 3) for name in ("cosine", "L2", "input cosine")]
    if n_heads > 1:
        columns += [Column(f"head {h} cos", precision + 3) for h in range(n_heads)]
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            cells = [_fmt(entry["cosine"][i][j], precision), _fmt(entry["l2"][i][j], precision),
                     _fmt(entry["input_cosine"][i][j], precision)]
            if n_heads > 1:
                cells += [_fmt(entry["head_cosine"][h][i][j], precision) for h in range(n_heads)]
            rows.append((f"{i + 1} vs {j + 1}", cells))
    return block_table("pair", columns, rows, width, noun="columns", header_style="bold")


def layer_lines(entry: dict, precision: int, width: int) -> list[Text]:
    """compare --model: the token's cosines between contexts, layer by layer."""
    k = len(entry["context"])
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    columns = []
    for i, j in pairs:
        columns += [Column(f"hidden {i + 1} vs {j + 1}", precision + 3),
                    Column(f"attn out {i + 1} vs {j + 1}", precision + 3)]
    rows = []
    for layer in entry["layers"]:
        cells = []
        for i, j in pairs:
            cells += [_fmt(layer["hidden_cosine"][i][j], precision), _fmt(layer["context_cosine"][i][j], precision)]
        rows.append((str(layer["layer"]), cells))
    return [*heading("layer by layer: cosine of the token's vectors between contexts", width),
            *block_table("layer", columns, rows, width, noun="columns")]


def _panel_lines(paint: Paint, inner: int, doc: dict, entry: dict, i: int, p: int, pv: int,
                 scale: Scale) -> list[Text]:
    ctx, index = doc["contexts"][i], entry["indices"][i]
    words = [(visible(t) + (FOCUS_MARK if j == index else ""), "bold" if j == index else "") for j, t in
             enumerate(ctx["tokens"])]
    out = wrap_phrases(words, inner)
    out.append(Text(""))
    out += focus_lines(paint, inner, ctx["tokens"], entry["weights"][i], index, p, scale)
    out.append(Text(""))
    out += vector_lines(paint, inner, [entry["token"]], [entry["context"][i]], precision=pv, title="context vector")
    return out


def _panels(paint: Paint, width: int, doc: dict, entry: dict, p: int, pv: int,
            mode: str = "matrix") -> list[RenderableType]:
    k = len(doc["contexts"])
    scale = Scale.over(entry["weights"], mode)
    natural = [_panel_lines(paint, 10 ** 4, doc, entry, i, p, pv, scale) for i in range(k)]
    widths = [max(t.cell_len for t in lines) + 4 for lines in natural]  # borders and padding
    if sum(widths) + (k - 1) <= width:
        grid = Table.grid(padding=(0, 1))
        for _ in range(k):
            grid.add_column(no_wrap=True)
        grid.add_row(*[Panel(Group(*lines), title=f"context {i + 1}", title_align="left", box=box.ROUNDED,
                             width=widths[i]) for i, lines in enumerate(natural)])
        return [grid]
    stacked = [_panel_lines(paint, width - 4, doc, entry, i, p, pv, scale) for i in range(k)]
    panel_width = min(max(t.cell_len for lines in stacked for t in lines) + 4, width)  # one width for all
    out: list[RenderableType] = [Panel(Group(*lines), title=f"context {i + 1}", title_align="left", box=box.ROUNDED,
                                       width=panel_width) for i, lines in enumerate(stacked)]
    out += note("(the contexts are stacked: side by side they need more than "
                f"{width} columns)", width)
    return out


def compare_view(doc: dict, *, precision: int | None = None, width: int | None = None,
                 color_scale: str | None = None) -> Lazy:
    pv = 3 if precision is None else precision
    doc = prepare_compare(doc)
    causal = any(c["config"]["attention"].get("causal") for c in doc["contexts"])
    mode = color_scale or ("keys" if causal else "matrix")

    def build(paint: Paint, render_width: int, _height: int) -> list[RenderableType]:
        w = render_width if width is None else min(width, render_width)
        parts: list[RenderableType] = []
        measure = doc.get("measure") or "weights"
        if measure != "weights":
            from attncli.core.measures import describe

            parts += wrap_phrases([(word, "dim") for word in f"measure {measure}: {describe(measure)}".split(" ")],
                                  w)
        for entry in doc["focus"]:
            p = precision if precision is not None else adaptive_precision(
                [row for ctx in entry["weights"] for row in ctx])
            parts += wrap_phrases([(word, "bold") for word in where(entry).split(" ")], w)
            parts += _panels(paint, w, doc, entry, p, pv, mode)
            if paint.color:
                parts += note(f"colors: scale {mode} ({SCALE_WORDS[mode]}; {option('color_scale')})", w)
            parts += similarity_lines(entry, pv, w)
            if entry.get("layers"):
                parts += layer_lines(entry, pv, w)
            parts += wrap_phrases([(word, "") for word in summary(entry, pv).plain.split(" ")], w)
            parts.append(Text(""))
        return parts

    return Lazy(build)
