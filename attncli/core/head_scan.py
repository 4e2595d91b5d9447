"""``attncli heads``: run a model (or a toy config) on a probe or a text and score every head.

The core of the command, no typer or rich: :func:`scan_model` and :func:`scan_toy` return the
JSON document that the terminal view draws (attncli.render.heads_view).
"""

from __future__ import annotations

from typing import Callable

from attncli.core import detectors
from attncli.errors import AttnError


def _document(*, weights, causal: bool, probe: dict | None, source: dict, only: str | None, top: int,
              precision: int | None, tokens: list[str]) -> dict:
    from attncli import SCHEMA_VERSION, __version__
    from attncli.documents.jsonout import to_list

    layers, heads, n, _ = weights.shape
    span = (probe["start"], probe["length"]) if probe is not None else None
    scores = detectors.score_all(weights, causal=causal, probe=span)
    if only is not None:
        if only not in scores:
            raise AttnError(f"{only!r} needs the repeated-token probe, not --text or --file", where="--score",
                            hint="drop --text/--file, or pick one of " + ", ".join(detectors.TEXT_SCORES))
        scores = {only: scores[only]}
    return {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        **source,
        "layers": int(layers),
        "heads": int(heads),
        "causal": causal,
        "tokens": tokens,
        "scores": {name: to_list(value, precision) for name, value in scores.items()},
        "top": {name: [{"layer": l, "head": h, "score": v if precision is None else round(v, precision)}
                       for l, h, v in detectors.top_heads(value, top) if v >= detectors.THRESHOLDS.get(name, -1.0)]
                for name, value in scores.items()},
        "thresholds": {name: t for name, t in detectors.THRESHOLDS.items() if name in scores},
        "first_token_mass": [v if precision is None else round(v, precision)
                             for v in detectors.mean_by_layer(weights)],
        "probe": probe,
    }


def scan_model(spec: str, *, device, dtype, bos: bool | None, text: str | None, where: str, length: int,
               seed: int, only: str | None, top: int, precision: int | None,
               load_progress: Callable | None = None, layer_progress: Callable | None = None) -> dict:
    """A real model: the probe (or the text) through every layer, then every head's scores."""
    from attncli.models.adapter import Transformer

    model = Transformer(spec, device=device, dtype=dtype, bos=bos, progress=load_progress)
    probe = None
    if text is None:
        prefix = model.prefix_id()
        ids, start = detectors.probe_ids(model.ordinary_ids(), length=length, seed=seed, prefix=prefix)
        if model.max_tokens and len(ids) > model.max_tokens:
            raise AttnError(f"the probe has {len(ids)} tokens, more than {model.name} takes ({model.max_tokens})",
                            where="--length", hint=f"use --length {(model.max_tokens - start) // 2} or less")
        run = model.run_ids(ids, where="--length", progress=layer_progress, points=("pattern",))
        probe = {"length": length, "seed": seed, "start": start,
                 "prefix": run.tokens[0] if start else None, "ids": ids}
    else:
        run = model.run(text, where=where, progress=layer_progress, points=("pattern",))
    torch = model.torch
    weights = torch.stack([a.float() for a in run.attentions]).cpu()  # (L, H, N, N)
    info = model.info
    source = {"model": run.name, "config": None,
              "info": {"architecture": model.architecture, "path": str(model.path), **info}}
    return _document(weights=weights, causal=run.causal, probe=probe, source=source, only=only, top=top,
                     precision=precision, tokens=run.tokens)


def toy_weights(settings, text: str, where: str):
    """The toy pipeline's (1, H, N, N) weights for one text (the one place that knows the engine's API)."""
    from attncli.core import toy

    record = toy.build(settings).run(text, where=where)
    return record.layers[0].weights.float().cpu()[None]  # (1, H, N, N)


def scan_toy(settings, *, text: str | None, where: str, length: int, seed: int, only: str | None, top: int,
             precision: int | None) -> dict:
    """A toy config: one layer of attention, the probe drawn from its vocabulary."""
    from attncli.core.tokens import tokenize
    from attncli.core.vocabulary import TOY_VOCABULARY

    if settings.tensors is not None:
        raise AttnError("this config gives query, key and value directly; heads needs text", where="--config",
                        hint="use a config with embeddings, or the toy vocabulary")
    probe = None
    if text is None:
        words = list(settings.embeddings) if settings.embeddings is not None else list(TOY_VOCABULARY)
        words = [w for w in words if tokenize(w) == [w]]
        sequence, start = detectors.probe_ids(words, length=length, seed=seed)
        text = " ".join(sequence)
        probe = {"length": length, "seed": seed, "start": start, "prefix": None, "ids": None}
    weights = toy_weights(settings, text, where)
    source = {"model": None, "config": settings.source or "defaults",
              "info": {"architecture": "toy", "layers": 1, "heads": settings.attention.heads,
                       "causal": settings.attention.causal, "d_model": settings.d_model}}
    return _document(weights=weights, causal=bool(settings.attention.causal), probe=probe, source=source,
                     only=only, top=top, precision=precision, tokens=tokenize(text))
