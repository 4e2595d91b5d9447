"""The attention math of one layer, from exactly what the model passed to its attention function.

Pure functions on torch tensors, batch first as transformers passes them: B texts, H query heads,
KV key/value heads, Q the forward's query positions, R the rows computed, N keys (cached and new).
The mask is transformers' own (boolean: True attends, or additive float), or None where the model
relies on ``is_causal`` (then the causal mask is built here, aligned to the last key, as SDPA's).
The arithmetic follows transformers' eager attention step by step, so that a captured layer
gives the same numbers as ``output_attentions`` under ``attn_implementation="eager"``.
"""

from __future__ import annotations

import torch


def expand_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, KV, N, d) -> (B, H, N, d): key/value head h // groups for query head h (transformers' repeat_kv)."""
    if groups == 1:
        return x
    b, kv, n, d = x.shape
    return x[:, :, None].expand(b, kv, groups, n, d).reshape(b, kv * groups, n, d)


def allowed(mask: torch.Tensor | None, *, causal: bool, q_len: int, kv_len: int, rows: list[int] | None,
            device) -> torch.Tensor | None:
    """The boolean mask of the computed rows, (B or 1, 1, R, N): True where a query may read a key;
    None when every key is allowed."""
    if mask is not None:
        mask = mask[..., :kv_len]  # a static cache's mask can be longer than the keys passed
        if mask.dtype != torch.bool:  # additive: 0 attends, the dtype's minimum (or -inf) does not
            mask = mask > torch.finfo(mask.dtype).min / 2
        if rows is not None:
            mask = mask[..., rows, :] if mask.shape[-2] > 1 else mask
        return mask
    if not causal or q_len == 1:
        return None
    positions = torch.arange(q_len, device=device) + (kv_len - q_len)  # (Q,) absolute query positions
    if rows is not None:
        positions = positions[rows]
    keys = torch.arange(kv_len, device=device)
    return (keys[None, :] <= positions[:, None])[None, None]  # (1, 1, R, N)


def bias(mask: torch.Tensor | None, kv_len: int, rows: list[int] | None) -> torch.Tensor | None:
    """An additive float mask as eager attention adds it (T5 passes its relative position bias this way,
    (B or 1, H or 1, Q, N)); None for a boolean mask or none.  # (B, H or 1, R, N)"""
    if mask is None or mask.dtype == torch.bool:
        return None
    mask = mask[..., :kv_len]
    return mask[..., rows, :] if rows is not None and mask.shape[-2] > 1 else mask


def scores(query: torch.Tensor, key: torch.Tensor, scaling: float, keep: torch.Tensor | None,
           softcap: float | None = None, additive: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled (and soft-capped) scores with the mask applied, masked: -inf.  # (B, H, R, N)

    ``query`` (B, H, R, dk) holds only the computed rows; ``key`` (B, H, N, dk) expanded, or (B, KV, N, dk)
    as the model keeps it: then each key/value head's G = H / KV query heads are one matmul of G x R rows
    (no per-head copy of the keys); ``additive`` (see :func:`bias`) is added before the softmax, as eager
    attention does."""
    b, h, r, dk = query.shape
    kv, n = key.shape[1], key.shape[2]
    if kv == h:
        out = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, R, N)
    else:  # query head h reads key/value head h // G (transformers' repeat_kv order)
        grouped = torch.matmul(query.reshape(b, kv, (h // kv) * r, dk), key.transpose(2, 3))  # (B, KV, G*R, N)
        out = grouped.view(b, h, r, n) * scaling  # (B, H, R, N)
    if softcap is not None:
        out = torch.tanh(out / softcap) * softcap
    if additive is not None:
        out = out + additive
    if keep is not None:
        out = out.masked_fill(~keep, float("-inf"))
    return out


def softmax(masked_scores: torch.Tensor, dtype: torch.dtype, *, masked: bool = True) -> torch.Tensor:
    """Softmax over the keys in float32, cast back to ``dtype``; a row with every key masked gets
    uniform weights, as transformers' additive mask gives it (never NaN). ``masked=False``: no mask
    was applied (nothing is -inf), and that check is skipped.  # (B, H, R, N)"""
    if masked:
        empty = torch.isneginf(masked_scores).all(dim=-1, keepdim=True)  # (B, H, R, 1)
        if bool(empty.any()):
            masked_scores = masked_scores.masked_fill(empty, 0.0)
    return torch.softmax(masked_scores, dim=-1, dtype=torch.float32).to(dtype)


def head_outputs(pattern: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """pattern (B, H, R, N) @ value (B, H, N, dv) -> z (B, H, R, dv)."""
    return torch.matmul(pattern, value)


def first_key_pattern(like: torch.Tensor) -> torch.Tensor:
    """A pattern (…, R, N) that puts all of each row's weight on key 0."""
    out = torch.zeros_like(like)
    out[..., 0] = 1
    return out
