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


def check_generation_mode(mode: str) -> None:
    """``generate --ablate``: ``mean`` (over positions) has no meaning one cached position at a time."""
    if mode == "mean":
        raise AttnError("mean needs every position at once; generation runs one new position per forward",
                        where=option("ablate_mode"), hint="use zero or first")


def check_generation(transformer, where: str | None = None) -> None:
    """``generate --ablate``: decoder-only models (an encoder-decoder's layers are two stacks)."""
    if getattr(transformer, "seq2seq", False):
        raise AttnError(f"{option('ablate')} on generate goes with decoder-only models; {transformer.name} is an "
                        "encoder-decoder model", where=where or option("ablate"))


def score_generation(transformer, gen, heads: list[tuple[int, int]], mode: str) -> dict:
    """A generation written with ``heads`` removed, scored under the intact model (one forward, no hooks).

    For each generated token k: ``logprobs_ablated[k]`` (its log-probability when it was written, heads
    removed) and ``logprobs_intact[k]`` (under the whole model, given the same tokens before it);
    ``intact_top[k]`` the intact model's most likely token there; ``first_departure`` the first step whose
    token differs from it (None: none); the losses are the negated means.
    """
    torch = transformer.torch
    ids = gen.ids
    n, count = len(gen.prompt_ids), len(gen.steps)
    try:  # only the last K + 1 positions' logits: K x V, as the generation itself held
        logits = transformer.forward(ids, logits_to_keep=count + 1).logits[0, :count]  # (K, V)
    except TypeError:  # a model without logits_to_keep
        logits = transformer.forward(ids).logits[0, n - 1:n - 1 + count]  # (K, V)
    predicted = torch.log_softmax(logits.float(), dim=-1)  # (K, V) step k's distribution
    target = torch.tensor([s.id for s in gen.steps], device=predicted.device)  # (K,)
    intact = predicted.gather(1, target[:, None])[:, 0]  # (K,)
    top = predicted.argmax(dim=-1).tolist()  # (K,)
    tokenizer = transformer.tokenizer
    ablated = [float(s.log_probability) for s in gen.steps]
    departs = [k for k, s in enumerate(gen.steps) if s.id != top[k]]
    return {"heads": [[layer, head] for layer, head in heads], "mode": mode, "written_by": "ablated",
            "scored_by": "intact", "logprobs_ablated": ablated, "logprobs_intact": intact.tolist(),
            "intact_top": [{"id": i, "token": tokenizer.convert_ids_to_tokens(i), "text": tokenizer.decode([i])}
                           for i in top],
            "first_departure": departs[0] if departs else None,
            "loss_ablated": -sum(ablated) / count, "loss_intact": float(-intact.mean())}
