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


class LazyArray:
    """A tensor that turns into JSON only when it is written, a block of rows at a time.

    Long inputs produce arrays of millions of numbers; writing them this way never holds the
    whole array as Python lists, nor the whole document as one string.
    """

    #: Numbers converted per block while streaming.
    BLOCK = 1 << 16

    def __init__(self, tensor, precision: int | None = None, masked: bool = False) -> None:
        self.tensor = tensor
        self.precision = precision
        self.masked = masked

    def _convert(self, values):
        if self.precision is not None:
            values = _round(values, self.precision)
        if self.masked:
            values = _masked_to_null(values)
        return values

    def tolist(self) -> list:
        return self._convert(to_list(self.tensor))

    def write(self, write) -> None:
        t = self.tensor
        if t.dim() <= 1 or t.numel() <= self.BLOCK:
            write(json.dumps(self.tolist(), allow_nan=False))
            return
        rows = max(1, self.BLOCK // max(1, t[0].numel()))
        write("[")
        for start in range(0, t.shape[0], rows):
            block = self._convert(to_list(t[start:start + rows]))
            text = json.dumps(block, allow_nan=False)
            write(("," if start else "") + text[1:-1])
        write("]")


def stream_json(doc: Any, write) -> None:
    """Write a document made of dicts, lists, scalars and LazyArrays as one line of JSON."""
    if isinstance(doc, LazyArray):
        doc.write(write)
    elif isinstance(doc, dict):
        write("{")
        for i, (key, value) in enumerate(doc.items()):
            write(("," if i else "") + json.dumps(key, ensure_ascii=False) + ":")
            stream_json(value, write)
        write("}")
    elif isinstance(doc, list) and any(isinstance(v, (LazyArray, dict, list)) for v in doc):
        write("[")
        for i, value in enumerate(doc):
            if i:
                write(",")
            stream_json(value, write)
        write("]")
    else:
        write(json.dumps(doc, allow_nan=False, ensure_ascii=False))


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
    lazy: bool = False,
) -> dict:
    """The run document (``attncli run --json``).

    ``config_cache`` (a dict kept across calls) reuses the resolved config of earlier results
    with the same settings: a batch computes it once. ``lazy`` leaves the arrays as
    :class:`LazyArray` for :func:`stream_json` (the --json output of long inputs).
    """
    def array(tensor, precision=None, masked=False):
        """A tensor as it goes into the document: a LazyArray to stream, or nested lists."""
        if lazy:
            return LazyArray(tensor, precision, masked)
        values = to_list(tensor, precision)
        return _masked_to_null(values) if masked else values
    if "all" in include:
        include = set(INCLUDE_CHOICES)
    t = result.trace
    scores = None
    if t.scores is not None:
        scores = array(t.scores, precision, masked=result.settings.attention.causal)
    top_k = None
    if t.top_indices is not None:
        top_k = {"k": int(t.top_indices.shape[-1]), "indices": array(t.top_indices),
                 "weights": array(t.top_weights, precision)}
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "tokens": list(result.tokens),
        "oov": list(result.oov),
        "embeddings": array(t.inputs, precision) if t.inputs is not None else None,
        "scores": scores,
        "weights": array(t.weights, precision) if t.weights is not None else None,
        "context": array(t.context, precision),
        "focus": list(t.rows) if t.rows is not None else None,
        "top_k": top_k,
        "config": _config(result, config_cache),
    }
    if "qkv" in include:
        queries = t.queries if t.rows is None else t.queries[:, t.rows]
        doc["queries"] = array(queries, precision)
        doc["keys"] = array(t.keys, precision)
        doc["values"] = array(t.values, precision)
    if "raw_scores" in include:
        doc["raw_scores"] = array(t.raw_scores, precision) if t.raw_scores is not None else None
    if "head_context" in include:
        doc["head_context"] = array(t.head_context, precision)
    if "projections" in include:
        doc["projections"] = {
            name: (array(w, precision) if w is not None else None)
            for name, w in (model_weights or {}).items()
        }
    return doc


def dumps(doc: Any, *, indent: int | None = None) -> str:
    """Serialize a document on one line (pipe it to ``jq`` to read it); refuses NaN and Infinity."""
    return json.dumps(doc, indent=indent, allow_nan=False, ensure_ascii=False)
