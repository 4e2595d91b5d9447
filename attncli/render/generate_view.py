"""The terminal view of ``attncli generate``, drawn from its JSON document.

* one line per generated token: its probability, rank, the top alternatives and the earlier
  tokens it attended to most (the chosen layer's mean of heads, or ``--head``);
* a token strip of the whole text (prompt, then what was written), each token colored by how much
  the selected step (``--step``, default the last) looked at it; the step's own token is boxed;
* ``--view grid``: generated tokens (rows) x every earlier token (columns) as a heatmap.

Under ``--measure`` (the document's ``measure``) every row is the measure's (the layer level, all
heads together, unless ``--head``), and the legends say what it means and its range, as run's do.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from attncli.documents.tokens_display import display_tokens
from attncli.io.textsafe import visible
from attncli.render.colors import MASKED, Paint, glyph_for
from attncli.render.layout import Lazy, Scale, fmt, heading, label, legend, line, note, wrap_phrases, wrap_texts
from attncli.errors import option

#: Most-attended tokens listed per step (two below 100 columns).
LOOKED_AT = 3
#: Token labels in the step table are shortened past this many cells.
TOKEN_CELLS = 12


def shown_tokens(doc: dict) -> list[str]:
    """Every token of the sequence as the views print it (␣ for a leading space, ↵ for a newline)."""
    return display_tokens(doc["prompt"]["tokens"] + [s["token"] for s in doc["steps"]])


def row_of(step: dict, layer: int, head: int | None, *, cross: bool = False) -> list[float]:
    """The step's attention over its keys: one head's row, or the mean over heads (a measure's level)."""
    entries = step["cross_attention" if cross else "attention"]
    entry = next(e for e in entries if e["layer"] == layer)
    if head is None:
        return entry["level"] if "level" in entry else entry["mean"]
    return entry["weights"][entry["heads"].index(head)]


def measure_of(doc: dict, cross: bool = False) -> str:
    return "weights" if cross else doc.get("measure") or "weights"


def _what(doc: dict, layer: int, head: int | None, cross: bool) -> str:
    from attncli.render.run_view import MEASURE_TITLES

    total = doc["model"].get("layers")
    measure = measure_of(doc, cross)
    kind = "cross-attention to the source" if cross else "attention" if measure == "weights" else \
        MEASURE_TITLES[measure]
    heads = f"head {head}" if head is not None else "mean of heads" if measure == "weights" else "all heads together"
    return f"{kind}: layer {layer}" + (f" of {total}" if total else "") + f" (0-based), {heads}"


def _meaning(doc: dict, cross: bool) -> str | None:
    """The legend's words under a measure (None for weights: the legend's own)."""
    from attncli.core.measures import legend_words

    measure = measure_of(doc, cross)
    return None if measure == "weights" else legend_words(measure)


def _measure_note(doc: dict, cross: bool, width: int) -> list[Text]:
    measure = measure_of(doc, cross)
    if measure == "weights":
        return []
    from attncli.core.measures import describe

    return note(f"{measure}: {describe(measure)}; colors span the values shown", width)


def header_lines(doc: dict, width: int) -> list[Text]:
    s = doc["settings"]
    m = doc["model"]
    if s.get("target") is not None:
        how = "teacher-forced target"
    elif s["strategy"] == "sample":
        parts = [f"temperature {s['temperature']:g}" if s["temperature"] is not None else None,
                 f"top-k {s['top_k']}" if s["top_k"] else None, f"top-p {s['top_p']:g}" if s["top_p"] else None,
                 f"seed {s['seed']}" if s["seed"] is not None else "unseeded"]
        how = "sampled (" + ", ".join(p for p in parts if p) + ")"
    else:
        how = "greedy"
    stop = {"eos": "stopped at the end-of-sequence token", "length": f"stopped at {s['max_new_tokens']} new tokens",
            "target": "the whole target scored"}[doc["stop"]]
    phrases = [(f"{visible(str(m.get('name')))}", "bold"),
               (f"· {len(doc['prompt']['ids'])} prompt tokens" + (" (chat template)" if s["chat"] else ""), "dim"),
               (f"· {len(doc['steps'])} new, {how}", "dim"), (f"· {stop}", "dim"),
               *([(f"· measure {measure_of(doc)}", "dim")] if measure_of(doc) != "weights" else []),
               (f"· {doc['dtype']} on {doc['device']}", "dim")]
    return wrap_phrases(phrases, width)


def _looked_at(row: list[float], tokens: list[str], k: int) -> list[tuple[int, float]]:
    order = sorted(range(len(row)), key=lambda j: -row[j])[:k]
    return [(j, row[j]) for j in order]


def _probability(value: float) -> str:
    """Five cells: 0.152, or 3e-04 below a thousandth (never a bare 0.000 for a token that was possible)."""
    return f"{value:.3f}" if value >= 0.001 or value == 0 else f"{value:.0e}"


def _short(value: float) -> str:
    """A weight or probability in three cells: .45, 1.0 (rounded up), <.01."""
    if value >= 0.995:
        return "1.0"
    return f"{value:.2f}"[1:] if value >= 0.005 else "<.01"


def _magnitude(value: float) -> str:
    """A measure's value that is not a share (norm, mixing: 0 up) in four cells: .45, 2.3, 17, 2e+04."""
    if value >= 9999.5:
        return f"{value:.0e}".replace("e+0", "e")
    if value >= 9.95:
        return f"{value:.0f}"
    if value >= 0.995:
        return f"{value:.1f}"
    return _short(value)


def step_lines(doc: dict, *, layer: int, head: int | None, width: int, paint: Paint, cross: bool = False,
               selected: int | None = None) -> list[Text]:
    """One line per step: index, token, probability, rank, alternatives, then what it looked at."""
    tokens = shown_tokens(doc)
    sources = display_tokens(doc["source"]["tokens"]) if cross else tokens
    looked = LOOKED_AT if width >= 100 else 2
    ablated = doc.get("ablation")
    from attncli.core.measures import normalized

    value = _short if normalized(measure_of(doc, cross)) else _magnitude
    scored = " log p intact " if ablated else ""
    lines = [line((f"   k {'token':<{TOKEN_CELLS}} p      rank  {scored}{'looked at most':<{15 * looked}}instead",
                   "dim"))]
    for step in doc["steps"]:
        k = step["index"]
        mark = "▸" if k == selected else " "
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{mark}{k:>3} ", style="bold" if k == selected else "dim")
        text.append(f"{label(tokens[step['position']], TOKEN_CELLS):<{TOKEN_CELLS}} ", style="bold")
        text.append(_probability(step["probability"]), style=paint.weight(step["probability"]) if paint.color else "")
        text.append(f" {'#' + str(step['rank']):>5}  ", style="dim")
        if ablated:  # this token's log-probability as written (heads removed), then under the intact model
            text.append(f"{step['log_probability']:>5.2f} {ablated['logprobs_intact'][k]:>6.2f}  ")
        row = row_of(step, layer, head, cross=cross)
        for j, w in _looked_at(row, sources, looked):
            text.append(f"{label(sources[j], 9):<9}", style="bold")
            text.append(f" {_short(w)}  " if value is _short else f" {value(w):<4} ", style="dim")
        alternatives = [a for a in step["alternatives"] if a["id"] != step["id"]]
        for a in alternatives:
            text.append(f"{label(display_tokens([a['token']])[0], 9)} {_short(a['probability'])}  ")
        if text.cell_len > width:
            text.truncate(width, overflow="ellipsis")
        lines.append(text)
    return lines


def strip_lines(doc: dict, *, step: int, layer: int, head: int | None, width: int, paint: Paint,
                cross: bool = False) -> list[RenderableType]:
    """The whole text as tokens, colored by the chosen step's attention (its own token boxed)."""
    chosen = doc["steps"][step]
    row = row_of(chosen, layer, head, cross=cross)
    tokens = display_tokens(doc["source"]["tokens"]) if cross else shown_tokens(doc)
    scale = Scale([row])
    pieces = []
    n_prompt = len(doc["prompt"]["ids"])
    for j, token in enumerate(tokens):
        shown = label(token, 24)
        if not cross and j == chosen["position"]:
            pieces.append(Text(f"[{shown}]", style="bold reverse" if paint.color else "bold"))
        elif not cross and j > chosen["position"]:
            pieces.append(Text(shown, style=MASKED))
        elif paint.color:
            pieces.append(Text(shown, style=paint.weight(scale(row[j]))))
        else:
            pieces.append(Text(f"{shown}{glyph_for(scale(row[j]))}"))
        if not cross and j == n_prompt - 1 and n_prompt < len(tokens):
            pieces.append(Text("│", style="dim"))
    token = label(shown_tokens(doc)[chosen["position"]], 24)
    title = (f"step {step} ({token}, p {_probability(chosen['probability'])}): "
             f"where it looked · {_what(doc, layer, head, cross)}")
    ratio = next((e.get("mixing_ratio") for e in chosen["attention"] if e["layer"] == layer), None)
    if ratio is not None and not cross:
        title += f" · mixing ratio {ratio:.2f} (the share from other tokens)"
    out: list[RenderableType] = [*heading(title, width), *wrap_texts(pieces, width)]
    precision = next((p for p in (2, 3, 4) if fmt(scale.low, p) != fmt(scale.high, p)), 4)
    out += legend(paint, scale, precision, width=width, meaning=_meaning(doc, cross))
    out += _measure_note(doc, cross, width)
    hint = "│ ends the prompt; " if not cross else ""
    out += note(f"{hint}{option('step')} K shows another step, {option('view')} grid every step at once", width)
    return out


def grid_lines(doc: dict, *, layer: int, head: int | None, width: int, paint: Paint,
               cross: bool = False) -> list[RenderableType]:
    """Generated tokens (rows) x earlier tokens (columns): one cell per weight, pooled to the width."""
    from attncli.render.grid_view import pooled

    steps = doc["steps"]
    keys = display_tokens(doc["source"]["tokens"]) if cross else shown_tokens(doc)[:steps[-1]["position"]]
    rows = []
    for step in steps:
        row = row_of(step, layer, head, cross=cross)
        rows.append(row + [None] * (len(keys) - len(row)))  # later keys: not yet written
    tokens = shown_tokens(doc)
    name_cells = min(TOKEN_CELLS, max(len(label(tokens[s["position"]], TOKEN_CELLS)) for s in steps))
    cols = max(4, min(len(keys), width - name_cells - 6))
    matrix, how = pooled(rows, len(rows), cols) if cols < len(keys) else (rows, None)
    live = [w for r in matrix for w in r if w is not None]
    scale = Scale([live])
    out: list[RenderableType] = [*heading(f"every step · {_what(doc, layer, head, cross)}", width)]
    for step, cells in zip(steps, matrix):
        text = Text(no_wrap=True, overflow="ignore")
        text.append(f"{step['index']:>3} {label(tokens[step['position']], name_cells):<{name_cells}} ", style="bold")
        for w in cells:
            if w is None:
                text.append("·" if paint.color else " ", style=MASKED)  # without color · is the lowest glyph
            elif paint.color:
                text.append(" ", style=paint.weight(scale(w)))
            else:
                text.append(glyph_for(scale(w)))
        lines_text = text
        out.append(lines_text)
    precision = next((p for p in (2, 3, 4) if fmt(scale.low, p) != fmt(scale.high, p)), 4)
    out += legend(paint, scale, precision, width=width, meaning=_meaning(doc, cross))
    out += _measure_note(doc, cross, width)
    pooling = f", {how.phrase()}" if how is not None and how.pooled else ""
    what = "source tokens" if cross else "earlier tokens (prompt first)"
    blank = "·" if paint.color else "a blank"
    out += note(f"rows: generated tokens; columns: {what}{pooling}; {blank}: not yet written", width)
    return out


def generate_view(doc: dict, *, layer: int, head: int | None = None, step: int | None = None, view: str = "steps",
                  attention: str = "self") -> Lazy:
    """The whole view: header, the step table, then the strip of the selected step (or the grid)."""

    def build(paint: Paint, width: int, _height: int) -> list[RenderableType]:
        out: list[RenderableType] = header_lines(doc, width)
        if not doc["steps"]:
            return out + note("no tokens were generated", width)
        chosen = len(doc["steps"]) - 1 if step is None else step
        cross = attention == "cross"
        out += [line(""), *step_lines(doc, layer=layer, head=head, width=width, paint=paint, cross=cross,
                                      selected=chosen), line("")]
        if doc.get("ablation"):
            from attncli.render.ablation_view import generation_lines

            out += generation_lines(doc["ablation"], doc["steps"], 2, width) + [line("")]
        if view == "grid":
            out += grid_lines(doc, layer=layer, head=head, width=width, paint=paint, cross=cross)
        else:
            out += strip_lines(doc, step=chosen, layer=layer, head=head, width=width, paint=paint, cross=cross)
        return out

    return Lazy(build)
