"""One word, several contexts: the figures behind ``attncli compare``.

Given K results computed with the same model, find the focus token in each and
measure how far apart its context vectors (and each head's output) are, next to
the same figures for its input embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attncli.errors import AttnError
from attncli.result import Result, to_list


@dataclass
class FocusSpec:
    token: str
    occurrence: int  # 1-based


def parse_focus(value: str) -> FocusSpec:
    """``TOKEN`` or ``TOKEN@K`` (K-th occurrence, 1-based)."""
    token, occurrence = value, 1
    if "@" in value:
        token, _, count = value.rpartition("@")
        if not count.isdigit() or int(count) < 1:
            raise AttnError(f"expected TOKEN@K with K a whole number from 1, got {value!r}", where="--focus")
        occurrence = int(count)
    token = token.strip()
    if not token:
        raise AttnError("empty focus token", where="--focus")
    return FocusSpec(token, occurrence)


def context_label(i: int, result: Result) -> str:
    text = " ".join(result.tokens)
    if len(text) > 40:
        text = text[:39] + "…"
    return f"context {i + 1} ({text!r})"


def locate(spec: FocusSpec, results: list[Result]) -> list[int]:
    indices = []
    for i, result in enumerate(results):
        hits = [j for j, t in enumerate(result.tokens) if t.lower() == spec.token.lower()]
        if not hits:
            raise AttnError(f"focus token {spec.token!r} is not in {context_label(i, result)}",
                            where="--focus", hint="tokens: " + ", ".join(result.tokens), kind="text")
        if len(hits) < spec.occurrence:
            raise AttnError(
                f"{context_label(i, result)} has {len(hits)} occurrence(s) of {spec.token!r}, "
                f"not {spec.occurrence}", where="--focus", kind="text")
        indices.append(hits[spec.occurrence - 1])
    return indices


def common_tokens(results: list[Result]) -> list[FocusSpec]:
    """Every token (case-insensitive) that occurs in all contexts, in the order of the first."""
    seen: list[str] = []
    for token in results[0].tokens:
        key = token.lower()
        if key in seen:
            continue
        if all(key in (t.lower() for t in r.tokens) for r in results[1:]):
            seen.append(key)
    if not seen:
        raise AttnError("no token occurs in every context", where="compare",
                        hint="name one with --focus TOKEN", kind="text")
    return [FocusSpec(token, 1) for token in seen]


def _cosine(a: list[float], b: list[float]) -> float | None:
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(x * x for x in b))
    if na == 0.0 or nb == 0.0:
        return None
    return max(-1.0, min(1.0, math.fsum(x * y for x, y in zip(a, b)) / (na * nb)))


def _l2(a: list[float], b: list[float]) -> float:
    return math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, b)))


def _rounder(precision: int | None):
    def rounded(matrix):
        if precision is None:
            return matrix
        return [[None if v is None else round(v, precision) for v in row] for row in matrix]

    return rounded


def pairwise(vectors: list[list[float]], fn) -> list[list[float | None]]:
    return [[fn(a, b) for b in vectors] for a in vectors]


def focus_entry(spec: FocusSpec, results: list[Result], precision: int | None = None) -> dict:
    indices = locate(spec, results)
    weights, context, inputs, heads = [], [], [], []
    for result, index in zip(results, indices):
        t = result.trace
        weights.append(to_list(t.weights[:, index, :], precision))  # (H, N_k)
        context.append(to_list(t.context[index], precision))  # (d_out,)
        inputs.append(to_list(t.embeddings[index]))  # (d_model,) as looked up, before positional encoding
        heads.append(to_list(t.head_context[:, index, :]))  # (H, dv)
    exact_context = [to_list(r.trace.context[i]) for r, i in zip(results, indices)]
    return _entry(spec, indices, weights, context, exact_context, inputs, heads, precision)


def _entry(spec, indices, weights, context, exact, inputs, heads, precision) -> dict:
    """The figures of one focus token: ``exact`` unrounded outputs, ``heads`` K x (H, dh) or None."""
    rounded = _rounder(precision)
    head_cosine = None
    if heads is not None:
        head_cosine = [rounded(pairwise([h[k] for h in heads], _cosine)) for k in range(len(heads[0]))]
    return {
        "token": spec.token,
        "occurrence": spec.occurrence,
        "indices": indices,
        "weights": weights,
        "context": context,
        "cosine": rounded(pairwise(exact, _cosine)),
        "l2": rounded(pairwise(exact, _l2)),
        "input_cosine": rounded(pairwise(inputs, _cosine)),
        "head_cosine": head_cosine,
    }


def compare_document(results: list[Result], focus: list[FocusSpec], run_docs: list[dict],
                     precision: int | None = None) -> dict:
    from attncli import SCHEMA_VERSION, __version__

    return {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "contexts": run_docs,
        "focus": [focus_entry(spec, results, precision) for spec in focus],
    }


class _Tokens:
    """What locate() and common_tokens() need of a result: its tokens."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens


def _model_locate(spec: FocusSpec, runs) -> list[int]:
    return locate(spec, [_Tokens(r.tokens) for r in runs])


def model_common_tokens(runs) -> list[FocusSpec]:
    """Shared tokens of model runs, special tokens ([CLS], [SEP]) left out."""
    return common_tokens([_Tokens([t for t, s in zip(r.tokens, r.special) if not s]) for r in runs])


def model_focus_entry(spec: FocusSpec, runs, *, layer: int, heads_mean: bool, precision: int | None) -> dict:
    """compare --model: the toy entry's keys for the chosen layer, plus cosines layer by layer."""
    indices = _model_locate(spec, runs)
    rounded = _rounder(precision)

    weights, context = [], []
    for run, index in zip(runs, indices):
        w = run.attentions[layer][:, index, :]  # (H, N_k)
        if heads_mean:
            w = w.float().mean(dim=0, keepdim=True)  # (1, N_k)
        weights.append(to_list(w, precision))
        context.append(to_list(run.attention_outputs[layer][index], precision))
    exact = [to_list(r.attention_outputs[layer][i]) for r, i in zip(runs, indices)]
    inputs = [to_list(r.hidden_states[0][i]) for r, i in zip(runs, indices)]
    heads = None
    if all(r.head_outputs is not None for r in runs):
        heads = [to_list(r.head_outputs[layer][:, i, :]) for r, i in zip(runs, indices)]  # K x (H, dh)
    layers = []
    for number in range(runs[0].layers):
        hidden = [to_list(r.hidden_states[number + 1][i]) for r, i in zip(runs, indices)]
        attended = [to_list(r.attention_outputs[number][i]) for r, i in zip(runs, indices)]
        layers.append({"layer": number, "hidden_cosine": rounded(pairwise(hidden, _cosine)),
                       "context_cosine": rounded(pairwise(attended, _cosine))})
    return {**_entry(spec, indices, weights, context, exact, inputs, heads, precision),
            "layer": layer, "layers": layers}
