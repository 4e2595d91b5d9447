"""The steps of self-attention on the user's own input, each with a caption and its tensor.

Built from a full ``Trace`` (every row kept); the names are a contract (README, "explain"):
embeddings, positional, queries, keys, values, scores, scaled_scores, weights, weighted_values,
output, residual, layer_norm, context. Steps that do not apply are left out.
"""

from __future__ import annotations

from attncli.errors import AttnError
from attncli.result import Result, to_list

STEP_NAMES = ("embeddings", "positional", "queries", "keys", "values", "scores", "scaled_scores", "weights",
              "weighted_values", "output", "residual", "layer_norm", "context")


def _shape(tensor) -> list[int]:
    return [int(d) for d in tensor.shape]


def _masked(values):
    if isinstance(values, list):
        return [_masked(v) for v in values]
    return None if values == float("-inf") else values


def build_steps(result: Result, weights: dict, precision: int | None = None) -> list[dict]:
    """Every step that applies, in order: {name, caption, tensor, shape[, projection, encoding]}."""
    t = result.trace
    s = result.settings
    a = s.attention
    h, n = a.heads, result.n
    heads = f"{h} heads" if h > 1 else "1 head"
    steps: list[dict] = []

    def add(name, caption, tensor, **extra):
        step = {"name": name, "caption": caption, "tensor": to_list(tensor, precision), "shape": _shape(tensor)}
        for key, value in extra.items():
            step[key] = to_list(value, precision) if value is not None and hasattr(value, "shape") else value
        steps.append(step)

    if t.embeddings is not None:
        source = {"built-in": "the built-in toy vocabulary", "inline": "the config's embeddings"}[s.embeddings_source]
        unknown = sum(result.oov)
        caption = f"Each of the {n} tokens looks up its {s.d_model}-number vector in {source}"
        if unknown:
            caption += f"; {unknown} unknown token(s) get stable hashed vectors"
        add("embeddings", caption + ".", t.embeddings)
    if t.positional is not None:
        add("positional", "Sinusoidal position encodings (sin on even, cos on odd features) are added to the "
            "embeddings, so that word order matters; shown: the sums.", t.inputs, encoding=t.positional)
    rope = " then rotated by position (rope)," if a.positional == "rope" else ""
    for name, symbol, role, key in (
        ("queries", "Q", "what each token is looking for", "query"),
        ("keys", "K", "what each token offers to be matched against", "key"),
        ("values", "V", "what each token passes on when attended to", "value"),
    ):
        tensor = getattr(t, name)
        w = weights.get(key)
        if s.tensors is not None:
            how = f"{symbol} is given directly by the config"
        elif w is None:
            how = f"{symbol} = X (identity: the inputs themselves)"
        else:
            how = f"{symbol} = X @ W_{key} ({_shape(w)[0]} x {_shape(w)[1]})"
        spin = rope if name in ("queries", "keys") else ""
        split = f", split into {heads} of width {tensor.shape[-1]}" if h > 1 else ""
        add(name, f"{how},{spin} {role}{split}.".replace(",,", ","), tensor, projection=w)
    add("scores", f"Raw scores Q K^T: how well each query matches each key ({heads}, {n} x {n}).", t.raw_scores)
    parts = []
    if a.scale is True:
        parts.append(f"divided by sqrt(d_k) = sqrt({s.head_dim_k})")
    elif a.scale is not False:
        parts.append(f"divided by {float(a.scale):g}")
    if a.temperature != 1.0:
        parts.append(f"divided by the temperature {a.temperature:g}")
    if a.causal:
        parts.append("masked (null) where a key comes after its query (causal)")
    what = ", ".join(parts) if parts else "unchanged (no scaling, temperature 1, no mask)"
    step_scores = to_list(t.scores, precision)
    steps.append({"name": "scaled_scores", "caption": f"The scores {what}: this is what enters the softmax.",
                  "tensor": _masked(step_scores) if a.causal else step_scores, "shape": _shape(t.scores)})
    add("weights", "Softmax over each row: positive weights that sum to 1 (how much each query takes "
        "from each key).", t.weights)
    add("weighted_values", "Each query's weighted sum of the value vectors: weights @ V"
        + (", per head." if h > 1 else "."), t.head_context)
    if t.output is not None:
        add("output", "The heads side by side, times the output projection W_output.", t.output,
            projection=weights.get("output"))
    if t.residual is not None:
        add("residual", "The inputs added back (residual connection).", t.residual)
    if t.normed is not None:
        add("layer_norm", "Layer norm: each vector shifted to mean 0 and scaled to variance 1.", t.normed)
    add("context", f"The context vectors: the new representation of each token ({n} x {s.d_out}).", t.context)
    return steps


def select(steps: list[dict], name: str | None) -> list[dict]:
    if name is None:
        return steps
    available = [step["name"] for step in steps]
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        if name in STEP_NAMES:
            message = f"step {name!r} does not apply to this configuration"
        else:
            message = f"unknown step {name!r}"
        raise AttnError(message, where="--step", hint=hint + "steps here: " + ", ".join(available))
    return [step for step in steps if step["name"] == name]


def model_steps(run, layer: int, precision: int | None = None) -> list[dict]:
    """explain --model: one layer of a real model, step by step."""
    def step(name, caption, tensor):
        return {"name": name, "caption": caption, "tensor": to_list(tensor, precision), "shape": _shape(tensor)}

    h = run.heads
    steps = [step("embeddings", f"The input to layer {layer}: "
                  + ("token, position and segment embeddings (layer-normed)." if layer == 0
                     else f"the output of layer {layer - 1}."), run.hidden_states[layer]),
             step("weights", f"Softmax of the scaled scores, {h} heads: how much each token takes from each "
                  "(transformers' own output_attentions).", run.attentions[layer])]
    if run.head_outputs is not None:
        steps.append(step("weighted_values", "Each head's weighted sum of its value vectors (weights @ V).",
                          run.head_outputs[layer]))
    steps.append(step("context", "The attention sublayer's output: the heads concatenated, projected, added to "
                      "the input and layer-normed.", run.attention_outputs[layer]))
    steps.append(step("hidden", f"The output of layer {layer}, after its feed-forward sublayer.",
                      run.hidden_states[layer + 1]))
    return steps
