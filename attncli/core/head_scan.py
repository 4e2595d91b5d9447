"""``attncli heads``: run a model (or a toy config) on a probe or a text and score every head.

The core of the command, no typer or rich: :func:`scan_model` and :func:`scan_toy` score the
weights of a :class:`~attncli.core.record.Record` and return the JSON document that the terminal
view draws (attncli.render.heads_view).

``measure`` (attncli.core.measures) chooses the maps the scores read: ``weights`` (the softmax
weights, the default) or ``norm``, each head's c_ij = ||alpha_ij^h f^h(x_j)|| divided by its row's
total, c_ij / sum_k c_ik (:func:`score_maps`), so that the scores that assume rows summing to 1
(shares, entropy, distance) read shares of what flows. The other measures have no per-head values.
"""

from __future__ import annotations

from typing import Callable

from attncli.core import detectors
from attncli.core.record import Record
from attncli.errors import AttnError, option

#: The probe's length: at least 2 random tokens, at most this many.
MAX_LENGTH = 4096


def head_measure(measure: str | None) -> str:
    """``measure`` for heads: weights (None) or norm; the layer-level measures cannot rank heads."""
    from attncli.core import measures

    name = measures.check_measure(measure)
    if not measures.has_heads(name):
        raise AttnError(f"{name} is layer-level (all heads together): it has no per-head values to score",
                        param="measure", hint=f"use {option('measure')} weights or norm")
    return name


def score_maps(values, measure: str):
    """What the scores read: (L, H, N, N) per-head values -> weights as they are, ``norm``'s rows divided
    by their totals (c_ij / sum_k c_ik in float64; a row of zeros, a head ablated to 0, stays 0)."""
    if measure == "weights":
        return values
    from attncli.core.measures.scores import normalize_rows

    return normalize_rows(values.double())  # (L, H, N, N)


def check(*, score: str | None, top: int, length: int, effect: bool = False, model: str | None = None,
          measure: str | None = None) -> str:
    """The scan's own parameters, before anything loads; returns the measure's name."""
    name = head_measure(measure)
    known = detectors.SCORES + (("effect",) if effect else ())
    if score is not None and score not in known:
        extra = f" (effect goes with {option('effect')})" if score == "effect" else ""
        raise AttnError(f"unknown score {score!r}{extra}", param="score", hint="expected one of " + ", ".join(known))
    if effect and model is None:
        raise AttnError(f"{option('effect')} goes with {option('model')} (a decoder)", param="effect",
                        hint=f"e.g. {option('model')} smollm2")
    if top < 1:
        raise AttnError(f"must be at least 1, got {top}", param="top")
    if not 2 <= length <= MAX_LENGTH:
        raise AttnError(f"must be between 2 and {MAX_LENGTH}, got {length}", param="length")
    return name


def record_weights(record: Record):
    """Every layer's weights of a record as one (L, H, N, N) float32 CPU tensor."""
    from attncli.core.devices import import_torch

    torch = import_torch()
    return torch.stack([layer.weights.float() for layer in record.layers]).cpu()  # (L, H, N, N)


def _document(*, weights, causal: bool, probe: dict | None, source: dict, only: str | None, top: int,
              precision: int | None, tokens: list[str], effect=None, norm_share=None, rows=None,
              measure: str = "weights", attention=None) -> dict:
    """``weights``: the maps the scores read; ``attention``: the softmax weights when they are not those maps
    (``first_token_mass`` is theirs); ``rows``: a HeadScoreReducer that saw every row instead (a long text)."""
    from attncli.version import SCHEMA_VERSION, __version__
    from attncli.documents.jsonout import to_list

    if rows is not None:
        scores, mass = rows.scores(), rows.first_token_mass()
        layers, heads = scores["previous"].shape
    else:
        layers, heads, n, _ = weights.shape
        span = (probe["start"], probe["length"]) if probe is not None else None
        scores = detectors.score_all(weights, causal=causal, probe=span)
        mass = detectors.mean_by_layer(weights if attention is None else attention)
    if effect is not None:
        scores["effect"] = effect  # (L, H) loss rise on the second copy, head ablated alone
    if only is not None:
        if only not in scores:
            raise AttnError(f"{only!r} needs the repeated-token probe, not {option('text')} or {option('file')}",
                            param="score", hint=f"drop {option('text')}/{option('file')}, or pick one of "
                            + ", ".join(detectors.TEXT_SCORES))
        scores = {only: scores[only]}
    rows_note = {"measure_rows": detectors.MEASURE_ROWS[measure]} if measure in detectors.MEASURE_ROWS else {}
    return {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        **source,
        "layers": int(layers),
        "heads": int(heads),
        "causal": causal,
        "tokens": tokens,
        "measure": measure,
        **rows_note,
        "scores": {name: to_list(value, precision) for name, value in scores.items()},
        "top": {name: [{"layer": l, "head": h, "score": v if precision is None else round(v, precision)}
                       for l, h, v in detectors.top_heads(value, top) if v >= detectors.THRESHOLDS.get(name, -1.0)]
                for name, value in scores.items()},
        "thresholds": {name: t for name, t in detectors.THRESHOLDS.items() if name in scores},
        "first_token_mass": [v if precision is None else round(v, precision) for v in mass],
        "first_token_norm": None if norm_share is None else [v if precision is None else round(v, precision)
                                                            for v in norm_share],
        "probe": probe,
    }


