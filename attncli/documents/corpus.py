"""The documents of ``heads --file`` over a corpus: the JSON Lines header, the summary, and merging parts.

A run writes (``--jsonl``, or ``--save FILE.jsonl``) a header record ``{"header": {...}}``, one record
per line of its shard (``{"line", "tokens", "scores"}`` or ``{"line", "error"}``), then
``{"summary": SUMMARY}``; ``--json`` is SUMMARY alone. SUMMARY holds the per-head summary
(``summary``: count, mean, sd, min, max per score, each [L][H]), the top heads (``top``) and the
exact sufficient statistics (``stats``) that :func:`merge` adds up (attncli.core.corpus_stats).
The header and the summary say which ``measure`` the scores read (weights or norm; a part written
before the field existed is weights), and parts of different measures do not merge.
"""

from __future__ import annotations

from attncli.core.corpus_stats import CorpusStats
from attncli.errors import AttnError, option

KIND = "heads-corpus"


def measure_of(doc: dict) -> str:
    """The measure a header or summary's scores read (weights where the field is missing)."""
    return doc.get("measure", "weights")


def header(*, model: dict, file: str, field: str | None, shard: tuple[int, int] | None, scores,
           measure: str = "weights") -> dict:
    """What a run is: a resumed run must be the same (:func:`same_run`)."""
    from attncli.version import SCHEMA_VERSION, __version__

    return {"kind": KIND, "schema": SCHEMA_VERSION, "version": __version__, "model": model, "file": file,
            "field": field, "shard": None if shard is None else f"{shard[0]}/{shard[1]}", "scores": list(scores),
            "measure": measure}


def same_run(saved: dict, current: dict) -> str | None:
    """None if ``saved`` (a header read back) describes the current run, else what differs."""
    for key in ("kind", "model", "file", "field", "shard", "scores"):
        if saved.get(key) != current.get(key):
            return key
    if measure_of(saved) != measure_of(current):
        return "measure"
    return None


def shards_of(shard: tuple[int, int] | None) -> dict:
    index, count = shard if shard is not None else (1, 1)
    return {"count": count, "indices": [index]}


def summary_document(stats: CorpusStats, *, head: dict, shards: dict, top: int, precision: int | None = None) -> dict:
    """The summary of a run (or of merged parts); ``precision`` rounds the summary's numbers, never ``stats``."""
    from attncli.version import SCHEMA_VERSION, __version__

    summary = stats.summary(top)
    if precision is not None:
        summary = _rounded(summary, precision)
    model = head["model"]
    return {"kind": KIND, "schema": SCHEMA_VERSION, "version": __version__, "model": model,
            "layers": stats.layers, "heads": stats.heads, "causal": model.get("causal"), "scores": list(stats.names),
            "measure": measure_of(head), "file": head["file"], "field": head["field"], "shards": shards, **summary, "stats": stats.to_json()}


def _rounded(value, precision: int):
    if isinstance(value, float):
        return round(value, precision)
    if isinstance(value, list):
        return [_rounded(v, precision) for v in value]
    if isinstance(value, dict):
        return {k: v if k in ("layer", "head", "count") else _rounded(v, precision) for k, v in value.items()}
    return value


def part_of(doc, where: str) -> dict:
    """A summary document out of what a part file held: SUMMARY, or a JSON Lines run ending in its summary."""
    if isinstance(doc, dict) and "summary" in doc and doc.get("kind") != KIND:
        doc = doc["summary"]
    if not isinstance(doc, dict) or doc.get("kind") != KIND or "stats" not in doc:
        raise AttnError("not the summary of a heads run over a corpus", where=where, kind="text",
                        hint=f"give the {option('json')} output or the {option('save')} FILE.jsonl of a finished run")
    return doc


def merge(parts: list[tuple[str, dict]], *, top: int, precision: int | None = None) -> dict:
    """(where, summary) parts -> the summary one run over all their texts would have made.

    The parts must be of one model and one set of scores, and their shards of one count, none twice.
    """
    if not parts:
        raise AttnError("no parts to merge", param="part")
    first_where, first = parts[0]
    total = CorpusStats.from_json(first["stats"], first_where)
    count = first["shards"]["count"]
    indices = list(first["shards"]["indices"])
    for where, doc in parts[1:]:
        for key in ("model", "scores", "field"):
            if doc.get(key) != first.get(key):
                raise AttnError(f"its {key} differs from {first_where}'s", where=where, kind="text",
                                hint="merge the parts of one run")
        if measure_of(doc) != measure_of(first):
            raise AttnError(f"its scores read measure {measure_of(doc)}, {first_where}'s {measure_of(first)}",
                            where=where, kind="text", hint="merge the parts of one run")
        if doc["shards"]["count"] != count:
            raise AttnError(f"it is a shard of {doc['shards']['count']}, {first_where} of {count}", where=where,
                            kind="text")
        twice = set(indices) & set(doc["shards"]["indices"])
        if twice:
            raise AttnError(f"shard {min(twice)}/{count} is given twice", where=where, kind="text")
        indices += doc["shards"]["indices"]
        total.merge(CorpusStats.from_json(doc["stats"], where))
    head = {"model": first["model"], "file": first["file"], "field": first["field"], "measure": measure_of(first)}
    return summary_document(total, head=head, shards={"count": count, "indices": sorted(indices)}, top=top,
                            precision=precision)
