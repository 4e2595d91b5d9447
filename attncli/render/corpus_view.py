"""The view of ``attncli heads --file`` over a corpus (and of ``heads merge``): the top heads per score.

Draws the summary document of attncli.documents.corpus: a header (model, texts, tokens, failed
lines, shards), then per score its top heads by mean over the texts, with the standard deviation,
min and max of each; the mean's cell is colored on the shared viridis scale (the number is printed,
so it reads the same without color).
"""

from __future__ import annotations

from rich.text import Text

from attncli.core.numbers import plural
from attncli.core.detectors import DESCRIPTIONS
from attncli.io.textsafe import visible
from attncli.render.colors import Paint
from attncli.render.heads_view import measure_line
from attncli.render.layout import Column, Lazy, block_table, fmt


def _header(doc: dict) -> Text:
    model = doc.get("model") or {}
    layers, heads = doc["layers"], doc["heads"]
    parts = [visible(f"{model.get('name')} ({model.get('architecture')})"),
             f"{plural(layers, 'layer')} x {plural(heads, 'head')}",
             "causal" if doc.get("causal") else "bidirectional",
             f"{plural(doc['texts'], 'text')}, {plural(doc['tokens'], 'token')}"]
    shards = doc.get("shards") or {}
    if shards.get("count", 1) > 1:
        indices = shards["indices"]
        parts.append(f"shards {', '.join(map(str, indices))} of {shards['count']}" if len(indices) < shards["count"]
                     else f"all {shards['count']} shards")
    text = Text(" · ".join(parts))
    if doc.get("errors"):
        lines = ", ".join(map(str, doc["error_lines"]))
        more = "..." if doc["errors"] > len(doc["error_lines"]) else ""
        text.append(f"\n{plural(doc['errors'], 'line')} failed (line "
                    f"{lines}{more}): not in the statistics", style="yellow")
    if model.get("quantized"):
        text.append("\n" + model["quantized"], style="dim")
    return text + measure_line(doc)


def _score(name: str, doc: dict, precision: int, paint: Paint, width: int) -> list[Text]:
    summary = doc["summary"][name]
    entries = doc["top"][name]
    columns = [Column("head", max([len(f"L{e['layer']} H{e['head']}") for e in entries] + [4]), justify="left"),
               Column("mean ± sd", 2 * precision + 7), Column("min", precision + 2), Column("max", precision + 2)]
    rows = []
    for rank, e in enumerate(entries, 1):
        l, h = e["layer"], e["head"]
        mean = Text(fmt(e["mean"], precision), style=paint.weight(min(1.0, max(0.0, e["mean"]))))
        rows.append((str(rank), [f"L{l} H{h}", Text.assemble(mean, f" ± {fmt(e['sd'], precision)}"),
                                 fmt(summary["min"][l][h], precision), fmt(summary["max"][l][h], precision)]))
    title = Text.assemble((name, "bold"), f": {DESCRIPTIONS.get(name, name)}")
    return [title] + block_table("#", columns, rows, width, header_style="bold") + [Text("")]


def corpus_view(doc: dict, *, precision: int | None = None, width: int = 80) -> Lazy:
    p = 2 if precision is None else precision

    def build(paint: Paint, render_width: int, _height: int) -> list:
        w = min(width, render_width)
        parts: list = [_header(doc), Text("")]
        if not doc["texts"]:
            return parts + [Text("no text was scored", style="yellow")]
        parts.append(Text("top heads by their mean over the texts (L layer, H head, ± the standard deviation)",
                          style="bold"))
        for name in doc["scores"]:
            parts += _score(name, doc, p, paint, w)
        return parts

    return Lazy(build, width)
