"""One word, several contexts: the figures behind ``attncli compare``, for toy and model records alike.

Given K records made by the same attention (toy settings or one model), find the focus token
in each and measure how far apart its context vectors (and each head's output) are, next to
the same figures for its input embeddings; for a model, also layer by layer.
"""

from __future__ import annotations

import math

from attncli.core import focus as focus_grammar
from attncli.core.reduce import head_mean
from attncli.documents.build import exact_list
from attncli.core.similarity import cosine
from attncli.errors import AttnError, numeric_error, option
from attncli.documents.jsonout import to_list
from attncli.core.record import Record


#: Default limit on compare's pairwise figures (``compare --max-cells``): 1,000,000 numbers is about
#: 20 MB of JSON; 2,000 contexts would be 16 million per token (87 s, 462 MB before the limit).
DEFAULT_MAX_CELLS = 1_000_000


def cells(contexts: int, tokens: int, heads: int, layers: int = 0) -> int:
    """The numbers compare computes and writes: a K x K matrix of cosine, L2 and input cosine, one
    per head, and (a model) hidden and context cosine per layer, for every followed token."""
    return tokens * contexts * contexts * (3 + heads + 2 * layers)


def check_cells(contexts: int, tokens: int, heads: int, layers: int, limit: int) -> None:
    """Refuse, before the work, a comparison of more than ``limit`` numbers (see :func:`cells`)."""
    need = cells(contexts, tokens, heads, layers)
    if need <= limit:
        return
    matrices = f"{3 + heads + 2 * layers} matrices"
    raise AttnError(f"{contexts:,} contexts x {tokens:,} followed token(s) need {need:,} pairwise figures "
                    f"({matrices} of {contexts:,} x {contexts:,}); the limit is {limit:,}", param="max_cells",
                    kind="budget", hint="compare fewer contexts, " + ("" if tokens == 1 else
                                                                     f"follow one token with {option('focus')}, ")
                    + f"or raise {option('max_cells')}")


def context_label(i: int, record: Record) -> str:
    from attncli.documents.tokens_display import display_tokens

    text = " ".join(display_tokens(record.tokens) if record.source == "model" else record.tokens)
    if len(text) > 40:
        text = text[:39] + "…"
    return f"context {i + 1} ({text!r})"


def locate_hits(spec: focus_grammar.Focus, records: list[Record]) -> list[focus_grammar.Hit]:
    """Where the followed token is in each context (TOKEN: its first occurrence)."""
    return [focus_grammar.hits(spec, r.tokens, label=context_label(i, r), every=False)[0]
            for i, r in enumerate(records)]


def locate(spec: focus_grammar.Focus, records: list[Record]) -> list[int]:
    """The position of the followed token in each context (TOKEN: its first occurrence)."""
    return [hit.index for hit in locate_hits(spec, records)]


def focus_notes(spec: focus_grammar.Focus, records: list[Record]) -> list[str]:
    """What to say on stderr about the followed token: a word split in several tokens, per context."""
    notes = []
    for i, (record, hit) in enumerate(zip(records, locate_hits(spec, records))):
        note = focus_grammar.describe(spec, hit, record.tokens, f"context {i + 1}")
        if note:
            notes.append(note)
    return notes


def common_tokens(records: list[Record]) -> list[focus_grammar.Focus]:
    """Every token (case-insensitive, special tokens left out) in all contexts, in the order of the first."""
    def words(record):  # a token's text as typed ("bank" for Ġbank): the same word at the start or not
        texts, _starts = focus_grammar.word_texts(record.tokens)
        return [t.lower() for t, s in zip(texts, record.special) if not s and t.strip()]

    others = [set(words(r)) for r in records[1:]]
    seen: list[str] = []
    for key in words(records[0]):
        if key not in seen and all(key in other for other in others):
            seen.append(key)
    if not seen:
        raise AttnError("no token occurs in every context", where="compare",
                        hint=f"name one with {option('focus')} TOKEN", kind="text")
    return [focus_grammar.Focus(token, token=token, occurrence=1) for token in seen]


def _cosine(a: list[float], b: list[float]) -> float | None:
    """Cosine without overflow (components of 1e160 square to inf); a non-finite vector is an error."""
    try:
        return cosine(a, b)
    except ValueError:
        raise numeric_error("a context vector is not finite", where="compare",
                            hint="check the magnitudes of the inputs") from None


def _l2(a: list[float], b: list[float]) -> float:
    """Euclidean distance, scaled by the largest difference so that no square overflows."""
    diffs = [x - y for x, y in zip(a, b)]  # (D,)
    largest = max((abs(d) for d in diffs), default=0.0)
    if largest == 0.0:
        return 0.0
    distance = largest * math.sqrt(math.fsum((d / largest) ** 2 for d in diffs))
    if not math.isfinite(distance):
        raise numeric_error("the distance between two context vectors is beyond the float range", where="compare",
                            hint="check the magnitudes of the inputs")
    return distance


