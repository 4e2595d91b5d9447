"""What heads matter, on a real model: ``heads --effect`` and the first token's share under ``norm``.

``head_effects``: for every head, the rise in loss on the probe's second copy (the repeated random
tokens, attncli.core.detectors.probe_ids) when that head alone is ablated (its z zeroed through the
capture points' AblateHead): one forward pass per head. ``first_token_shares``: per layer, the share of
each row that goes to the first token under ``weights`` (heads' mean) and under ``norm`` (layer level).
"""

from __future__ import annotations

from typing import Callable

from attncli.errors import AttnError, option


def second_copy_loss(torch, logits, ids, start: int, length: int):
    """Mean -log p of the second copy's tokens: logits (N, V) at positions P+len-1 .. P+2len-2. -> ()."""
    predicted = logits[start + length - 1:start + 2 * length - 1].float()  # (len, V)
    target = torch.tensor(ids[start + length:start + 2 * length], device=logits.device)  # (len,)
    return -torch.log_softmax(predicted, dim=-1).gather(1, target[:, None]).mean()  # ()


def head_effects(t, ids, start: int, length: int, *, mode: str = "zero", progress: Callable | None = None,
                 only: list[tuple[int, int]] | None = None):
    """(L, H) loss rise on the second copy with each head ablated alone (float64, CPU); ``only``: just
    these (layer, head) cells (the others stay 0)."""
    from attncli.core.points import AblateHead

    torch = t.torch
    if not t.causal:
        raise AttnError(f"{option('effect')} needs a decoder: {t.name} is an encoder (no next-token loss)",
                        param="effect")
    layers, heads = int(t.info["layers"]), int(t.info["heads"])

    def loss(out):
        logits = getattr(out, "logits", None)
        if logits is None:
            raise AttnError(f"{option('effect')} needs the model's LM head, and {t.name} loads without one",
                            param="effect")
        return float(second_copy_loss(torch, logits[0], ids, start, length))

    base = loss(t.forward(ids))
    effects = torch.zeros(layers, heads, dtype=torch.float64)  # (L, H)
    cells = only if only is not None else [(layer, head) for layer in range(layers) for head in range(heads)]
    for done, (layer, head) in enumerate(cells, start=1):
        with t.hooks(capture=(), interventions=[AblateHead(layer, head, mode)]):
            effects[layer, head] = loss(t.forward(ids)) - base
        if progress is not None:
            progress(done, len(cells))
    return effects, base


def first_token_shares(t, ids, *, where: str, ablate=(), ablate_mode: str = "zero"):
    """Per layer: the mean over rows 1..N-1 of the first token's share of the row, under weights and norm
    (``ablate``: with those (layer, head)s removed, attncli.models.measured)."""
    from attncli.models.measured import measured_run

    record, extra = measured_run(t, ids, where=where, measure="norm", layers=None, rollout=False,
                                 ablate=list(ablate), ablate_mode=ablate_mode)
    weights = []
    for layer in record.layers:
        mean = layer.weights.double().mean(0)  # (N, N) the heads' mean: rows sum to 1
        weights.append(float(mean[1:, 0].mean()) if mean.shape[0] > 1 else float(mean[0, 0]))
    return weights, norm_shares(extra)


def norm_shares(extra) -> list[float]:
    """Per layer of a ``norm`` run (attncli.models.measured's ``extra``): the mean over rows 1..N-1 of the
    first token's share of ||sum_h alpha f|| in its row."""
    norms = []
    for index in sorted(extra["layers"]):
        level = extra["layers"][index][1][0].double()  # (N, N) ||sum_h alpha f||
        share = level[:, 0] / level.sum(-1).clamp_min(1e-300)  # (N,)
        norms.append(float(share[1:].mean()) if share.shape[0] > 1 else float(share[0]))
    return norms
