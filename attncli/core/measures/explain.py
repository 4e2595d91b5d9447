"""``explain --measure``: the steps of a value-aware measure, after the attention's own steps.

Each step is {name, caption, tensor, shape} like attncli.core.explain's, from the tensors the measure
kept (``Layer.steps``): f^h(x_j), the weighted vectors, their norms, the residual and layer norm terms,
the block output, ALTI's distances and normalization, value zeroing's distances.
"""

from __future__ import annotations

from attncli.core.measures import scores

MEASURE_STEPS = ("value_vectors", "weighted_vectors", "norms", "with_residual", "layer_norm_terms", "resultant",
                 "l1_distances", "contributions", "cosine_distances", "measure")


def measure_steps(steps, record, layer: int) -> None:
    """Append the measure's steps for ``layer`` to ``steps`` (attncli.core.explain._Steps)."""
    name = record.measure
    data = record.layers[layer].steps or {}
    values = record.layers[layer].weights  # (H or 1, R, N)
    if "f" in data:
        steps.add("value_vectors", "f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h: each token's value carried through its "
                  "head's slice of the output projection, per head (H, N, d)", data["f"])
    if "weighted" in data:
        steps.add("weighted_vectors", "sum_h alpha_ij^h f^h(x_j): what key j sends to query i through all heads "
                  "(R, N, d)", data["weighted"])
    if name == "norm":
        steps.add("norms", "||alpha_ij^h f^h(x_j)|| per head: the weight times the length of what it moves; rows "
                  "are not normalized", values)
        level = record.layers[layer].level
        steps.add("measure", "||sum_h alpha_ij^h f^h(x_j)||: the layer level, all heads together", level)
        return
    if "z" in data:
        steps.add("with_residual", "z_ij = sum_h alpha_ij^h f^h(x_j) + [i = j] h_i: the residual goes to the query's "
                  "own column", data["z"])
    if "terms" in data and data["terms"] is not data.get("z"):
        steps.add("layer_norm_terms", "T_i(x_j) = gamma * (z_ij - mean(z_ij)) / s(z_i): the layer norm with row i's "
                  "statistics fixed, so it is linear and the terms add up", data["terms"])
    if "resultant" in data:
        steps.add("resultant", "y_i = sum_j T_i(x_j) + the bias terms: the block's own output", data["resultant"])
    if name == "alti":
        distance = (data["resultant"][:, None, :] - data["terms"]).abs().sum(-1)  # (R, N)
        steps.add("l1_distances", "d_ij = ||y_i - T_i(x_j)||_1: how far each source's share is from the output",
                  distance)
        raw = (data["resultant"].abs().sum(-1, keepdim=True) - distance).clamp_min(0)  # (R, N)
        steps.add("contributions", "c_ij = max(0, ||y_i||_1 - d_ij): clipped at 0, before normalization", raw)
        steps.add("measure", "c_ij / sum_j c_ij: each row sums to 1 (rollout: the product over layers)", values)
    elif name == "mixing":
        steps.add("measure", "||T_i(x_j)||: each source token's share of the block output; the mixing ratio is the "
                  "share from the other tokens", values, mixing_ratio=record.layers[layer].ratio)
    elif name == "value-zeroing":
        if "distances" in data:
            steps.add("cosine_distances", "1 - cos(y_i, y_i with token j's values zeroed): one rerun of the layer "
                      "per token", data["distances"])
        steps.add("measure", "the distances normalized so each row sums to 1", scores.normalize_rows(values))
