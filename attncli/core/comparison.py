"""One word, several contexts: the figures behind ``attncli compare``, for toy and model records alike.

Given K records made by the same attention (toy settings or one model), find the focus token
in each and measure how far apart its context vectors (and each head's output) are, next to
the same figures for its input embeddings; for a model, also layer by layer.
"""

from __future__ import annotations

import math

from attncli.core import focus as focus_grammar
from attncli.core.attention import head_mean
from attncli.documents.build import exact_list
from attncli.errors import AttnError
from attncli.documents.jsonout import to_list
from attncli.core.record import Record


def context_label(i: int, record: Record) -> str:
    text = " ".join(record.tokens)
    if len(text) > 40:
        text = text[:39] + "…"
    return f"context {i + 1} ({text!r})"


def locate(spec: focus_grammar.Focus, records: list[Record]) -> list[int]:
    """The position of the followed token in each context (TOKEN: its first occurrence)."""
    return [focus_grammar.positions(spec, r.tokens, label=context_label(i, r), every=False)[0]
            for i, r in enumerate(records)]


def common_tokens(records: list[Record]) -> list[focus_grammar.Focus]:
    """Every token (case-insensitive, special tokens left out) in all contexts, in the order of the first."""
    def words(record):
        return [t.lower() for t, s in zip(record.tokens, record.special) if not s]

    others = [set(words(r)) for r in records[1:]]
    seen: list[str] = []
    for key in words(records[0]):
        if key not in seen and all(key in other for other in others):
            seen.append(key)
    if not seen:
        raise AttnError("no token occurs in every context", where="compare",
                        hint="name one with --focus TOKEN", kind="text")
    return [focus_grammar.Focus(token, token=token, occurrence=1) for token in seen]


def _cosine(a: list[float], b: list[float]) -> float | None:
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(x * x for x in b))
    if na == 0.0 or nb == 0.0:
        return None
    return max(-1.0, min(1.0, math.fsum(x * y for x, y in zip(a, b)) / (na * nb)))


def _l2(a: list[float], b: list[float]) -> float:
    return math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b)))


def pairwise(vectors: list[list[float]], fn, precision: int | None = None) -> list[list[float | None]]:
    matrix = [[fn(a, b) for b in vectors] for a in vectors]
    if precision is None:
        return matrix
    return [[None if v is None else round(v, precision) for v in row] for row in matrix]


def focus_entry(spec: focus_grammar.Focus, records: list[Record], *, layer: int = -1, heads_mean: bool = False,
                precision: int | None = None) -> dict:
    """The figures of one followed token at ``layer`` (a toy run has one), across the contexts."""
    indices = locate(spec, records)
    chosen = [r.layers[layer] for r in records]
    weights, context, exact, inputs = [], [], [], []
    for record, one, index in zip(records, chosen, indices):
        w = one.weights[:, index, :]  # (H, N_k)
        if heads_mean and one.level is not None:  # a measure's layer level: all heads together
            weights.append(to_list(one.level[:, index, :], precision))
        else:
            weights.append(to_list(head_mean(w[:, None, :])[:, 0] if heads_mean else w, precision))
        context.append(to_list(one.output[index], precision))  # (d_out,)
        exact.append(exact_list(one.output[index]))
        inputs.append(exact_list(record.embeddings[index]))  # (d_model,) before positional encoding
    head_cosine = None
    if all(one.head_context is not None for one in chosen):
        heads = [exact_list(one.head_context[:, i, :]) for one, i in zip(chosen, indices)]  # K x (H, dh)
        head_cosine = [pairwise([h[k] for h in heads], _cosine, precision) for k in range(len(heads[0]))]
    entry = {
        "token": spec.token if spec.token is not None else spec.text,
        "occurrence": spec.occurrence or 1,
        "indices": indices,
        "weights": weights,
        "context": context,
        "cosine": pairwise(exact, _cosine, precision),
        "l2": pairwise(exact, _l2, precision),
        "input_cosine": pairwise(inputs, _cosine, precision),
        "head_cosine": head_cosine,
    }
    if records[0].source == "model":
        entry["layer"] = layer % len(records[0].layers)
        entry["layers"] = [
            {"layer": number,
             "hidden_cosine": pairwise([exact_list(r.layers[number].hidden[i]) for r, i in zip(records, indices)],
                                       _cosine, precision),
             "context_cosine": pairwise([exact_list(r.layers[number].output[i]) for r, i in zip(records, indices)],
                                        _cosine, precision)}
            for number in range(len(records[0].layers))]
    return entry
