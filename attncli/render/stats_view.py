"""``run --stats``: per-row summaries of a long input's attention, one line per query row."""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.text import Text

from attncli.render.layout import heading, label, note
from attncli.core.numbers import plural
from attncli.errors import option

#: Rows listed in the terminal (the JSON has every row).
STATS_ROWS = 24


def stats_view(doc: dict, *, head: int | None, width: int) -> list[RenderableType]:
    """Entropy, first-token share and top-1 key per query row: one head's, or the mean over heads."""
    stats = doc["stats"]
    tokens = doc["tokens"]
    rows = doc["focus"] if doc["focus"] is not None else list(range(len(tokens)))
    heads = [head] if head is not None else list(range(len(stats["entropy"])))
    what = f"head {head}" if head is not None else f"mean of {plural(len(heads), 'head')}"
    layer = f"layer {doc['layer']}, " if doc.get("layer") is not None else ""
    out: list[RenderableType] = [*heading(f"per-row attention summary, {layer}{what}", width)]
    out.append(Text(f"{'query':<24} {'entropy':>8} {'first':>7}  top-1 key", style="bold"))
    shown = rows if len(rows) <= STATS_ROWS else rows[:STATS_ROWS // 2] + rows[-STATS_ROWS // 2:]
    for query in shown:
        r = rows.index(query)
        if len(rows) > STATS_ROWS and query == rows[-STATS_ROWS // 2]:
            out.append(Text(f"… {plural(len(rows) - STATS_ROWS, 'row')} …", style="dim"))
        entropy = sum(stats["entropy"][h][r] for h in heads) / len(heads)
        first = sum(stats["first_token"][h][r] for h in heads) / len(heads)
        key, count = Counter(stats["top1"][h][r] for h in heads).most_common(1)[0]
        agree = f" ({count}/{len(heads)} heads)" if len(heads) > 1 else ""
        name = f"{query} {label(tokens[query], 16)}"
        out.append(Text.assemble(f"{name:<24} {entropy:8.3f} {first:7.3f}  ", (label(tokens[key], 16), "bold"),
                                 (f"@{key}{agree}", "dim")))
    out += note("entropy in nats (0: one key; ln N: uniform); first: the weight on token 0; top-1: the most "
                f"attended key (with several heads: the most common one). {option('json')} has every row and head.", width)
    return out
