"""The measures as matrices, from the vectors of :mod:`.vectors` (pure torch).

Shapes: H heads, R query rows, N keys, d the model width.
"""

from __future__ import annotations

from attncli.core.devices import import_torch

torch = import_torch()


def norm_per_head(alpha, f):
    """||alpha_ij^h f^h(x_j)|| = alpha_ij^h ||f^h(x_j)||: alpha (H, R, N), f (H, N, d) -> (H, R, N)."""
    return alpha * f.norm(dim=-1)[:, None, :]  # (H, R, N)


def norm_layer(weighted):
    """||sum_h alpha_ij^h f^h(x_j)||: the weighted sum (R, N, d) -> (1, R, N)."""
    return weighted.norm(dim=-1)[None]  # (1, R, N)


def mixing(terms):
    """||g_i(z_ij)||: each source token's share of the block's output, (R, N, d) -> (1, R, N)."""
    return terms.norm(dim=-1)[None]  # (1, R, N)


def mixing_ratio(contributions, rows: list[int] | None = None):
    """The share of each row that comes from other tokens: sum_{j != i} c_ij / sum_j c_ij. (1, R, N) -> (R,)."""
    c = contributions[0]  # (R, N)
    index = torch.arange(c.shape[0], device=c.device) if rows is None else torch.tensor(rows, device=c.device)
    own = c.gather(1, index[:, None])[:, 0]  # (R,)
    total = c.sum(-1)  # (R,)
    return torch.where(total > 0, (total - own) / total.clamp_min(torch.finfo(c.dtype).tiny), torch.zeros_like(total))


def alti(terms, resultant, rows: list[int] | None = None):
    """ALTI (Ferrando et al. 2022): c_ij = max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1), rows normalized.

    terms (R, N, d) the transformed vectors T_i(x_j); resultant (R, d) the block's output y_i.
    Returns (1, R, N). A row where nothing contributes (y_i = 0: every c_ij is 0) is all on token i itself.
    """
    distance = (resultant[:, None, :] - terms).abs().sum(-1)  # (R, N)
    c = (resultant.abs().sum(-1, keepdim=True) - distance).clamp_min(0)  # (R, N)
    return normalize_or_self(c, rows)[None]  # (1, R, N)


def normalize_or_self(c, rows: list[int] | None = None):
    """Rows divided by their sums; a row summing to 0 becomes one-hot on its own token. (R, N)."""
    out = normalize_rows(c)  # (R, N)
    empty = c.sum(-1) <= 0  # (R,)
    if bool(empty.any()):
        index = list(range(c.shape[0])) if rows is None else rows
        for r in empty.nonzero()[:, 0].tolist():
            out[r, index[r]] = 1
    return out


def normalize_rows(c):
    """Rows divided by their sums (rows summing to 0 stay 0). (..., R, N)."""
    total = c.sum(-1, keepdim=True)  # (..., R, 1)
    return torch.where(total > 0, c / total.clamp_min(torch.finfo(c.dtype).tiny), torch.zeros_like(c))


def cosine_distances(original, altered):
    """Value zeroing's raw scores: 1 - cos(y_i, y_i^{-j}).

    original (N, d) the unchanged outputs; altered (J, N, d) the outputs with token j's values zeroed.
    Returns (N, J): row i, column j, in the inputs' dtype. Computed in float64 as ||a/|a| - b/|b|||^2 / 2,
    which equals 1 - cos but keeps its digits when the vectors are nearly parallel (1 - cos in float32
    loses everything below 6e-8, and rows are normalized afterwards).
    """
    a = original.double()[None]  # (1, N, d)
    b = altered.double()  # (J, N, d)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    distance = (a - b).pow(2).sum(-1) / 2  # (J, N)
    return distance.transpose(0, 1).to(original.dtype)  # (N, J)


def value_zeroing(distances, causal: bool):
    """(N, N) cosine distances -> rows normalized to 1 (a row of zeros: all on its own token); causal: later keys 0."""
    if causal:
        distances = torch.tril(distances)  # (N, N)
    return normalize_or_self(distances)[None]  # (1, N, N)


def rollout_contributions(layers: list):
    """ALTI's rollout: C_L ... C_1 (the residual is already inside each C; no identity added). (N, N) each."""
    result = None
    for c in layers:
        c = c.double()
        result = c if result is None else c @ result  # (N, N)
    return result
