"""The terminal view of ``attncli compare``: focus rows side by side, vectors, similarities."""

from __future__ import annotations

from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from attncli.render.colors import weight_style
from attncli.render.matrix import Scale, vector_table


def _fmt(value: float | None, precision: int) -> str:
    return "n/a" if value is None else f"{value:.{precision}f}"


def summary(entry: dict, precision: int = 2) -> Text:
    """``bank: cosine 0.71 between context 1 and 2 (inputs identical: 1.00)`` for every pair."""
    k = len(entry["context"])
    line = Text()
    line.append(f"{entry['token']}: ", style="bold")
    parts = []
    for i in range(k):
        for j in range(i + 1, k):
            cos = entry["cosine"][i][j]
            inp = entry["input_cosine"][i][j]
            same = "identical" if inp is not None and inp >= 1 - 1e-12 else "cosine"
            parts.append(f"cosine {_fmt(cos, precision)} between context {i + 1} and {j + 1} "
                         f"(inputs {same}: {_fmt(inp, precision)})")
    line.append("; ".join(parts))
    return line


def focus_row(tokens: list[str], rows: list[list[float]], index: int, precision: int) -> Table:
    """The focus token's attention over this context's keys, one line per head."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
    table.add_column("head", justify="right", style="dim")
    for j, token in enumerate(tokens):
        table.add_column(token + ("◂" if j == index else ""), justify="right", no_wrap=True)
    scale = Scale(rows)
    for h, row in enumerate(rows):
        best = max(row)
        table.add_row(str(h), *[Text(f"{w:.{precision}f}", style=weight_style(scale(w), bold=w == best))
                                for w in row])
    return table


def similarity_table(entry: dict, precision: int) -> Table:
    k = len(entry["context"])
    n_heads = len(entry["head_cosine"])
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
    for name in ("pair", "cosine", "L2", "input cosine"):
        table.add_column(name, justify="right")
    if entry["head_cosine"] is None:
        n_heads = 0
    if 1 < n_heads <= 4:
        for h in range(n_heads):
            table.add_column(f"head {h} cos", justify="right")
    for i in range(k):
        for j in range(i + 1, k):
            cells = [f"{i + 1} vs {j + 1}", _fmt(entry["cosine"][i][j], precision),
                     _fmt(entry["l2"][i][j], precision), _fmt(entry["input_cosine"][i][j], precision)]
            if 1 < n_heads <= 4:
                cells += [_fmt(entry["head_cosine"][h][i][j], precision) for h in range(n_heads)]
            table.add_row(*cells)
    return table


def layer_table(entry: dict, precision: int) -> RenderableType:
    """compare --model: the token's cosines between contexts, layer by layer."""
    k = len(entry["context"])
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
    table.add_column("layer", justify="right")
    for i, j in pairs:
        table.add_column(f"hidden {i + 1} vs {j + 1}", justify="right")
        table.add_column(f"attn out {i + 1} vs {j + 1}", justify="right")
    for layer in entry["layers"]:
        cells = []
        for i, j in pairs:
            cells += [_fmt(layer["hidden_cosine"][i][j], precision), _fmt(layer["context_cosine"][i][j], precision)]
        table.add_row(str(layer["layer"]), *cells)
    return Group(Text("layer by layer: cosine of the token's vectors between contexts", style="bold"), table)


def compare_view(doc: dict, *, precision: int | None = None) -> Group:
    p = 2 if precision is None else precision
    parts: list[RenderableType] = []
    for entry in doc["focus"]:
        panels = []
        for i, (ctx, index) in enumerate(zip(doc["contexts"], entry["indices"])):
            body = Group(
                focus_row(ctx["tokens"], entry["weights"][i], index, p),
                Text(""),
                vector_table([entry["token"]], [entry["context"][i]], precision=3 if precision is None else p,
                             title="context vector", width_limit=max(40, 8 * len(ctx["tokens"]) + 14)),
            )
            panels.append(Panel(body, title=f"context {i + 1}: {' '.join(ctx['tokens'])}", title_align="left",
                                expand=False, box=box.ROUNDED))
        parts.append(Text(f"{entry['token']!r} (token {entry['indices']} in each context)", style="bold"))
        parts.append(Columns(panels))
        parts.append(similarity_table(entry, 3 if precision is None else p))
        if entry.get("layers"):
            parts.append(layer_table(entry, 3 if precision is None else p))
        parts.append(summary(entry, 3 if precision is None else p))
        parts.append(Text(""))
    return Group(*parts)