def pairwise(vectors: list[list[float]], fn, precision: int | None = None) -> list[list[float | None]]:
    matrix = [[fn(a, b) for b in vectors] for a in vectors]
    if precision is None:
        return matrix
    return [[None if v is None else round(v, precision) for v in row] for row in matrix]


def _row(record: Record, index: int) -> int:
    """Where query ``index`` is in the record's per-query tensors (a record of some rows holds only those)."""
    if record.rows is None:
        return index
    if index not in record.rows:
        raise ValueError(f"query row {index} was not computed (rows {record.rows[:8]}...)")
    return record.rows.index(index)


def focus_entry(spec: focus_grammar.Focus, records: list[Record], *, layer: int = -1, heads_mean: bool = False,
                precision: int | None = None) -> dict:
    """The figures of one followed token at ``layer`` (a toy run has one), across the contexts."""
    hits = locate_hits(spec, records)
    indices = [hit.index for hit in hits]
    chosen = [r.layers[layer] for r in records]
    weights, context, exact, inputs = [], [], [], []
    rows = [_row(record, index) for record, index in zip(records, indices)]  # into the per-query tensors
    for record, one, index, row in zip(records, chosen, indices, rows):
        w = one.weights[:, row, :]  # (H, N_k)
        if heads_mean and one.level is not None:  # a measure's layer level: all heads together
            weights.append(to_list(one.level[:, row, :], precision))
        else:
            weights.append(to_list(head_mean(w[:, None, :])[:, 0] if heads_mean else w, precision))
        context.append(to_list(one.output[row], precision))  # (d_out,)
        exact.append(exact_list(one.output[row]))
        inputs.append(exact_list(record.embeddings[index]))  # (d_model,) before positional encoding
    head_cosine = None
    if all(one.head_context is not None for one in chosen):
        heads = [exact_list(one.head_context[:, i, :]) for one, i in zip(chosen, rows)]  # K x (H, dh)
        head_cosine = [pairwise([h[k] for h in heads], _cosine, precision) for k in range(len(heads[0]))]
    entry = {
        "token": spec.token if spec.token is not None else spec.text,
        "occurrence": spec.occurrence or 1,
        "indices": indices,
        "matched": [records[k].tokens[i] for k, i in enumerate(indices)],
        "words": [list(hit.word) for hit in hits],
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
             "context_cosine": pairwise([exact_list(r.layers[number].output[i]) for r, i in zip(records, rows)],
                                        _cosine, precision)}
            for number in range(len(records[0].layers))]
    return entry


def compare_records(records: list[Record], *, focus: str | None = None, layer: int | str | None = None,
                    heads_mean: bool = False, precision: int | None = None, max_cells: int | None = None) -> dict:
    """The compare document of K records made by the same attention (``compare --json``).

    ``focus``: the token followed (default: every token all contexts share); ``layer``: a model's
    layer whose weights are shown (default the last; the figures cover every layer); ``max_cells``:
    the most pairwise figures computed (default :data:`DEFAULT_MAX_CELLS`).
    """
    from attncli.documents.build import compare_document, run_document
    from attncli.core.record import parse_layer

    specs = [focus_grammar.parse(focus)] if focus is not None else None
    model = records[0].source == "model"
    if not model:
        for param, value in (("layer", layer), ("heads_mean", heads_mean or None)):
            if value is not None:
                raise AttnError(f"{option(param)} goes with {option('model')}", param=param,
                                hint=f"e.g. {option('model')} minilm")
    index = -1
    if model:
        if layer is not None and str(layer).strip().lower() == "all":
            raise AttnError(f"compare shows every layer already; {option('layer')} all is for run", param="layer",
                            hint=f"compare's figures cover all layers; {option('layer')} picks the one whose "
                                 "weights are shown")
        index = parse_layer(None if layer is None else str(layer), len(records[0].layers))[0]
    specs = specs or common_tokens(records)
    check_cells(len(records), len(specs), records[0].heads, len(records[0].layers) if model else 0,
                max_cells or DEFAULT_MAX_CELLS)  # every followed token
    layers = [index % len(records[0].layers)] if model else None
    contexts = [run_document(r, layers=layers, heads_mean=heads_mean, precision=precision) for r in records]
    entries = [focus_entry(spec, records, layer=index, heads_mean=heads_mean, precision=precision) for spec in specs]
    return compare_document(records, entries, contexts, layer=layers[0] if layers else None)
