"""The terminal view of ``attncli run``: a summary line, heatmaps, context vectors."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from attncli.render.matrix import MAX_MARK, compact_heatmap, full_heatmap_width, heatmap, vector_table

#: Inputs up to this many tokens get the full table with every weight printed.
FULL_VIEW_TOKENS = 10


def _token_line(doc: dict) -> Text:
    line = Text()
    special = doc.get("special") or [False] * len(doc["tokens"])
    shown = list(zip(doc["tokens"], doc["oov"], special))
    if len(shown) > 16:
        shown = shown[:12]
    for token, oov, is_special in shown:
        line.append(token, style="dim" if is_special else ("bold" if not oov else "bold yellow"))
        if oov:
            line.append("(oov)", style="yellow")
        line.append(" ")
    if len(doc["tokens"]) > len(shown):
        line.append("… ", style="dim")
    return line


def describe(doc: dict) -> Text:
    """One line: the tokens (out-of-vocabulary ones marked) and the settings that matter."""
    cfg = doc["config"]
    a = cfg["attention"]
    line = _token_line(doc)
    n = len(doc["tokens"])
    if doc.get("model"):
        m = cfg["model"]
        what = "attention rollout over all layers" if doc.get("rollout") else (
            f"layer {doc['layer']} of {m['layers']} (0-based)")
        heads = "mean of heads" if doc.get("heads_mean") else f"{m['heads']} heads"
        parts = [f"{n} tokens ({sum(doc['special'])} special)", f"model {m['name']} ({m['architecture']})", what,
                 heads, f"{cfg['dtype']} on {cfg['device']}"]
        line.append("· " + " · ".join(parts), style="dim")
        return line
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


def _top_from_weights(doc: dict, k: int) -> dict:
    top = {"k": min(k, len(doc["tokens"])), "indices": [], "weights": []}
    for head in doc["weights"]:
        order = [sorted(range(len(row)), key=lambda j: -row[j])[: top["k"]] for row in head]
        top["indices"].append(order)
        top["weights"].append([[row[j] for j in o] for row, o in zip(head, order)])
    return {**doc, "top_k": top}


def weight_views(doc: dict, *, heads: list[int], precision: int, view: str,
                 query_rows: list[int] | None = None, width: int = 80) -> list[RenderableType]:
    tokens = doc["tokens"]
    parts: list[RenderableType] = []
    if doc["weights"] is None:
        return [Text("attention weights left out (too large for --max-weights-mb); see the top-k table",
                     style="dim")]
    label = min(max(len(t) for t in tokens), 12)
    if view == "compact" and 6 + label + len(tokens) > width:
        # Too many keys for one glyph each: show each row's strongest links instead.
        return [Text(f"{len(tokens)} keys are too many to draw in {width} columns; "
                     "the 5 strongest links of each query (--top-k K for more, --json for all):", style="dim"),
                top_k_table(_top_from_weights(doc, 5), heads=heads, precision=precision)]
    many = len(doc["weights"]) > 1
    for h in heads:
        masked = [[s is None for s in row] for row in doc["scores"][h]] if doc["scores"] is not None else None
        title = f"attention weights, head {h}" if many else "attention weights"
        if doc.get("model"):
            title = ("attention rollout" if doc.get("rollout") else f"layer {doc['layer']}, "
                     + ("mean of heads" if doc.get("heads_mean") else f"head {h}"))
        title += " (rows: queries, columns: keys)"
        if view == "full":
            parts.append(heatmap(tokens, doc["weights"][h], precision=precision, title=title, query_rows=query_rows,
                                 masked=masked))
        else:
            parts.append(compact_heatmap(tokens, doc["weights"][h], title=title, query_rows=query_rows,
                                         masked=masked, width=width))
        parts.append(Text(""))
    if view == "full":
        note = f"{MAX_MARK} largest weight in each row"
        if doc["config"]["attention"]["causal"]:
            note += "   - masked (causal)"
        parts.append(Text(note, style="dim"))
    return parts


def top_k_table(doc: dict, *, heads: list[int], precision: int) -> RenderableType:
    """Each query's K most-attended keys, per head: ``token#index weight``."""
    from rich import box
    from rich.table import Table

    tokens = doc["tokens"]
    top = doc["top_k"]
    rows = doc["focus"] if doc["focus"] is not None else list(range(len(tokens)))
    parts: list[RenderableType] = []
    many = len(top["indices"]) > 1
    for h in heads:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
        table.add_column("query", no_wrap=True, style="bold")
        for k in range(top["k"]):
            table.add_column(f"#{k + 1}", no_wrap=True)
        for r, query in enumerate(rows):
            cells = []
            for j, w in zip(top["indices"][h][r], top["weights"][h][r]):
                cells.append(Text.assemble((f"{tokens[j]}", "bold"), (f"@{j} ", "dim"), f"{w:.{precision}f}"))
            table.add_row(f"{query} {tokens[query]}", *cells)
        title = f"top {top['k']} keys per query" + (f", head {h}" if many else "")
        parts += [Text(title, style="bold"), table, Text("")]
    return Group(*parts)


def run_view(doc: dict, *, head: int | None = None, precision: int | None = None,
             view: str = "auto", width: int = 80) -> Group:
    tokens = doc["tokens"]
    p = 2 if precision is None else precision
    rows = doc.get("focus")
    chosen = choose_view(tokens, p, width, view)
    n_heads = len(doc["weights"]) if doc["weights"] is not None else doc["config"]["attention"]["heads"]
    heads = [head] if head is not None else list(range(n_heads))
    parts: list[RenderableType] = [describe(doc), Text("")]
    if doc.get("layers"):
        for entry in doc["layers"]:  # --layer all: one matrix per layer (a head, or the mean of heads)
            if head is not None:
                matrix = entry["weights"][head]
            else:
                count = len(entry["weights"])
                matrix = [[sum(entry["weights"][h][i][j] for h in range(count)) / count
                           for j in range(len(entry["weights"][0][i]))] for i in range(len(entry["weights"][0]))]
            layer_doc = {**doc, "weights": [matrix], "layer": entry["layer"], "heads_mean": head is None,
                         "layers": None}
            parts += weight_views(layer_doc, heads=[0], precision=p, view=chosen, query_rows=rows, width=width)
    elif doc.get("model") and head is None and doc["weights"] is not None and len(doc["weights"]) > 1:
        count = len(doc["weights"])  # a model's many heads: their mean (the JSON keeps every head)
        matrix = [[sum(doc["weights"][h][i][j] for h in range(count)) / count for j in range(len(doc["weights"][0][i]))]
                  for i in range(len(doc["weights"][0]))]
        parts += weight_views({**doc, "weights": [matrix], "heads_mean": True}, heads=[0], precision=p, view=chosen,
                              query_rows=rows, width=width)
        parts.append(Text(f"the mean of {count} heads; --head K shows one", style="dim"))
    elif doc.get("top_k") is None or doc["weights"] is not None:
        parts += weight_views(doc, heads=heads, precision=p, view=chosen, query_rows=rows, width=width)
    if doc.get("top_k") is not None:
        parts.append(Text(""))
        parts.append(top_k_table(doc, heads=heads, precision=p))
    labels = tokens if rows is None else [f"{tokens[i]}@{i}" for i in rows]
    d_out = len(doc["context"][0]) if doc["context"] else 0
    parts.append(Text(""))
    parts.append(vector_table(labels, doc["context"], precision=3 if precision is None else precision,
                              title=f"context vectors (d_out = {d_out})", width_limit=width))
    return Group(*parts)
