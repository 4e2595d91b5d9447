"""Record -> documents: the run, compare and explain JSON layouts, built in one place.

The layouts are the contract scripts rely on (README, "JSON output"): shapes never change with
the head count, every index is 0-based, masked scores are ``null``, numbers are exact (the
shortest decimal that reads back to the run's value, or rounded with ``-p``). Views draw these
documents, so what the terminal shows and what ``--json`` prints cannot drift apart.

``lazy=True`` leaves arrays as :class:`LazyArray` for :func:`attncli.documents.jsonout.stream_json`: a long
document is written a block at a time, never held whole as Python lists or one string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attncli.documents.jsonout import LazyArray, to_list
from attncli.version import SCHEMA_VERSION, __version__

if TYPE_CHECKING:  # annotations only: the record's own document() imports this module
    from attncli.core.record import Record

#: What ``--include`` may add to a run document.
INCLUDE_CHOICES = ("qkv", "raw_scores", "head_context", "projections", "embeddings", "all")


def header() -> dict:
    return {"schema": SCHEMA_VERSION, "version": __version__}


class _Arrays:
    """Tensors as they go into one document: streamed LazyArrays or nested lists."""

    def __init__(self, precision: int | None, lazy: bool) -> None:
        self.precision = precision
        self.lazy = lazy

    def __call__(self, tensor, *, masked: bool = False, exact: bool = False):
        if tensor is None:
            return None
        precision = None if exact else self.precision
        array = LazyArray(tensor, precision, masked)
        return array if self.lazy else array.tolist()

    def share(self, part: dict) -> dict:
        """The last layer's arrays appear twice (top level and ``layers``): convert them once."""
        for value in part.values():
            if isinstance(value, LazyArray):
                value.shared = True
        return part


def _top_k(arrays: _Arrays, weights, k: int | None, indices=None, values=None, *, record: Record) -> dict | None:
    """``top_k``: {k, indices [H][R][K], weights [H][R][K]}; a causal query's rows list only the keys it
    may see (row r of query q has min(K, q + 1) entries), never a masked key."""
    if not k:
        return None
    from attncli.core.reduce import top_links, visible_keys

    positions = record.rows if record.rows is not None else list(range(record.n))
    if indices is None:
        if weights is None:
            return None
        values, indices = top_links(weights, k, positions if record.causal else None)  # (H, R, K) x2
    if not record.causal:
        return {"k": int(indices.shape[-1]), "indices": arrays(indices), "weights": arrays(values)}
    counts = visible_keys(positions, record.n, True).tolist()  # (R,)
    numbers = arrays(values)
    numbers = numbers.tolist() if hasattr(numbers, "tolist") else numbers
    keys = indices.cpu().tolist()
    cut = [[row[:c] for row, c in zip(head, counts)] for head in keys]
    return {"k": int(indices.shape[-1]), "indices": cut,
            "weights": [[row[:c] for row, c in zip(head, counts)] for head in numbers]}


def _inputs(record: Record, layer, shown: dict, every: bool):
    """A layer's input as the document holds it: the focus rows' [R][d] (every row's [N][d] with ``every``:
    ``include`` embeddings, or without focus rows)."""
    inputs = shown.get("inputs", layer.inputs)
    if inputs is None or every or record.rows is None or inputs.shape[0] != record.n:
        return inputs
    return inputs[record.rows]  # (R, d)


def _layer_part(record: Record, index: int, arrays: _Arrays, *, mean: bool, top_k: int | None,
                every_input: bool = False) -> dict:
    """The per-layer keys: embeddings (the layer's input, [R][d]), weights [H][R][N], context [R][d], top_k."""
    layer = record.layers[index]
    weights = layer.weights
    if mean and layer.level is not None:
        weights = layer.level  # (1, R, N) the measure with all heads together
    elif mean and weights is not None:
        from attncli.core.reduce import head_mean

        weights = head_mean(weights)  # (1, R, N)
    if layer.top_indices is not None and not mean:
        top = _top_k(arrays, None, top_k, layer.top_indices, layer.top_weights, record=record)
    else:
        top = _top_k(arrays, weights, top_k, record=record)
    shown = layer.printable if arrays.precision is None else {}
    part = {"layer": index, "embeddings": arrays(_inputs(record, layer, shown, every_input)),
            "weights": arrays(weights if mean else shown.get("weights", weights)),
            "context": arrays(shown.get("output", layer.output)), "top_k": top}
    if record.measure == "mixing":
        part["mixing_ratio"] = arrays(layer.ratio)
    if record.measure != "weights" and record.heads > 1 and not mean:
        part["level"] = arrays(layer.level)  # (1, R, N) all heads together, beside the per-head values
    if layer.row_stats is not None:  # --stats: entropy, first_token, top1, each [H][R]
        part["stats"] = {name: arrays(value, exact=name == "top1") for name, value in layer.row_stats.items()}
    return part


def weights_of(record: Record, *, heads_mean: bool, rollout: bool) -> str:
    if rollout:
        return "rollout"
    return "heads_mean" if heads_mean else "attention"


