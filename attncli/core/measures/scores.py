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


def alti(terms, resultant):
    """ALTI (Ferrando et al. 2022): c_ij = max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1), rows normalized.

    terms (R, N, d) the transformed vectors T_i(x_j); resultant (R, d) the block's output y_i.
    Returns (1, R, N); a row whose contributions are all 0 stays 0.
    """
    distance = (resultant[:, None, :] - terms).abs().sum(-1)  # (R, N)
    c = (resultant.abs().sum(-1, keepdim=True) - distance).clamp_min(0)  # (R, N)
    return normalize_rows(c)[None]  # (1, R, N)


def normalize_rows(c):
    """Rows divided by their sums (rows summing to 0 stay 0). (..., R, N)."""
    total = c.sum(-1, keepdim=True)  # (..., R, 1)
    return torch.where(total > 0, c / total.clamp_min(torch.finfo(c.dtype).tiny), torch.zeros_like(c))


def cosine_distances(original, altered):
    """Value zeroing's raw scores: 1 - cos(y_i, y_i^{-j}).

    original (N, d) the unchanged outputs; altered (J, N, d) the outputs with token j's values zeroed.
    Returns (N, J): row i, column j.
    """
    cos = torch.nn.functional.cosine_similarity(altered, original[None].expand_as(altered), dim=-1)  # (J, N)
    return (1 - cos).clamp_min(0).transpose(0, 1)  # (N, J)


def value_zeroing(distances, causal: bool):
    """(N, N) cosine distances -> rows normalized to 1; with causal attention later keys are 0."""
    if causal:
        distances = torch.tril(distances)  # (N, N)
    return normalize_rows(distances)[None]  # (1, N, N)


def rollout_contributions(layers: list):
    """ALTI's rollout: C_L ... C_1 (the residual is already inside each C; no identity added). (N, N) each."""
    result = None
    for c in layers:
        c = c.double()
        result = c if result is None else c @ result  # (N, N)
    return result
