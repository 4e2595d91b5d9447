"""Head ablation on a real model: ``--ablate L.H,...`` parsed, and the capture points' AblateHead.

``zero``: the head's z is 0; ``mean``: z replaced by its mean over positions; ``first``: the head's
pattern sent entirely to the first key (attncli.core.points.AblateHead, applied by attncli.models.capture
during the forward and gone after it).
"""

from __future__ import annotations

from attncli.errors import AttnError, option

MODES = ("zero", "mean", "first")


def parse_heads(text: str | None, layers: int, heads: int, where: str | None = None) -> list[tuple[int, int]]:
    """``L.H[,L.H...]`` (0-based; a negative layer counts from the end) -> sorted unique (layer, head)."""
    if text is None:
        return []
    where = where or option("ablate")
    out = set()
    for item in text.split(","):
        item = item.strip()
        layer_text, dot, head_text = item.partition(".")
        try:
            layer, head = int(layer_text), int(head_text)
        except ValueError:
            raise AttnError(f"expected LAYER.HEAD, got {item!r}", where=where, hint=f"e.g. {option('ablate')} 3.1,5.0") from None
        if not dot:
            raise AttnError(f"expected LAYER.HEAD, got {item!r}", where=where, hint=f"e.g. {option('ablate')} 3.1,5.0")
        if not -layers <= layer < layers:
            raise AttnError(f"layer {layer} is out of range: {layers} layers", where=where,
                            hint=f"use 0 to {layers - 1}")
        if not 0 <= head < heads:
            raise AttnError(f"head {head} is out of range: {heads} heads", where=where, hint=f"use 0 to {heads - 1}")
        out.add((layer % layers, head))
    return sorted(out)


def check_mode(mode: str, where: str | None = None) -> str:
    if mode not in MODES:
        raise AttnError(f"unknown ablation mode {mode!r}", where=where or option("ablate_mode"), hint="expected " + ", ".join(MODES))
    return mode


def interventions(heads: list[tuple[int, int]], mode: str) -> list:
    """(layer, head) pairs -> the capture points' AblateHead interventions."""
    from attncli.core.points import AblateHead

    return [AblateHead(layer, head, mode) for layer, head in heads]
