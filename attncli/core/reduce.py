"""Head mean and top-k: the two reductions of a weight matrix that documents, views and figures share.

Pure torch functions on tensors of any leading shape; no Record, so the documents can use them
without depending on the attention math.
"""

from __future__ import annotations


def head_mean(weights):
    """(H, R, N) -> (1, R, N): the mean over heads, in float32 at least (float64 stays float64)."""
    if weights.is_floating_point() and weights.element_size() == 2:  # float16, bfloat16
        weights = weights.float()
    return weights.mean(dim=0, keepdim=True)  # (1, R, N)


def top_links(weights, k: int):
    """(..., R, N) -> the K largest weights of each row and their key indices, largest first."""
    values, indices = weights.topk(min(k, weights.shape[-1]), dim=-1)  # (..., R, K) x2
    return values, indices
