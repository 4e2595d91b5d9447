"""Head mean and top-k: the reductions of a weight matrix that documents, views and figures share.

Pure torch functions on tensors of any leading shape, and no Record: the documents use them without
depending on the attention math (attncli.core.attention re-exports them).
"""

from __future__ import annotations

from attncli.core.devices import import_torch

torch = import_torch()


def head_mean(weights):
    """(H, R, N) -> (1, R, N): the mean over heads, in float32 at least (float64 stays float64).

    The one head mean of attncli: documents, views, compare and the browser all call it.
    """
    if weights.dtype in (torch.float16, torch.bfloat16):
        weights = weights.float()
    return weights.mean(dim=-3, keepdim=True)  # (1, R, N)


def visible_keys(positions, n_keys: int, causal: bool):
    """(R,) query positions -> (R,) how many keys each query may see: all, or (causal) 0..position."""
    positions = torch.as_tensor(positions, dtype=torch.long)  # (R,)
    if not causal:
        return torch.full_like(positions, n_keys)  # (R,)
    return (positions + 1).clamp(max=n_keys)  # (R,)


def top_links(weights, k: int, positions=None):
    """(..., R, N) -> the K largest weights of each row and their key indices, largest first.

    The one top-k of attncli. With ``positions`` (R,) (the query positions of a causal run)
    the keys after each query are masked: they rank below every key the query may see (even one
    whose weight underflowed to 0); keep the first :func:`visible_keys` entries of each row
    (documents.build and the views do).
    """
    k = min(k, weights.shape[-1])
    if positions is None:
        return weights.topk(k, dim=-1)  # (..., R, K) x2
    positions = torch.as_tensor(positions, dtype=torch.long, device=weights.device)  # (R,)
    keys = torch.arange(weights.shape[-1], device=weights.device)  # (N,)
    future = keys[None, :] > positions[:, None]  # (R, N)
    _, indices = weights.masked_fill(future, float("-inf")).topk(k, dim=-1)  # (..., R, K)
    return weights.gather(-1, indices), indices  # (..., R, K) x2
