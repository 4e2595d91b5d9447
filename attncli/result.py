"""The result of one attention pass and its JSON document.

The document's layout is the contract scripts rely on (README, "JSON output"):
shapes never change with the head count, every index is 0-based, masked scores
are ``null``, and no NaN or Infinity ever appears.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from attncli import SCHEMA_VERSION, __version__
from attncli.config import Settings

#: What ``--include`` may add to a run document.
INCLUDE_CHOICES = ("qkv", "raw_scores", "head_context", "projections", "all")


@dataclass
class Result:
    """One self-attention pass over one text (or one tensors config)."""

    tokens: list[str]
    oov: list[bool]
    settings: Settings
    device: str  # the device actually used, e.g. "cpu" or "cuda:0"
    dtype: str
    trace: Any  # attncli.attention.Trace
    text: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def heads(self) -> int:
        return self.settings.attention.heads

    @property
    def n(self) -> int:
        return len(self.tokens)


def to_list(tensor, precision: int | None = None) -> list:
    """A tensor as nested Python floats (float64 on the CPU), optionally rounded."""
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    values = tensor.tolist()  # exact: every float32/16 value is a Python float
    if precision is not None:
        values = _round(values, precision)
    return values


def _round(values, precision: int):
    if isinstance(values, list):
        return [_round(v, precision) for v in values]
    if values is None or not math.isfinite(values):
        return values
    return round(values, precision)


def _masked_to_null(values):
    if isinstance(values, list):
        return [_masked_to_null(v) for v in values]
    return None if values == float("-inf") else values


def resolved_config(result: Result) -> dict:
    cfg = result.settings.to_dict()
    cfg["device"] = result.device
    cfg["dtype"] = result.dtype
    return cfg


def _config(result: Result, cache: dict | None) -> dict:
    if cache is None:
        return resolved_config(result)
    key = (id(result.settings), result.device, result.dtype)
    if key not in cache:
        cache[key] = resolved_config(result)
    return cache[key]


def to_document(
    result: Result,
    *,
    include: set[str] | frozenset[str] = frozenset(),
    precision: int | None = None,
    model_weights: dict | None = None,
    config_cache: dict | None = None,
) -> dict:
    """The run document (``attncli run --json``).

    ``config_cache`` (a dict kept across calls) reuses the resolved config of earlier results
    with the same settings: a batch computes it once.
    """
    if "all" in include:
        include = set(INCLUDE_CHOICES)
    t = result.trace
    scores = None
    if t.scores is not None:
        scores = to_list(t.scores, precision)
        if result.settings.attention.causal:
            scores = _masked_to_null(scores)
    top_k = None
    if t.top_indices is not None:
        top_k = {"k": int(t.top_indices.shape[-1]), "indices": t.top_indices.tolist(),
                 "weights": to_list(t.top_weights, precision)}
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "tokens": list(result.tokens),
        "oov": list(result.oov),
        "embeddings": to_list(t.inputs, precision) if t.inputs is not None else None,
        "scores": scores,
        "weights": to_list(t.weights, precision) if t.weights is not None else None,
        "context": to_list(t.context, precision),
        "focus": list(t.rows) if t.rows is not None else None,
        "top_k": top_k,
        "config": _config(result, config_cache),
    }
    if "qkv" in include:
        queries = t.queries if t.rows is None else t.queries[:, t.rows]
        doc["queries"] = to_list(queries, precision)
        doc["keys"] = to_list(t.keys, precision)
        doc["values"] = to_list(t.values, precision)
    if "raw_scores" in include:
        doc["raw_scores"] = to_list(t.raw_scores, precision) if t.raw_scores is not None else None
    if "head_context" in include:
        doc["head_context"] = to_list(t.head_context, precision)
    if "projections" in include:
        doc["projections"] = {
            name: (to_list(w, precision) if w is not None else None)
            for name, w in (model_weights or {}).items()
        }
    return doc


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """Serialize a document; refuses NaN and Infinity (they are caught earlier as errors)."""
    return json.dumps(doc, indent=indent, allow_nan=False, ensure_ascii=False)
