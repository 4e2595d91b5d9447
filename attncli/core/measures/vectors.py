"""The vectors the value-aware measures decompose a layer into (pure torch, row-vector convention).

Shapes: N tokens (keys), R query rows, H query heads, KV key/value heads (grouped-query attention:
query head h reads value head h // (H / KV)), dv per-head value width, d the model width.
Projections are ``x @ W`` with W of shape (d_in, d_out), as in :mod:`attncli.core.attention`.
"""

from __future__ import annotations

from attncli.core.devices import import_torch

torch = import_torch()


def head_values(x, w_v, b_v, kv_heads: int):
    """x (N, d) -> each value head's vectors x W_V^h + b_V^h, (KV, N, dv)."""
    v = x @ w_v  # (N, KV*dv)
    if b_v is not None:
        v = v + b_v  # (N, KV*dv)
    n = v.shape[0]
    return v.view(n, kv_heads, -1).transpose(0, 1)  # (KV, N, dv)


def transformed(values, w_o, heads: int):
    """f^h(x_j) = v_j^{kv(h)} W_O^h: each value carried through its head's slice of W_O.

    values (KV, N, dv), w_o (H*dv, d) or None (identity: f^h lands in head h's slice of the concat).
    Returns (H, N, d).
    """
    kv, n, dv = values.shape
    group = heads // kv
    v = values.repeat_interleave(group, dim=0) if group > 1 else values  # (H, N, dv)
    if w_o is None:
        out = v.new_zeros(heads, n, heads * dv)  # (H, N, H*dv)
        for h in range(heads):
            out[h, :, h * dv:(h + 1) * dv] = v[h]
        return out
    w = w_o.view(heads, dv, -1)  # (H, dv, d)
    return torch.bmm(v, w)  # (H, N, d)


def weighted_sum(alpha, f):
    """sum_h alpha_ij^h f^h(x_j): the attention part of token j's share of row i. (R, N, d).

    alpha (H, R, N), f (H, N, d).
    """
    return torch.einsum("hrn,hnd->rnd", alpha, f)  # (R, N, d)


def with_residual(parts, residual, rows: list[int] | None = None, *, per_row: bool = False):
    """parts (R, N, d) + [i = j] residual_i: the residual goes to the query token's own column.

    residual (N, d), or with ``per_row`` (R, d): row r's own (the query tokens' only)."""
    out = parts.clone()  # (R, N, d)
    index = list(range(parts.shape[0])) if rows is None else rows
    for r, i in enumerate(index):
        out[r, i] += residual[r] if per_row else residual[i]
    return out  # (R, N, d)


def layer_norm_terms(parts, pre_norm, gamma, eps: float, *, rms: bool = False):
    """Layer norm made linear by fixing each row's statistics (Kobayashi et al. 2021).

    LN(z) = gamma * (z - mean(z)) / s(z) + beta with s(z) = sqrt(var(z) + eps); with s fixed at the
    row's value s(z_i), g_i(v) = gamma * (v - mean(v)) / s(z_i) is linear and sum_j g_i(z_ij) + beta
    = LN(z_i) when sum_j z_ij = z_i. parts (R, N, d), pre_norm (R, d) = z_i, gamma (d,) or None.
    ``rms``: RMSNorm (no centering, s = sqrt(mean(z^2) + eps)). Returns (R, N, d).
    """
    if rms:
        scale = (pre_norm.pow(2).mean(-1, keepdim=True) + eps).sqrt()  # (R, 1)
        centered = parts  # (R, N, d)
    else:
        scale = (pre_norm.var(-1, unbiased=False, keepdim=True) + eps).sqrt()  # (R, 1)
        centered = parts - parts.mean(-1, keepdim=True)  # (R, N, d)
    out = centered / scale[:, None, :]  # (R, N, d)
    return out * gamma if gamma is not None else out
