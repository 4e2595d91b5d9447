"""What a document's tokens and masks look like on screen, decided once for every view.

A model's tokens are shown with their sub-word markers made readable (``Ġcat`` -> ``␣cat``,
``Ċ`` -> ``↵``; attncli.documents.tokens_display), a toy run's as typed; the JSON keeps the tokenizer's own
strings. A causal run's future positions are marked masked (``mask``: [R][N], True above the
diagonal) even when the document has no scores to read the mask from (a model's).
"""

from __future__ import annotations

from attncli.documents.tokens_display import display_tokens


def _causal(doc: dict) -> bool:
    return bool(((doc.get("config") or {}).get("attention") or {}).get("causal"))


def prepare(doc: dict) -> dict:
    """A run document ready to draw: display tokens and the causal mask."""
    if doc.get("_prepared"):
        return doc
    out = {**doc, "_prepared": True}
    if doc.get("model") is not None and doc.get("tokens"):
        out["tokens"] = display_tokens(doc["tokens"])
    if _causal(doc) and doc.get("scores") is None and doc.get("tokens"):
        n = len(doc["tokens"])
        rows = doc.get("focus") if doc.get("focus") is not None else range(n)
        out["mask"] = [[j > i for j in range(n)] for i in rows]
    return out


def prepare_compare(doc: dict) -> dict:
    if doc.get("_prepared"):
        return doc
    return {**doc, "_prepared": True, "contexts": [prepare(c) for c in doc["contexts"]]}


def masked(doc: dict, h: int) -> list[list[bool]] | None:
    """Head ``h``'s masked cells ([R][N]), or None when nothing is masked."""
    if doc.get("scores") is not None:
        return [[s is None for s in row] for row in doc["scores"][h]]
    return doc.get("mask")


def scale_phrase(attention: dict) -> str:
    """How the scores are scaled, in words (a document's ``config.attention``)."""
    if attention["scale"] is True:
        return f"scaled by sqrt({attention['d_head_k']})"
    if attention["scale"] is False:
        return "raw dot product"
    return f"divided by {attention['scale']:g}"
