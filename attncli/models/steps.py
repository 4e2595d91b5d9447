"""One generated token and its alternatives: what generation and the encoder-decoder path both build.

A leaf module (dataclasses only), so that attncli.models.generation and attncli.models.seq2seq
share these without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Alternative:
    id: int
    token: str
    text: str
    probability: float


@dataclass
class Step:
    """One generated (or, with a target, forced) token and what produced it."""

    index: int  # 0-based among the generated tokens
    position: int  # its position in the whole sequence (prompt first)
    id: int
    token: str  # the tokenizer's string
    text: str  # decoded on its own
    probability: float  # in the model's own distribution (softmax of the logits, before any warping)
    log_probability: float
    rank: int  # 1-based among the vocabulary
    alternatives: list[Alternative]
    attention: dict[int, object]  # layer -> (H, position) the query row of the forward that produced it
    cross: dict[int, object] = field(default_factory=dict)  # encoder-decoder: layer -> (H, source tokens)
    #: ``measure`` other than weights (attncli.models.step_measures): layer -> (H, position) per head, or
    #: (1, position) for the measures without heads; ``level``: layer -> (position,) all heads together
    measure: dict[int, object] = field(default_factory=dict)
    level: dict[int, object] = field(default_factory=dict)
    mixing_ratio: dict[int, float] = field(default_factory=dict)  # ``mixing``: the share from other tokens
    special: bool = False
    eos: bool = False
    seconds: float = 0.0  # the forward that produced it, and the choice
