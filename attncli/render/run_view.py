"""The terminal view of ``attncli run``: a summary line, heatmaps, context vectors."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from attncli.render.matrix import MAX_MARK, compact_heatmap, full_heatmap_width, heatmap, vector_table

#: Inputs up to this many tokens get the full table with every weight printed.
FULL_VIEW_TOKENS = 10
VIEWS = ("auto", "full", "compact")


def describe(doc: dict) -> Text:
    """One line: the tokens (out-of-vocabulary ones marked) and the settings that matter."""
    cfg = doc["config"]
    a = cfg["attention"]
    line = Text()
    for token, oov in zip(doc["tokens"], doc["oov"]):
        line.append(token, style="bold" if not oov else "bold yellow")
        if oov:
            line.append("(oov)", style="yellow")
        line.append(" ")
    n = len(doc["tokens"])
    if a["scale"] is True:
        scale = f"scaled by sqrt({a['d_head_k']})"
    elif a["scale"] is False:
        scale = "raw dot product"
    else:
        scale = f"divided by {a['scale']:g}"
    parts = [f"{n} token{'s' if n != 1 else ''}", f"{a['heads']} head{'s' if a['heads'] != 1 else ''}", scale]
    if a["temperature"] != 1.0:
        parts.append(f"temperature {a['temperature']:g}")
    if a["causal"]:
        parts.append("causal")
    if a["positional"] != "none":
        parts.append(a["positional"])
    if a["projections"] != "identity":
        parts.append(f"{a['projections']} projections")
    parts.append(f"{cfg['dtype']} on {cfg['device']}")
    line.append("· " + " · ".join(parts), style="dim")
    return line


def choose_view(tokens: list[str], precision: int, width: int, view: str) -> str:
    if view != "auto":
        return view
    if len(tokens) <= FULL_VIEW_TOKENS and full_heatmap_width(tokens, precision) <= width:
        return "full"
    return "compact"


def weight_views(doc: dict, *, heads: list[int], precision: int, view: str,
                 query_rows: list[int] | None = None) -> list[RenderableType]:
    tokens = doc["tokens"]
    parts: list[RenderableType] = []
    many = len(doc["weights"]) > 1
    for h in heads:
        masked = [[s is None for s in row] for row in doc["scores"][h]] if doc["scores"] is not None else None
        title = f"attention weights, head {h}" if many else "attention weights"
        title += " (rows: queries, columns: keys)"
        if view == "full":
            parts.append(heatmap(tokens, doc["weights"][h], precision=precision, title=title, query_rows=query_rows,
                                 masked=masked))
        else:
            parts.append(compact_heatmap(tokens, doc["weights"][h], title=title, query_rows=query_rows,
                                         masked=masked))
        parts.append(Text(""))
    if view == "full":
        note = f"{MAX_MARK} largest weight in each row"
        if doc["config"]["attention"]["causal"]:
            note += "   - masked (causal)"
        parts.append(Text(note, style="dim"))
    return parts


def run_view(doc: dict, *, head: int | None = None, precision: int | None = None,
             view: str = "auto", width: int = 80) -> Group:
    tokens = doc["tokens"]
    p = 2 if precision is None else precision
    chosen = choose_view(tokens, p, width, view)
    heads = [head] if head is not None else list(range(len(doc["weights"])))
    parts: list[RenderableType] = [describe(doc), Text("")]
    parts += weight_views(doc, heads=heads, precision=p, view=chosen)
    d_out = len(doc["context"][0])
    parts.append(Text(""))
    parts.append(vector_table(tokens, doc["context"], precision=3 if precision is None else precision,
                              title=f"context vectors (d_out = {d_out})"))
    return Group(*parts)