def run_document(record: Record, *, layers: list[int] | None = None, heads_mean: bool = False,
                 rollout: bool = False, top_k: int | None = None, include: frozenset[str] | set[str] = frozenset(),
                 precision: int | None = None, lazy: bool = False) -> dict:
    """The run document (``attncli run --json``) for the chosen layers (default: the last).

    The top-level arrays are the last chosen layer's; with several layers a ``layers`` list
    holds each one (the top-level arrays reference the same tensors: nothing is copied).
    With ``rollout``, ``weights`` holds the rollout matrix (``weights_of``: "rollout").
    """
    arrays = _Arrays(precision, lazy)
    chosen = layers if layers is not None else [len(record.layers) - 1]
    every_input = bool(set(include) & {"embeddings", "all"})
    parts = [_layer_part(record, i, arrays, mean=heads_mean, top_k=top_k, every_input=every_input) for i in chosen]
    if len(parts) > 1:
        arrays.share(parts[-1])
    top = dict(parts[-1])
    if rollout:
        matrix = record.rollout[None]  # (1, R, N)
        top["weights"] = arrays(matrix)
        top["top_k"] = _top_k(arrays, matrix, top_k, record=record)
    last = record.layers[chosen[-1]]
    model = record.source == "model"
    doc: dict[str, Any] = {
        **header(),
        "tokens": list(record.tokens),
        "texts": list(record.texts),
        "oov": list(record.oov),
        "special": list(record.special),
        "embeddings": top["embeddings"],
        "scores": arrays(last.printable.get("scores", last.scores) if precision is None else last.scores,
                         masked=record.causal),
        "weights": top["weights"],
        "context": top["context"],
        "focus": list(record.rows) if record.rows is not None else None,
        "top_k": top["top_k"],
        "weights_of": weights_of(record, heads_mean=heads_mean, rollout=rollout),
        "measure": record.measure,
    }
    if record.measure == "mixing":
        doc["mixing_ratio"] = top["mixing_ratio"]
    if "level" in top:
        doc["level"] = top["level"] if not rollout else None
    if record.ablation is not None:
        doc["ablation"] = record.ablation
    if "stats" in top:
        doc["stats"] = top["stats"]
    if model:
        doc.update({"model": record.name, "layer": top["layer"], "rollout": rollout, "heads_mean": heads_mean})
    doc["config"] = _config(record, heads=1 if (heads_mean or rollout) and model else record.heads)
    if len(chosen) > 1:
        doc["layers"] = parts
    if include:
        doc.update(_included(record, last, arrays, include))
    return doc


def record_document(record: Record, *, precision: int | None = None, lazy: bool = False) -> dict:
    """The run document of ``record`` as its ``view`` (:meth:`Record.show`) chose it."""
    view = record.view
    return run_document(record, layers=view.get("layers"), heads_mean=view.get("heads_mean", False),
                        rollout=view.get("rollout", False), top_k=view.get("top_k"),
                        include=view.get("include", frozenset()), precision=precision, lazy=lazy)


def parse_include(values) -> set[str]:
    """``include`` values (each may be comma-separated) -> the set of INCLUDE_CHOICES named."""
    from attncli.errors import AttnError

    found: set[str] = set()
    for value in [values] if isinstance(values, str) else values or ():
        for part in str(value).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in INCLUDE_CHOICES:
                raise AttnError(f"unknown value {part!r}", param="include",
                                hint="expected one of " + ", ".join(INCLUDE_CHOICES))
            found.add(part)
    return found


def _config(record: Record, *, heads: int) -> dict:
    if heads == record.config.get("attention", {}).get("heads"):
        return record.config  # shared across a batch: encoded once
    config = dict(record.config)
    config["attention"] = {**config["attention"], "heads": heads}
    return config


def _included(record: Record, layer, arrays: _Arrays, include) -> dict:
    if "all" in include:
        include = set(INCLUDE_CHOICES) - ({"projections"} if record.source == "model" else set())
    out: dict[str, Any] = {}
    if "qkv" in include:
        queries = layer.queries if record.rows is None else layer.queries[:, record.rows]  # (H, R, dk)
        out.update(queries=arrays(queries), keys=arrays(layer.keys), values=arrays(layer.values))
    if "raw_scores" in include:
        out["raw_scores"] = arrays(layer.raw_scores)
    if "head_context" in include:
        out["head_context"] = arrays(layer.head_context)
    if "projections" in include:
        out["projections"] = {name: arrays(w) for name, w in record.projections.items()}
    return out


def batch_record(line: int, doc: dict) -> dict:
    """One record of ``--file --json``: the line number first, then the document."""
    return {"line": line, **doc}


def error_record(line: int, error) -> dict:
    return {"line": line, "error": error.to_dict()}


def compare_document(records: list[Record], entries: list[dict], contexts: list[dict], *,
                     layer: int | None = None) -> dict:
    doc = {**header()}
    if records[0].source == "model":
        doc.update(model=records[0].name, layer=layer)
    doc.update(measure=records[0].measure, contexts=contexts, focus=entries)
    return doc


def explain_document(record: Record, steps: list[dict], *, layer: int | None = None) -> dict:
    doc = {**header(), "tokens": list(record.tokens), "texts": list(record.texts), "oov": list(record.oov),
           "special": list(record.special)}
    if record.source == "model":
        doc.update(model=record.name, layer=layer)
    doc.update(config=record.config, measure=record.measure, steps=steps)
    return doc


def exact_list(tensor) -> list:
    """A tensor as exact Python numbers (for figures computed from it), never rounded."""
    return tensor.cpu().tolist()
