"""``norm`` and ``mixing`` one query row at a time from per-key inner products (pure torch).

A generation step's row needs ||sum_h alpha_j^h f^h(x_j)|| for every key j. f^h(x_j) does not change once
token j is in the key/value cache, so neither do its inner products G_j[h, g] = <f^h(x_j), f^g(x_j)>
(H x H numbers a key): then

    ||alpha_j^h f^h(x_j)||           = alpha_j^h sqrt(G_j[h, h])
    ||sum_h alpha_j^h f^h(x_j)||^2   = sum_{h,g} alpha_j^h alpha_j^g G_j[h, g]

and a step computes f only for its new key. G is kept in float64 (the quadratic form's terms may
cancel). Shapes: H heads, N keys, d the model width.
"""

from __future__ import annotations

from attncli.core.devices import import_torch

torch = import_torch()


def head_gram(f):
    """G_j = <f^h(x_j), f^g(x_j)>: f (H, K, d) -> (K, H, H), float64."""
    f = f.double()
    return torch.einsum("hkd,gkd->khg", f, f)  # (K, H, H)


def norm_row(alpha, gram):
    """One row's norm from the keys' inner products: alpha (H, N), gram (N, H, H) -> per head (H, N), level (N,)."""
    a = alpha.double()  # (H, N)
    per_head = a * gram.diagonal(dim1=1, dim2=2).T.clamp_min(0).sqrt()  # (H, N)
    level = torch.einsum("hn,nhg,gn->n", a, gram, a).clamp_min(0).sqrt()  # (N,)
    return per_head.to(alpha.dtype), level.to(alpha.dtype)


def mixing_row(level, alpha_own, f_own, residual):
    """Pre-LN ``mixing`` of a row whose query is its last key: ||z_ij|| is the level but in its own column,
    where the residual joins: ||sum_h alpha_i^h f^h(x_i) + h_i||. level (N,), alpha_own (H,), f_own (H, d),
    residual (d,) -> the row (N,) and its mixing ratio (the share from other tokens)."""
    own = (torch.einsum("h,hd->d", alpha_own, f_own) + residual).norm()  # ()
    row = level.clone()  # (N,)
    row[-1] = own
    total = row.sum()
    ratio = float((total - own) / total) if float(total) > 0 else 0.0
    return row, ratio
