"""The terminal view of ``attncli run``: a header, heatmaps (or the head grid), context vectors."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from attncli.render.colors import Paint
from attncli.render.layout import (
    Column, Lazy, Scale, adaptive_precision, block_table, entries, fmt, heading, label, line, note, scale_summary,
    wrap_phrases,
)
from attncli.render.matrix import (
    MAX_MARK, compact_fits, compact_heatmap, full_heatmap_width, heatmap, vector_table,
)
from attncli.render.display import masked, prepare, scale_phrase
from attncli.core.numbers import plural
from attncli.io.textsafe import visible
from attncli.errors import option

#: Inputs up to this many tokens get the full table with every weight printed.
FULL_VIEW_TOKENS = 10
#: The header lists at most this many tokens.
HEADER_TOKENS = 16


def _token_phrases(doc: dict) -> list[tuple[str, object]]:
    special = doc.get("special") or [False] * len(doc["tokens"])
    shown = list(zip(doc["tokens"], doc["oov"], special))
    if len(shown) > HEADER_TOKENS:
        shown = shown[:12]
    phrases = []
    for token, oov, is_special in shown:
        text = visible(token) + ("(oov)" if oov else "")
        phrases.append((text, "dim" if is_special else ("bold yellow" if oov else "bold")))
    if len(doc["tokens"]) > len(shown):
        phrases.append(("…", "dim"))
    return phrases


def _layers_phrase(doc: dict, scale: str = "one color scale") -> str:
    numbers = [entry["layer"] for entry in doc["layers"]]
    total = doc["config"]["model"]["layers"]
    if numbers == list(range(total)):
        return f"all {plural(total, 'layer')} (0-{total - 1}, 0-based), {scale}"
    return "layers " + ", ".join(str(n) for n in numbers) + f" of {total} (0-based), {scale}"


def _setting_phrases(doc: dict, scale: str = "one color scale") -> list[str]:
    cfg = doc["config"]
    a = cfg["attention"]
    n = len(doc["tokens"])
    if doc.get("model"):
        m = cfg["model"]
        if doc.get("rollout"):
            what = "attention rollout over all layers"
        elif doc.get("layers"):
            what = _layers_phrase(doc, scale)
        else:
            what = f"layer {doc['layer']} of {m['layers']} (0-based)"
        mean = "mean of heads" if measure_of(doc) == "weights" else "all heads together"
        heads = mean if doc.get("heads_mean") else plural(len(doc['weights']) if doc.get('weights') else m['heads'],
                                                           "head")
        return [f"{plural(n, 'token')} ({sum(doc['special'])} special)",
                f"model {visible(m['name'])} ({m['architecture']})",
                what, heads, f"{cfg['dtype']} on {cfg['device']}"]
    scale = scale_phrase(a)
    parts = [plural(n, "token"), plural(a["heads"], "head"), scale]
    if a["temperature"] != 1.0:
        parts.append(f"temperature {a['temperature']:g}")
    if a["causal"]:
        parts.append("causal")
    if a["positional"] != "none":
        parts.append(a["positional"])
    if a["projections"] != "identity":
        parts.append(f"{a['projections']} projections")
    parts.append(f"{cfg['dtype']} on {cfg['device']}")
    return parts


#: What a view calls the matrix of each measure (attncli.core.measures).
MEASURE_TITLES = {"weights": "attention weights", "norm": "norm ||alpha f(x)||", "mixing": "mixing (residual, LN)",
                  "alti": "ALTI contributions", "value-zeroing": "value zeroing"}


def measure_of(doc: dict) -> str:
    return doc.get("measure") or "weights"


def _meaning(doc: dict) -> str | None:
    """The legend's words for the document's measure (None for weights: the legend's own)."""
    from attncli.core.measures import legend_words

    return None if measure_of(doc) == "weights" else legend_words(measure_of(doc))


def header_lines(doc: dict, width: int, scale: str = "one color scale") -> list[Text]:
    """The tokens and the settings that matter, wrapped between words and phrases only.

    ``scale``: how the colors of ``--layer all`` span the layers (layout.scale_summary).
    """
    settings = _setting_phrases(doc, scale)
    if measure_of(doc) != "weights":
        settings.insert(0, f"measure {measure_of(doc)}")
    phrases = _token_phrases(doc) + [("· " + p, "dim") for p in settings]
    return wrap_phrases(phrases, width)


def describe(doc: dict) -> Text:
    """One line: the tokens (out-of-vocabulary ones marked) and the settings that matter."""
    return Text(" ").join(header_lines(doc, 10 ** 6))


def choose_view(tokens: list[str], precision: int, width: int, view: str) -> str:
    if view != "auto":
        return view
    if len(tokens) <= FULL_VIEW_TOKENS and full_heatmap_width(tokens, precision) <= width:
        return "full"
    return "compact"


def _positions(doc: dict) -> list[int]:
    return doc["focus"] if doc.get("focus") is not None else list(range(len(doc["tokens"])))


def _causal(doc: dict) -> bool:
    return bool(doc["config"]["attention"]["causal"])


def _top_from_weights(doc: dict, k: int) -> dict:
    """The document's ``top_k`` as ``run --top-k`` computes it, from the weights the view shows."""
    import torch

    from attncli.core.attention import top_links, visible_keys

    positions = _positions(doc)
    weights = torch.tensor(doc["weights"], dtype=torch.float64)  # (H, R, N)
    values, indices = top_links(weights, k, positions if _causal(doc) else None)  # (H, R, K) x2
    counts = visible_keys(positions, weights.shape[-1], _causal(doc)).tolist()  # (R,)
    cut = [[row[:c] for row, c in zip(head, counts)] for head in indices.tolist()]
    shown = [[row[:c] for row, c in zip(head, counts)] for head in values.tolist()]
    return {**doc, "top_k": {"k": int(indices.shape[-1]), "indices": cut, "weights": shown}}


def _masked(doc: dict, h: int):
    return masked(doc, h)


def _live(doc: dict, h: int) -> list[list]:
    """Head ``h``'s weights with the masked cells as None (they do not count for the scale)."""
    masked = _masked(doc, h)
    weights = doc["weights"][h]
    if masked is None:
        return weights
    return [[None if m else w for w, m in zip(row, mrow)] for row, mrow in zip(weights, masked)]


def weight_views(doc: dict, *, heads: list[int], precision: int | None, view: str,
                 query_rows: list[int] | None = None, width: int = 80, scale: Scale | None = None,
                 titles: list[str] | None = None, forced: bool = False, mode: str = "matrix") -> list[RenderableType]:
    """The heatmaps of ``heads``; ``forced``: the user named the view (--view), never replaced."""
    tokens = doc["tokens"]
    if doc["weights"] is None:
        return [line((f"attention weights left out (too large for {option('max_weights_mb')}); see the top-k table",
                      "dim"))]
    many = len(doc["weights"]) > 1
    if view == "compact" and not compact_fits(tokens, width):
        from attncli.render.wide_view import key_block_views, pooled_views

        # Too many keys for one character each: blocks of keys when asked for, else a pooled picture.
        names = [(titles[number] if titles else (f"attention weights, head {h}" if many else "attention weights"))
                 + " (rows: queries, columns: keys)" for number, h in enumerate(heads)]
        draw = key_block_views if forced else pooled_views
        return draw(tokens, [_live(doc, h) for h in heads], names, query_rows=query_rows, width=width, mode=mode,
                    precision=precision, meaning=_meaning(doc))
    shown = [doc["weights"][h] for h in heads]
    shared = scale or Scale.over([_live(doc, h) for h in heads], mode)
    # row: each matrix's rows their own ranges (shared by several matrices, a row's range is about 0 to 1)
    own = [Scale.over([_live(doc, h)], mode) if mode == "row" else shared for h in heads]
    p = precision if precision is not None else adaptive_precision([row for m in shown for row in m])
    parts: list[RenderableType] = []
    what = MEASURE_TITLES.get(measure_of(doc), "attention weights")
    for number, h in enumerate(heads):
        title = titles[number] if titles else (f"{what}, head {h}" if many else what)
        title += " (rows: queries, columns: keys)"
        last = number == len(heads) - 1
        if view == "full":
            parts.append(heatmap(tokens, doc["weights"][h], precision=p, title=title, query_rows=query_rows,
                                 masked=_masked(doc, h), scale=own[number], show_legend=last, meaning=_meaning(doc)))
        else:
            parts.append(compact_heatmap(tokens, doc["weights"][h], title=title, query_rows=query_rows,
                                         masked=_masked(doc, h), width=width, scale=own[number], precision=p,
                                         show_legend=last, meaning=_meaning(doc)))
        parts.append(Text(""))
    if view == "full":
        noun = "weight" if measure_of(doc) == "weights" else "value"
        items = [f"{MAX_MARK} largest {noun} in each row (every one that prints equal to it)"]
        if any(any(row) for h in heads for row in (_masked(doc, h) or [])):  # a masked cell is drawn
            items.append("- masked (causal)")
        if len(heads) > 1:
            items.append("each row its own color range" if mode == "row" else "one color scale for all heads")
        parts += entries(items, width)
    if measure_of(doc) != "weights":
        from attncli.core.measures import describe

        parts += note(f"{measure_of(doc)}: {describe(measure_of(doc))}; colors span the values shown", width)
    return parts


def top_k_table(doc: dict, *, heads: list[int], precision: int | None, width: int = 80,
                what: str = "") -> RenderableType:
    """Each query's K most-attended keys, per head: ``token@index weight``."""
    tokens = doc["tokens"]
    top = doc["top_k"]
    rows = doc["focus"] if doc["focus"] is not None else list(range(len(tokens)))
    p = precision if precision is not None else adaptive_precision([r for h in heads for r in top["weights"][h]])
    many = len(top["indices"]) > 1
    parts: list[RenderableType] = []
    for h in heads:
        names = [[f"{label(tokens[j])}@{j}" for j in row] for row in top["indices"][h]]
        numbers = [[fmt(w, p) for w in row] for row in top["weights"][h]]
        # each rank's names padded and its numbers right-aligned, so that decimal points line up
        name_w = [max((len(row[k]) for row in names if len(row) > k), default=0) for k in range(top["k"])]
        number_w = [max((len(row[k]) for row in numbers if len(row) > k), default=0) for k in range(top["k"])]
        cells = []
        for r, query in enumerate(rows):
            row = [Text.assemble((label(tokens[j]), "bold"), (f"@{j}", "dim"), " " * (name_w[k] - len(name) + 1),
                                 number.rjust(number_w[k]))
                   for k, (j, name, number) in enumerate(zip(top["indices"][h][r], names[r], numbers[r]))]
            cells.append((f"{query} {label(tokens[query])}", row + [Text("")] * (top["k"] - len(row))))
        columns = [Column(f"#{k + 1}", max(max((c[1][k].cell_len for c in cells), default=2), len(f"#{k + 1}")),
                          "left") for k in range(top["k"])]
        title = "top key per query" if top["k"] == 1 else f"top {top['k']} keys per query"
        title += f", head {h}" if many else (f", {what}" if what else "")
        if _causal(doc) and h == heads[0] and any(len(r) < top["k"] for r in top["indices"][h]):
            title += " (a causal query sees only itself and earlier keys: early rows list fewer)"
        parts += [*heading(title, width), *block_table("query", columns, cells, width, noun="ranks"), Text("")]
    return Lazy(lambda paint, w, ht: parts)


def _mean(matrices: list) -> list[list[float]]:
    """[H][R][N] -> [R][N]: the heads' mean, by the one head mean of attncli (core.attention)."""
    import torch

    from attncli.core.attention import head_mean

    return head_mean(torch.tensor(matrices, dtype=torch.float64))[0].tolist()  # (R, N)


#: A context vector table longer than this many rows is summarized (--context all shows every row).
CONTEXT_ROWS = 12


def default_scale(doc: dict) -> str:
    """The --color-scale a view gets when none is asked for: ``keys`` for a causal run, else ``matrix``.

    A causal query 0 attends only to itself (weight 1), and decoders put most weight on the first
    token (an attention sink): with one range for the matrix, everything else is the darkest color.
    """
    return "keys" if _causal(doc) else "matrix"


def run_view(doc: dict, *, head: int | None = None, precision: int | None = None,
             view: str = "auto", width: int = 80, color_scale: str | None = None, context: str = "auto") -> Lazy:
    """The whole run view, laid out when drawn (for that console's width and colors)."""
    doc = prepare(doc)
    mode = color_scale or default_scale(doc)

    def build(paint: Paint, render_width: int, height: int) -> list[RenderableType]:
        return _build(doc, head, precision, view, min(width, render_width), height, mode, context)

    return Lazy(build)


def _build(doc: dict, head: int | None, precision: int | None, view: str, width: int,
           height: int, mode: str = "matrix", context: str = "auto") -> list[RenderableType]:
    tokens = doc["tokens"]
    rows = doc.get("focus")
    p = precision
    if p is None and doc["weights"] is not None and len(tokens) <= FULL_VIEW_TOKENS:
        p = adaptive_precision([row for m in doc["weights"] for row in m])
    chosen = choose_view(tokens, 2 if p is None else p, width, view)
    forced = view != "auto"
    n_heads = len(doc["weights"]) if doc["weights"] is not None else doc["config"]["attention"]["heads"]
    heads = [head] if head is not None else list(range(n_heads))
    summary = scale_summary(mode, each=chosen == "grid")
    parts: list[RenderableType] = [*header_lines(doc, width, summary), Text("")]
    top_doc, top_heads, top_what, top_p = doc, heads, "", precision
    if doc["weights"] is None and doc.get("stats") is not None:
        from attncli.render.stats_view import stats_view

        parts += stats_view(doc, head=head, width=width)
    elif chosen == "grid":
        from attncli.render.grid_view import grid_view

        parts += grid_view(doc, head=head, width=width, height=height, mode=mode)
    elif doc.get("layers"):
        # --layer all: one matrix per layer (a head, or the mean of heads), one scale for all.
        matrices = [entry["weights"][head] if head is not None else
                    (entry["level"][0] if entry.get("level") else _mean(entry["weights"])) for entry in doc["layers"]]
        layer_doc = {**doc, "weights": matrices, "scores": None}
        shared = Scale.over([_live(layer_doc, i) for i in range(len(matrices))], mode)
        p = precision if precision is not None else adaptive_precision([r for m in matrices for r in m])
        together = "all heads together" if doc["layers"][0].get("level") else "mean of heads"
        what = f"head {head}" if head is not None else together
        label_of = MEASURE_TITLES.get(measure_of(doc), "") + ", " if measure_of(doc) != "weights" else ""
        titles = [f"L{entry['layer']} · {label_of}layer {entry['layer']}, {what}" for entry in doc["layers"]]
        parts += weight_views(layer_doc, heads=list(range(len(matrices))), precision=p, view=chosen,
                              query_rows=rows, width=width, scale=shared, titles=titles, forced=forced, mode=mode)
    elif doc.get("model") and head is None and doc["weights"] is not None and len(doc["weights"]) > 1:
        count = len(doc["weights"])  # a model's many heads: their mean (the JSON keeps every head)
        level = doc.get("level")
        together = "all heads together" if level else "mean of heads"
        prefix = MEASURE_TITLES[measure_of(doc)] + ", " if measure_of(doc) != "weights" else ""
        title = "attention rollout" if doc.get("rollout") else f"{prefix}layer {doc['layer']}, {together}"
        mean_doc = {**doc, "weights": [level[0] if level else _mean(doc["weights"])]}
        p = precision if precision is not None else adaptive_precision(mean_doc["weights"][0])
        parts += weight_views(mean_doc, heads=[0], precision=p, view=chosen, query_rows=rows, width=width,
                              titles=[title], forced=forced, mode=mode)
        what = f"||sum over {plural(count, 'head')}||" if level else f"the mean of {plural(count, 'head')}"
        parts += note(f"{what}; {option('head')} K shows one, {option('view')} grid all at once", width)
        if doc.get("top_k") is not None:  # the strongest links of the matrix shown
            top_doc = _top_from_weights(mean_doc, doc["top_k"]["k"])
            top_heads, top_what, top_p = [0], together, p
    elif doc.get("top_k") is None or doc["weights"] is not None:
        titles = None
        if doc.get("model"):
            prefix = MEASURE_TITLES[measure_of(doc)] + ", " if measure_of(doc) != "weights" else ""
            together = "mean of heads" if measure_of(doc) == "weights" else "all heads together"
            titles = ["attention rollout" if doc.get("rollout") else
                      f"{prefix}layer {doc['layer']}, " + (together if doc.get("heads_mean") or len(heads) == 1
                                                           and len(doc["weights"]) == 1 else f"head {h}")
                      for h in heads]
        parts += weight_views(doc, heads=heads, precision=precision, view=chosen, query_rows=rows, width=width,
                              titles=titles, forced=forced, mode=mode)
        if precision is None and doc["weights"] is not None:  # the top-k table prints as the matrix does
            top_p = adaptive_precision([r for h in heads for r in doc["weights"][h]])
    if doc["weights"] is not None and doc.get("stats") is not None:
        from attncli.render.stats_view import stats_view

        parts += [Text(""), *stats_view(doc, head=head, width=width)]
    if doc.get("top_k") is not None:
        parts.append(Text(""))
        parts.append(top_k_table(top_doc, heads=top_heads, precision=top_p, width=width, what=top_what))
    if context != "none":
        parts += _context(doc, tokens, rows, precision, width, context)
    return parts


def _context(doc: dict, tokens: list[str], rows: list[int] | None, precision: int | None, width: int,
             context: str) -> list[RenderableType]:
    """The context vectors: every row with --context all (or when few), else the first rows and a count."""
    labels = tokens if rows is None else [f"{tokens[i]}@{i}" for i in rows]
    vectors = doc["context"] or []
    d_out = len(vectors[0]) if vectors else 0
    shown = len(vectors) if context == "all" or len(vectors) <= CONTEXT_ROWS else CONTEXT_ROWS - 2
    out: list[RenderableType] = [Text(""), vector_table(
        labels[:shown], vectors[:shown], precision=3 if precision is None else precision,
        title=f"context vectors (d_out = {d_out})", width_limit=width)]
    if shown < len(vectors):
        out += note(f"the first {shown} of {plural(len(vectors), 'row')}; {option('context')} all shows every row, "
                    f"{option('context')} none hides them, {option('json')} has them all", width)
    return out