def scan_model(runner, *, text: str | None, where: str, length: int, seed: int, only: str | None, top: int,
               precision: int | None, layer_progress: Callable | None = None, effect: bool = False,
               effect_progress: Callable | None = None, ablate: str | None = None, ablate_mode: str = "zero",
               measure: str = "weights") -> dict:
    """A loaded model (attncli.models.runs.ModelAttention): the probe (or the text) through every layer
    as a Record, then every head's scores, read from ``measure``'s maps (:func:`score_maps`).

    Also the first token's share per layer under ``norm`` (``first_token_norm``, beside
    ``first_token_mass``), and with ``effect`` the loss rise of each head ablated alone (the probe only).
    ``ablate`` (``L.H[,L.H...]``, attncli.models.ablation): everything computed with those heads removed
    (``ablate_mode``), and the document's ``ablation`` says what changed (see :func:`ablation_part`).
    """
    from attncli.models.ablation import parse_heads

    measure = head_measure(measure)
    model = runner.transformer
    removed = parse_heads(ablate, int(model.info["layers"]), int(model.info["heads"]))
    if removed and effect:
        raise AttnError(f"{option('effect')} ablates each head alone; it does not go with {option('ablate')}",
                        param="ablate", hint=f"leave out {option('effect')} or {option('ablate')}")
    probe = None
    if text is None:
        prefix = model.prefix_id()
        ids, start = detectors.probe_ids(model.ordinary_ids(), length=length, seed=seed, prefix=prefix)
        if model.max_tokens and len(ids) > model.max_tokens:
            raise AttnError(f"the probe has {len(ids)} tokens, more than {model.name} takes ({model.max_tokens})",
                            param="length", hint=f"use {option('length')} {(model.max_tokens - start) // 2} or less")
        where = option("length")
    else:
        ids = model.encode(text, where=where)
        if not removed and not _fits(model, ids, where):  # the scores summed row by row: no N x N weights held
            if measure != "weights":
                raise AttnError(f"{measure} needs every layer's full weights, and this text is too long for them",
                                param="measure", kind="budget",
                                hint=f"shorten the text, or use {option('measure')} weights, which scores it "
                                     "row by row")
            return _scan_rows(runner, ids, where=where, only=only, top=top, precision=precision,
                              layer_progress=layer_progress, effect=effect)
    from attncli.models import effects
    from attncli.models.measured import measured_run

    changes = None
    norms = None
    if measure == "norm":  # one run: the weights, each head's norms and the sink's shares
        record, extra = measured_run(model, ids, where=where, measure="norm", layers=None, rollout=False,
                                     ablate=removed, ablate_mode=ablate_mode)
        changes = extra.get("ablation")
        norm_share = effects.norm_shares(extra)
        norms = model.torch.stack([extra["layers"][l][0].float() for l in range(len(record.layers))]).cpu()
    else:
        if removed:
            record, extra = measured_run(model, ids, where=where, measure="weights", layers=None, rollout=False,
                                         ablate=removed, ablate_mode=ablate_mode)
            changes = extra["ablation"]
        else:
            record = model.run_ids(ids, where=where, progress=layer_progress, points=("pattern",))
        _, norm_share = effects.first_token_shares(model, record.ids, where=where, ablate=removed,
                                                   ablate_mode=ablate_mode)
    if text is None:
        probe = {"length": length, "seed": seed, "start": start,
                 "prefix": record.tokens[0] if start else None, "ids": ids}
    effect_scores = None
    if effect:
        if probe is None:
            raise AttnError(f"{option('effect')} measures the loss on the probe's second copy, not on "
                            f"{option('text')} or {option('file')}", param="effect",
                            hint=f"drop {option('text')}/{option('file')}")
        effect_scores, _ = effects.head_effects(model, record.ids, probe["start"], length, progress=effect_progress)
    attention = record_weights(record)
    doc = _document(weights=attention if norms is None else score_maps(norms, measure), causal=record.causal,
                    probe=probe, source=_source(model), only=only, top=top, precision=precision, tokens=record.tokens,
                    effect=effect_scores, norm_share=norm_share, measure=measure, attention=attention)
    if changes is not None:
        doc["ablation"] = ablation_part(changes, probe, precision)
    return doc


