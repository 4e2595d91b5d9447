"""The terminal view of ``attncli explain``: one section per step, caption first, then its numbers."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text

from attncli.render.display import prepare
from attncli.render.layout import adaptive_precision
from attncli.render.matrix import heatmap, vector_table
from attncli.io.textsafe import visible

SQUARE_STEPS = ("scores", "scaled_scores", "weights")


def _step_body(step: dict, tokens: list[str], precision: int, width: int = 80,
               weight_precision: int | None = None, mode: str = "matrix") -> list[RenderableType]:
    parts: list[RenderableType] = []
    tensor, shape = step["tensor"], step["shape"]
    if step.get("projection") is not None:
        w = step["projection"]
        parts.append(vector_table([str(i) for i in range(len(w))], w, precision=precision, corner="row",
                                  title=f"projection matrix ({len(w)} x {len(w[0])})", width_limit=width))
    if step.get("encoding") is not None:
        parts.append(vector_table(tokens, step["encoding"], precision=precision, title="position encodings",
                                  width_limit=width))
    if len(shape) == 2:
        parts.append(vector_table(tokens, tensor, precision=precision, width_limit=width))
        return parts
    many = shape[0] > 1
    for h, matrix in enumerate(tensor):
        title = f"head {h}" if many else None
        if step["name"] == "weights":
            masked = None
            parts.append(heatmap(tokens, matrix, precision=weight_precision, title=title, masked=masked, mode=mode))
        elif step["name"] in SQUARE_STEPS:
            parts.append(vector_table(tokens, matrix, precision=precision, columns=tokens, corner="q \\ k",
                                      title=title))
        else:
            parts.append(vector_table(tokens, matrix, precision=precision, title=title, width_limit=width))
    return parts


def explain_view(doc: dict, *, precision: int | None = None, width: int = 80, color_scale: str | None = None) -> Group:
    p = 2 if precision is None else precision
    doc = prepare(doc)
    causal = bool(doc["config"]["attention"].get("causal"))
    mode = color_scale or ("keys" if causal else "matrix")
    tokens = doc["tokens"]
    parts: list[RenderableType] = [Text.assemble(("tokens: ", "bold"), " | ".join(visible(t) for t in tokens))]
    masked_rows = None
    for step in doc["steps"]:
        if step["name"] == "scaled_scores" and doc["config"]["attention"]["causal"]:
            masked_rows = [[[v is None for v in row] for row in head] for head in step["tensor"]]
        if step["name"] == "weights" and masked_rows is None and doc["config"]["attention"].get("causal"):
            # --step weights alone: the causal mask hides every key after the query.
            n = len(tokens)
            masked_rows = [[[j > i for j in range(n)] for i in range(n)] for _ in step["tensor"]]
    for number, step in enumerate(doc["steps"], start=1):
        shape = " x ".join(str(d) for d in step["shape"])
        parts.append(Text(""))
        parts.append(Rule(f"{number}. {step['name']}  ({shape})", align="left"))
        parts.append(Text(step["caption"]))  # Rich wraps prose between words
        wp = precision
        if wp is None and step["name"] == "weights":
            wp = adaptive_precision([[w for w in row if w is not None] for m in step["tensor"] for row in m])
        body = _step_body(step, tokens, p, width, wp, mode)
        if step["name"] == "measure" and len(step["shape"]) == 3:  # the measure's matrix, with its own legend
            from attncli.core.measures import legend_words

            mp = precision if precision is not None else adaptive_precision(
                [[w for w in row if w is not None] for m in step["tensor"] for row in m])
            body = [heatmap(tokens, m, precision=mp, title=f"head {h}" if len(step["tensor"]) > 1 else None,
                            mode=mode, meaning=legend_words(doc.get("measure")))
                    for h, m in enumerate(step["tensor"])]
        if step["name"] == "weights" and masked_rows is not None:
            body = [heatmap(tokens, m, precision=wp, title=f"head {h}" if len(step["tensor"]) > 1 else None,
                            masked=masked_rows[h], mode=mode) for h, m in enumerate(step["tensor"])]
        parts += body
    return Group(*parts)
