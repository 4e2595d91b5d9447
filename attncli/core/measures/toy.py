"""The measures on a toy run: one layer, every piece in the record (inputs, W_V, W_O, residual, layer norm).

A toy layer is post-LN when it has a layer norm: y = LN(x + concat W_O) (gain 1, bias 0, eps 1e-5),
each part optional (config ``projections``, ``residual``, ``layer_norm``). Value zeroing is exact and
needs no rerun: zeroing v_j removes sum_h alpha_ij^h f^h(x_j) from the pre-norm vector of row i.
"""

from __future__ import annotations

from attncli.core.measures import scores
from attncli.core.measures.layer import LayerParts, block_terms, measure_layer, transformed_values
from attncli.errors import AttnError, option

#: The layer norm of :func:`attncli.core.attention.layer_norm`.
TOY_EPS = 1e-5


def toy_parts(record, spec) -> LayerParts:
    """The toy layer as LayerParts; the inputs must be there (a tensors config has Q, K, V only)."""
    layer = record.layers[0]
    if layer.weights is None:
        raise AttnError("the measures need every weight, and this run keeps only the top-k", param="measure",
                        hint=f"shorten the text or raise {option('max_weights_mb')}")
    x = layer.inputs
    if x is None:
        raise AttnError("a tensors config gives Q, K and V but no inputs, so no measure but weights applies",
                        param="measure", hint=f"use {option('measure')} weights")
    projections = record.projections or {}
    return LayerParts(x=x, alpha=layer.weights, w_v=projections.get("value"), b_v=None,
                      w_o=projections.get("output"), b_o=None, kv_heads=record.heads,
                      residual=x if spec.residual else None, ln_eps=TOY_EPS if spec.layer_norm else None,
                      rows=record.rows)


def toy_value_zeroing(parts: LayerParts, causal: bool):
    """(1, R, N): cosine distance of each row's output when token j's values are zeroed, rows summing to 1."""
    from attncli.core.attention import layer_norm

    f = transformed_values(parts)  # (H, N, d)
    weighted, z, _terms, _resultant = block_terms(parts, f)
    pre = z.sum(1)  # (R, d): the output before any layer norm
    altered = pre[None] - weighted.transpose(0, 1)  # (N, R, d): token j's attention share removed
    if parts.ln_eps is not None:
        pre, altered = layer_norm(pre, parts.ln_eps), layer_norm(altered, parts.ln_eps)
    distances = scores.cosine_distances(pre, altered)  # (R, N)
    if causal:
        rows = list(range(pre.shape[0])) if parts.rows is None else parts.rows
        for r, i in enumerate(rows):
            distances[r, i + 1:] = 0
    return scores.normalize_or_self(distances, parts.rows)[None]  # (1, R, N)


def apply_toy(record, name: str, spec):
    """The record with ``weights`` holding measure ``name`` (the softmax weights kept as ``attention``)."""
    from attncli.core import measures

    if name == "weights":
        return record
    parts = toy_parts(record, spec)
    layer = record.layers[0]
    if name == "value-zeroing":
        values = level = toy_value_zeroing(parts, record.causal)
        ratio = steps = None
    else:
        m = measure_layer(name, parts, keep_steps=True)
        values, level, ratio, steps = m.values, m.level, m.ratio, m.steps
    layer.attention, layer.weights, layer.level, layer.ratio, layer.steps = layer.weights, values, level, ratio, steps
    layer.top_indices = layer.top_weights = None
    record.measure = name
    if not measures.has_heads(name):
        record.heads = 1
    return record