def ablation_part(changes: dict, probe: dict | None, precision: int | None) -> dict:
    """attncli.models.measured's ``ablation`` (heads, mode, each token's log-probability before and after,
    the loss, each token's output change), plus on the probe the loss on its second copy before and after."""
    def number(value: float) -> float:
        return value if precision is None else round(value, precision)

    out = dict(changes)
    for key in ("logprobs_before", "logprobs_after", "output_change"):
        if key in out:
            out[key] = [number(v) for v in out[key]]
    for key in ("loss_before", "loss_after"):
        if key in out:
            out[key] = number(out[key])
    if probe is not None and "logprobs_before" in changes:
        second = range(probe["start"] + probe["length"] - 1, probe["start"] + 2 * probe["length"] - 1)
        for when in ("before", "after"):
            logprobs = changes[f"logprobs_{when}"]  # logprobs[p - 1]: token p given the tokens before it
            loss = -sum(logprobs[p] for p in second) / probe["length"]
            out[f"second_copy_loss_{when}"] = number(loss)
    return out


def _source(model) -> dict:
    return {"model": model.name, "config": None,
            "info": {"architecture": model.architecture, "path": str(model.path), **model.info}}


def _fits(model, ids: list[int], where: str) -> bool:
    """Whether every layer's full weights of ``ids`` fit the limits (else the text is scored row by row)."""
    try:
        model._check_ids(ids, where, rows=None, points=("pattern",))
    except AttnError as error:
        if error.kind in ("budget", "memory"):
            return False
        raise
    return True


def _scan_rows(runner, ids: list[int], *, where: str, only: str | None, top: int, precision: int | None,
               layer_progress: Callable | None = None, effect: bool = False) -> dict:
    """A text too long for its full weights: the model on SDPA, each layer's exact weights handed over
    chunk by chunk and summed into the scores (attncli.core.head_rows); ``first_token_norm`` is null
    (the norm measure needs every row's weighted vectors)."""
    from attncli.core.attention import CHUNK_BYTES
    from attncli.core.head_rows import HeadScoreReducer

    if effect:
        raise AttnError(f"{option('effect')} measures the loss on the probe's second copy, not on "
                        f"{option('text')} or {option('file')}", param="effect",
                        hint=f"drop {option('text')}/{option('file')}")
    model = runner.transformer
    element = model.torch.empty((), dtype=model.dtype).element_size()
    reducer = HeadScoreReducer(heads=runner.heads, causal=runner.causal, chunk_bytes=CHUNK_BYTES, element=element)
    record = model.run_ids(ids, where=where, points=(), reduce=reducer, progress=layer_progress)
    return _document(weights=None, causal=record.causal, probe=None, source=_source(model), only=only, top=top,
                     precision=precision, tokens=record.tokens, rows=reducer)


def scan_toy(settings, *, text: str | None, where: str, length: int, seed: int, only: str | None, top: int,
             precision: int | None, measure: str = "weights") -> dict:
    """A toy config: one layer of attention, the probe drawn from its vocabulary (``norm``: from the
    record's own inputs and projections, attncli.core.measures.toy)."""
    from attncli.core.tokens import tokenize
    from attncli.core.vocabulary import TOY_VOCABULARY

    if settings.tensors is not None:
        raise AttnError("this config gives query, key and value directly; heads needs text", param="config",
                        hint="use a config with embeddings, or the toy vocabulary")
    probe = None
    if text is None:
        words = list(settings.embeddings) if settings.embeddings is not None else list(TOY_VOCABULARY)
        words = [w for w in words if tokenize(w) == [w]]
        sequence, start = detectors.probe_ids(words, length=length, seed=seed)
        text = " ".join(sequence)
        probe = {"length": length, "seed": seed, "start": start, "prefix": None, "ids": None}
    from attncli.core import toy

    measure = head_measure(measure)
    record = toy.build(settings).run(text, where=where, measure=measure)
    source = {"model": None, "config": settings.source or "defaults",
              "info": {"architecture": "toy", "layers": 1, "heads": settings.attention.heads,
                       "causal": settings.attention.causal, "d_model": settings.d_model}}
    attention = record_weights(record) if measure == "weights" else record.layers[0].attention.float()[None].cpu()
    return _document(weights=score_maps(record_weights(record), measure), causal=record.causal, probe=probe,
                     source=source, only=only, top=top, precision=precision, tokens=record.tokens, measure=measure,
                     attention=attention)
