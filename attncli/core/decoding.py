"""Choosing the next token from a model's logits: greedy, or sampling with temperature, top-k and top-p.

Pure functions on one step's logits (V,), no model and no I/O. The order of the sampling warpers
is transformers' (temperature, then top-k, then top-p, then the softmax and one multinomial draw
from a ``torch.Generator`` seeded once from ``--seed``), so a run is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attncli.errors import AttnError, option

#: The default number of new tokens (``-n/--max-new-tokens``).
DEFAULT_MAX_NEW_TOKENS = 32
#: The default number of alternatives shown per step (``--alternatives``).
DEFAULT_ALTERNATIVES = 3


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked: greedy (``sample=False``) or sampled from the warped distribution."""

    sample: bool = False
    temperature: float | None = None  # None: 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def check(self) -> "Sampling":
        """Refuse settings that name no distribution (exit 2), before any model loads."""
        if not self.sample:
            for name, value in ((option("temperature"), self.temperature),
                                (option("top_k"), self.top_k), (option("top_p"), self.top_p), (option("seed"), self.seed)):
                if value is not None:
                    raise AttnError(f"{name} goes with {option('sample')} (decoding is greedy without it)", where=name)
        if self.temperature is not None and (not math.isfinite(self.temperature) or self.temperature <= 0):
            raise AttnError(f"must be a finite number greater than 0, got {self.temperature}", where=option("temperature"))
        if self.top_k is not None and self.top_k < 1:
            raise AttnError(f"must be at least 1, got {self.top_k}", where=option("top_k"))
        if self.top_p is not None and (not math.isfinite(self.top_p) or not 0 < self.top_p <= 1):
            raise AttnError(f"must be greater than 0 and at most 1, got {self.top_p:g}", where=option("top_p"),
                            hint=f"e.g. {option('top_p')} 0.9 keeps the most likely tokens that make up 90% of the probability")
        return self

    def to_dict(self) -> dict:
        return {"strategy": "sample" if self.sample else "greedy", "temperature": self.temperature if self.sample else None,
                "top_k": self.top_k, "top_p": self.top_p, "seed": self.seed}


def generator(settings: Sampling, device="cpu"):
    """The one random source of a sampled run (None for greedy): seeded from --seed, else from the OS."""
    import torch

    if not settings.sample:
        return None
    gen = torch.Generator(device=device)
    if settings.seed is not None:
        gen.manual_seed(int(settings.seed))
    else:
        gen.seed()
    return gen


def warp(logits, settings: Sampling):
    """Logits (V,) -> the logits sampling draws from: / temperature, then top-k, then top-p (others -inf)."""
    import torch

    scores = logits.float()  # (V,)
    if settings.temperature is not None and settings.temperature != 1.0:
        scores = scores / float(settings.temperature)
    if settings.top_k is not None and settings.top_k < scores.shape[-1]:
        kth = torch.topk(scores, settings.top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if settings.top_p is not None and settings.top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False)  # ascending, as transformers' TopPLogitsWarper
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)  # (V,)
        drop = cumulative <= (1 - settings.top_p)
        drop[-1] = False  # the most likely token always stays
        scores = scores.masked_fill(drop.scatter(0, order, drop), float("-inf"))
    return scores


def choose(logits, settings: Sampling, gen=None) -> int:
    """One step's token id: the argmax (greedy), or one draw from softmax(warp(logits))."""
    import torch

    if not settings.sample:
        return int(torch.argmax(logits))
    probs = warp(logits, settings).softmax(dim=-1)  # (V,)
    return int(torch.multinomial(probs, 1, generator=gen)[0])


def rank_of(logits, token: int) -> int:
    """1-based rank of ``token`` in the model's distribution (1 = the most likely; ties share the better rank)."""
    return int((logits > logits[token]).sum()) + 1


def top_alternatives(log_probs, k: int) -> list[tuple[int, float]]:
    """The ``k`` most likely token ids and their probabilities, from one step's log-softmax (V,)."""
    import torch

    if k <= 0:
        return []
    values, ids = torch.topk(log_probs, min(k, log_probs.shape[-1]))
    return [(int(i), float(math.exp(float(v)))) for v, i in zip(values, ids)]
