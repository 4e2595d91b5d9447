"""The view of ``attncli heads``: one colored layer x head grid per score, then the top heads.

Draws the document of attncli.core.head_scan and nothing else. Cells are colored with the shared
viridis scale (score 0 dark, 1 yellow) for the terminal's color system, and their value is
always printed, so the grid reads the same without color; narrow terminals get blocks of heads.
"""

from __future__ import annotations

from rich.text import Text

from attncli.core.detectors import DESCRIPTIONS, MEASURE_ROWS
from attncli.render.colors import Paint
from attncli.render.layout import Column, Lazy, block_table, fmt
from attncli.core.numbers import plural
from attncli.io.textsafe import visible


EFFECT = "loss rise on the probe's second copy with the head ablated alone (nats; colors: 0 to the largest)"


def _grid(name: str, scores: list[list[float]], precision: int, paint: Paint, width: int) -> list[Text]:
    """One score's layer x head grid: cells on the shared viridis scale (0 to 1), values printed,
    split into blocks of heads when the terminal is narrow (never a cut number). ``effect`` is not
    in [0, 1]: its colors run from 0 to its largest value."""
    heads = len(scores[0]) if scores else 0
    top = max((v for row in scores for v in row), default=1.0) if name == "effect" else 1.0
    scale = 1.0 / top if top > 0 else 1.0
    cell = precision + 2
    columns = [Column(f"h{h}", cell) for h in range(heads)] + [Column("mean", cell)]
    rows = []
    for layer, row in enumerate(scores):
        mean = sum(row) / len(row) if row else 0.0
        cells = [Text(fmt(v, precision), style=paint.weight(min(1.0, max(0.0, v * scale)))) for v in row]
        rows.append((Text(str(layer), style="dim"), cells + [Text(fmt(mean, precision), style="dim")]))
    description = EFFECT if name == "effect" else DESCRIPTIONS[name]
    return [Text.assemble((name, "bold"), f": {description}")] + \
        block_table("layer", columns, rows, width, noun="heads", header_style="bold")


def _sink(doc: dict, precision: int, paint: Paint, width: int) -> list[Text]:
    """The first token's share per layer under weights and under norm, side by side (blocks of layers)."""
    weights, norms = doc.get("first_token_mass"), doc.get("first_token_norm")
    if not weights or not norms:
        return []
    cell = max(precision + 2, 3)
    columns = [Column(str(layer), cell) for layer in range(len(weights))]
    rows = [(name, [Text(fmt(v, precision), style=paint.weight(min(1.0, max(0.0, v)))) for v in values])
            for name, values in (("weights", weights), ("norm", norms))]
    title = Text.assemble(("the sink", "bold"), ": the first token's share of each row, by layer, under the "
                          "softmax weights and under ||alpha f(x)|| (norm)")
    return [title] + block_table("layer", columns, rows, width, noun="layers", header_style="bold") + [Text("")]


def _header(doc: dict) -> Text:
    info = doc.get("info") or {}
    if doc.get("model"):
        what = f"{doc['model']} ({info.get('architecture')})"
    else:
        what = f"toy config {doc.get('config')}"
    layers, heads = doc["layers"], doc["heads"]
    parts = [visible(what), f"{plural(layers, 'layer')} x {plural(heads, 'head')}"]
    kv = info.get("kv_heads")
    if kv and kv != doc["heads"]:
        parts.append(f"{kv} key/value heads (grouped-query)")
    parts.append("causal" if doc["causal"] else "bidirectional")
    probe = doc.get("probe")
    if probe is not None:
        prefix = f" after {visible(probe['prefix'])}" if probe.get("prefix") else ""
        parts.append(f"probe: {probe['length']} random tokens repeated twice{prefix}, seed {probe['seed']}")
    else:
        parts.append(f"your text, {plural(len(doc['tokens']), 'token')}")
    text = Text(" · ".join(parts))
    if info.get("quantized"):
        text.append("\n" + info["quantized"], style="dim")
    return text + measure_line(doc)


def measure_line(doc: dict) -> Text:
    """Under a measure other than the weights: what every score below reads (empty for weights)."""
    measure = doc.get("measure") or "weights"
    if measure not in MEASURE_ROWS:
        return Text("")
    return Text.assemble("\n", (f"scores read {measure}", "bold"), f": {MEASURE_ROWS[measure]}")


def _top(doc: dict, precision: int, width: int) -> list[Text]:
    ranks = max((len(v) for v in doc["top"].values()), default=0)
    entries = {name: [f"L{e['layer']} H{e['head']} {fmt(e['score'], precision)}" for e in found]
               for name, found in doc["top"].items()}
    columns = [Column(f"#{rank + 1}", max([len(v[rank]) for v in entries.values() if len(v) > rank] + [2]),
                      justify="left") for rank in range(ranks)]
    rows = [(name, values + [""] * (ranks - len(values))) for name, values in entries.items() if values]
    out = [Text("top heads (L layer, H head, score)", style="bold")]
    if rows:
        out += block_table("score", columns, rows, width, noun="ranks")
    for name, threshold in (doc.get("thresholds") or {}).items():
        if not doc["top"].get(name):
            best = max(v for row in doc["scores"][name] for v in row)
            out.append(Text(f"no {name} head: no score reaches {fmt(threshold, precision)} (the best is "
                            f"{fmt(best, precision)}; below the threshold the score is noise)", style="yellow"))
    return out


def heads_view(doc: dict, *, precision: int | None = None, width: int = 80) -> Lazy:
    p = 2 if precision is None else precision

    def build(paint: Paint, render_width: int, _height: int) -> list:
        w = min(width, render_width)
        parts: list = [_header(doc), Text("")]
        if doc.get("ablation"):
            from attncli.render.ablation_view import record_lines

            parts += record_lines(doc["ablation"], doc["tokens"], p, w, what="every score below is computed "
                                  "without them") + [Text("")]
        for name, scores in doc["scores"].items():
            parts += _grid(name, scores, p, paint, w)
            parts.append(Text(""))
        parts += _sink(doc, p, paint, w)
        parts += _top(doc, p, w)
        return parts

    return Lazy(build, width)
