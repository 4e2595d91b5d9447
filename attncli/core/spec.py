"""How one attention layer is wired, besides its weights: the one small object the math takes.

Torch-free, so that settings (``attncli.config``) can build it without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionSpec:
    """What one attention pass needs besides its tensors (``settings.spec``)."""

    heads: int = 1
    #: The scores are divided by this: the scale times the temperature (finite, checked).
    divisor: float = 1.0
    causal: bool = False
    positional: str = "none"  # none | sinusoidal | rope
    residual: bool = False
    layer_norm: bool = False
