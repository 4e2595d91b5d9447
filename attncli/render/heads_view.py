"""The view of ``attncli heads``: one colored layer x head grid per score, then the top heads.

Draws the document of attncli.head_scan and nothing else. Cells are colored with the shared
viridis scale (score 0 dark, 1 yellow) and their value is always printed, so the grid reads the
same without color.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from attncli.detectors import DESCRIPTIONS
from attncli.render.palette import hex_color, ink_for, weight_rgb
from attncli.textsafe import visible


def _cell(value: float, precision: int) -> Text:
    background = weight_rgb(value)
    return Text(f"{value:.{precision}f}", style=f"{hex_color(ink_for(background))} on {hex_color(background)}")


def _grid(name: str, scores: list[list[float]], precision: int) -> Group:
    heads = len(scores[0]) if scores else 0
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    table.add_column("layer", justify="right", style="dim")
    for h in range(heads):
        table.add_column(f"h{h}", justify="right")
    table.add_column("mean", justify="right", style="dim")
    for layer, row in enumerate(scores):
        mean = sum(row) / len(row) if row else 0.0
        table.add_row(str(layer), *(_cell(v, precision) for v in row), f"{mean:.{precision}f}")
    return Group(Text.assemble((name, "bold"), f": {DESCRIPTIONS[name]}"), table)


def _header(doc: dict) -> Text:
    info = doc.get("info") or {}
    if doc.get("model"):
        what = f"{doc['model']} ({info.get('architecture')})"
    else:
        what = f"toy config {doc.get('config')}"
    parts = [visible(what), f"{doc['layers']} layer(s) x {doc['heads']} head(s)"]
    kv = info.get("kv_heads")
    if kv and kv != doc["heads"]:
        parts.append(f"{kv} key/value heads (grouped-query)")
    parts.append("causal" if doc["causal"] else "bidirectional")
    probe = doc.get("probe")
    if probe is not None:
        prefix = f" after {visible(probe['prefix'])}" if probe.get("prefix") else ""
        parts.append(f"probe: {probe['length']} random tokens repeated twice{prefix}, seed {probe['seed']}")
    else:
        parts.append(f"your text, {len(doc['tokens'])} tokens")
    text = Text(" · ".join(parts))
    if info.get("quantized"):
        text.append("\n" + info["quantized"], style="dim")
    return text


def _top(doc: dict, precision: int) -> Group:
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    table.add_column("score")
    ranks = max((len(v) for v in doc["top"].values()), default=0)
    for rank in range(ranks):
        table.add_column(f"#{rank + 1}")
    for name, entries in doc["top"].items():
        table.add_row(name, *(f"L{e['layer']} H{e['head']} {e['score']:.{precision}f}" for e in entries))
    return Group(Text("top heads (L layer, H head, score)", style="bold"), table)


def heads_view(doc: dict, *, precision: int | None = None, width: int = 80) -> Group:
    p = 2 if precision is None else precision
    parts: list = [_header(doc), Text("")]
    for name, scores in doc["scores"].items():
        parts.append(_grid(name, scores, p))
        parts.append(Text(""))
    parts.append(_top(doc, p))
    return Group(*parts)
