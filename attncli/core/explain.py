"""The steps of attention on the user's own input, each with a caption and its tensor.

Built from a record's layer, toy or model alike: a step appears when the layer holds its tensor.
The names are a contract (README, "explain"): embeddings, positional, queries, keys, values,
scores, scaled_scores, weights, weighted_values, concat, output, residual, layer_norm, context,
hidden. Steps that do not apply are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attncli.errors import AttnError, option
from attncli.core.numbers import plural

if TYPE_CHECKING:  # the record and the JSON conversion load with the steps, not with `attncli --help`
    from attncli.core.record import Record

STEP_NAMES = ("embeddings", "positional", "queries", "keys", "values", "scores", "scaled_scores", "weights",
              "weighted_values", "concat", "output", "residual", "layer_norm", "context", "hidden")


def _shape(tensor) -> list[int]:
    return [int(d) for d in tensor.shape]


def _masked(values):
    if isinstance(values, list):
        return [_masked(v) for v in values]
    return None if values == float("-inf") else values


class _Steps(list):
    def __init__(self, precision: int | None) -> None:
        super().__init__()
        self.precision = precision

    def add(self, name: str, caption: str, tensor, masked: bool = False, **extra) -> None:
        from attncli.documents.jsonout import to_list

        values = to_list(tensor, self.precision)
        step = {"name": name, "caption": caption, "tensor": _masked(values) if masked else values,
                "shape": _shape(tensor)}
        for key, value in extra.items():
            step[key] = to_list(value, self.precision) if value is not None and hasattr(value, "shape") else value  # noqa: E501
        self.append(step)


def build_steps(record: Record, layer: int = -1, precision: int | None = None) -> list[dict]:
    """Every step that applies to ``layer`` of ``record``, in order: {name, caption, tensor, shape[, ...]}."""
    steps = _Steps(precision)
    if record.source == "model":
        _model_steps(steps, record, layer % len(record.layers))
    else:
        _toy_steps(steps, record)
    return list(steps)


def _toy_steps(steps: _Steps, record: Record) -> None:
    t = record.layers[0]
    config = record.config
    a = config["attention"]
    h, n = record.heads, record.n
    heads = plural(h, "head")
    source = config["embeddings"]["source"]
    if record.embeddings is not None:
        where = {"built-in": "the built-in toy vocabulary", "inline": "the config's embeddings"}[source]
        unknown = sum(record.oov)
        caption = f"Each of the {plural(n, 'token')} looks up its {config['embeddings']['d_model']}-number vector in {where}"
        if unknown:
            caption += f"; {unknown} unknown token(s) get stable hashed vectors"
        steps.add("embeddings", caption + ".", record.embeddings)
    if t.positional is not None:
        steps.add("positional", "Sinusoidal position encodings (sin on even, cos on odd features) are added to "
                  "the embeddings, so that word order matters; shown: the sums.", t.inputs, encoding=t.positional)
    rope = " then rotated by position (rope)," if a["positional"] == "rope" else ""
    for name, symbol, role, key in (
        ("queries", "Q", "what each token is looking for", "query"),
        ("keys", "K", "what each token offers to be matched against", "key"),
        ("values", "V", "what each token passes on when attended to", "value"),
    ):
        tensor = getattr(t, name)
        w = record.projections.get(key)
        if source == "tensors":
            how = f"{symbol} is given directly by the config"
        elif w is None:
            how = f"{symbol} = X (identity: the inputs themselves)"
        else:
            how = f"{symbol} = X @ W_{key} ({_shape(w)[0]} x {_shape(w)[1]})"
        spin = rope if name in ("queries", "keys") else ""
        split = f", split into {heads} of width {tensor.shape[-1]}" if h > 1 else ""
        steps.add(name, f"{how},{spin} {role}{split}.".replace(",,", ","), tensor, projection=w)
    steps.add("scores", f"Raw scores Q K^T: how well each query matches each key ({heads}, {n} x {n}).",
              t.raw_scores)
    parts = []
    if a["scale"] is True:
        parts.append(f"divided by sqrt(d_k) = sqrt({a['d_head_k']})")
    elif a["scale"] is not False:
        parts.append(f"divided by {float(a['scale']):g}")
    if a["temperature"] != 1.0:
        parts.append(f"divided by the temperature {a['temperature']:g}")
    if a["causal"]:
        parts.append("masked (null) where a key comes after its query (causal)")
    what = ", ".join(parts) if parts else "unchanged (no scaling, temperature 1, no mask)"
    steps.add("scaled_scores", f"The scores {what}: this is what enters the softmax.", t.scores,
              masked=a["causal"])
    steps.add("weights", "Softmax over each row: positive weights that sum to 1 (how much each query takes "
              "from each key).", t.weights)
    steps.add("weighted_values", "Each query's weighted sum of the value vectors: weights @ V"
              + (", per head." if h > 1 else "."), t.head_context)
    if h > 1:
        steps.add("concat", f"The {h} heads' outputs side by side, one vector per token ({n} x "
                  f"{t.concat.shape[-1]}).", t.concat)
    if t.projected is not None:
        steps.add("output", "The heads side by side, times the output projection W_output.", t.projected,
                  projection=record.projections.get("output"))
    if t.residual is not None:
        steps.add("residual", "The inputs added back (residual connection).", t.residual)
    if t.normed is not None:
        steps.add("layer_norm", "Layer norm: each vector shifted to mean 0 and scaled to variance 1.", t.normed)
    steps.add("context", f"The context vectors: the new representation of each token ({n} x {a['d_out']}).",
              t.output)


def _model_steps(steps: _Steps, record: Record, index: int) -> None:
    from attncli.core.attention import unscaled_scores

    t = record.layers[index]
    h, n = record.heads, record.n
    kv = record.kv_heads or h
    rows = record.rows  # some query rows (--focus, --rows): every per-query step holds those only

    def picked(tensor, dim: int = 0):  # (N, ...) or (H, N, ...) -> the chosen rows
        if tensor is None or rows is None or tensor.shape[dim] != n:
            return tensor
        return tensor[:, rows] if dim == 1 else tensor[rows]

    which = "" if rows is None else f" (the {len(rows)} chosen query rows; keys and values: all {n} tokens)"
    steps.add("embeddings", f"The input to layer {index}{which}: "
              + ("the token (and position) embeddings." if index == 0 else f"the output of layer {index - 1}."),
              picked(t.inputs))
    spin = (", then rotated by position (rotary embeddings" + (f", on part of each head: {record.rotary}"
            if isinstance(record.rotary, str) else "") + ")") if record.rotary else ""
    shared = ""
    if kv < h:
        group = h // kv
        pairs = ", ".join(f"{q}->{q // group}" for q in range(h))
        shared = (f" Grouped-query attention: {kv} key/value heads, each shared by {group} query heads "
                  f"(query head -> key/value head: {pairs}).")
    if t.queries is not None:
        normed = " (after its input layer norm)" if record.causal else ""
        steps.add("queries", f"Q = the layer's input{normed} times the model's W_q, split into {h} heads of width "
                  f"{t.queries.shape[-1]}{spin}: what each token is looking for.", picked(t.queries, 1))
        steps.add("keys", f"K = the input times W_k, {kv} heads{spin}: what each token offers to be matched "
                  f"against.{shared}", t.keys)
        steps.add("values", f"V = the input times W_v, {kv} heads: what each token passes on when attended to.",
                  t.values)
        keys = t.keys
        steps.add("scores", f"Raw scores Q K^T: how well each query matches each key ({h} heads, "
                  f"{t.weights.shape[-2]} x {n}).", unscaled_scores(t.queries, keys, record.rows))
    mask = " Causal: each token sees only itself and earlier tokens (above the diagonal: masked, weight 0)." \
        if record.causal else ""
    if t.scores is not None:
        what = "divided by sqrt(d_k) = sqrt({})".format(t.queries.shape[-1]) if t.queries is not None else "scaled"
        steps.add("scaled_scores", f"The scores {what}" + (", masked (null) where a key comes after its query"
                  if record.causal else "") + ": this is what enters the softmax.", t.scores, masked=record.causal)
    steps.add("weights", f"Softmax of the scaled scores, {h} heads: how much each token takes from each.{mask}"
              + ("" if t.queries is not None else shared), t.weights)
    if t.head_context is not None:
        steps.add("weighted_values", "Each head's weighted sum of its value vectors (weights @ V).", t.head_context)
        r = t.head_context.shape[1]
        steps.add("concat", f"The {h} heads' outputs side by side, one vector per token ({r} x "
                  f"{h * t.head_context.shape[-1]}).", t.head_context.transpose(0, 1).reshape(r, -1))
    if t.projected is not None:
        steps.add("output", "The heads side by side, times the model's output projection W_o.", t.projected)
    steps.add("context", "The attention sublayer's output, as the layer goes on with it"
              + (": the output projection added to the input and layer-normed." if not record.causal
                 else " (added to the residual stream)."), t.output)
    if t.hidden is not None:
        steps.add("hidden", f"The output of layer {index}, after its feed-forward sublayer"
                  + (" (the last layer: after the final norm)." if record.causal and index == len(record.layers) - 1
                     else "."), picked(t.hidden))


def select(steps: list[dict], name: str | None) -> list[dict]:
    if name is None:
        return steps
    available = [step["name"] for step in steps]
    from attncli.core.measures.explain import MEASURE_STEPS

    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        if name in STEP_NAMES or name in MEASURE_STEPS:
            message = f"step {name!r} does not apply to this configuration"
        else:
            message = f"unknown step {name!r}"
        raise AttnError(message, param="step", hint=hint + "steps here: " + ", ".join(available))
    return [step for step in steps if step["name"] == name]


def explain_record(record: Record, *, layer: int | str | None = None, step: str | None = None,
                   precision: int | None = None) -> dict:
    """The explain document (``explain --json``): the steps of ``layer`` (a model's; default the last)."""
    from attncli.core.record import parse_layer
    from attncli.documents.build import explain_document

    index = None
    if record.source == "model":
        if layer is not None and str(layer).strip().lower() == "all":
            raise AttnError("explain shows one layer; give a layer number", param="layer")
        index = parse_layer(None if layer is None else str(layer), len(record.layers))[0]
    elif layer is not None:
        raise AttnError(f"{option('layer')} goes with {option('model')}", param="layer",
                        hint=f"e.g. {option('model')} minilm")
    shown_index = index if index is not None else 0
    if record.measure != "weights":  # the attention's own steps show the softmax weights, the measure's follow
        from attncli.core.measures.explain import measure_steps

        shown = record.layers[shown_index]
        measured, heads = shown.weights, record.heads
        shown.weights, record.heads = shown.attention, int(shown.attention.shape[0])
        try:
            steps = build_steps(record, shown_index, precision)
        finally:
            shown.weights, record.heads = measured, heads
        extra = _Steps(precision)
        measure_steps(extra, record, shown_index)
        steps = select(steps + list(extra), step)
    else:
        steps = select(build_steps(record, shown_index, precision), step)
    return explain_document(record, steps, layer=index)
