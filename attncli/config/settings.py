"""Settings: a validated config with every width resolved, and the small spec the attention math takes.

Plain dataclasses, no torch: a :class:`Settings` is what :func:`attncli.config.load_settings`
returns, and ``settings.spec`` is the frozen :class:`AttentionSpec` (heads, divisor, causal,
positional, residual, layer norm) that a forward pass needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from attncli.core.spec import AttentionSpec  # noqa: F401  (re-exported: settings.spec returns one)


@dataclass
class TensorSpec:
    """Query, key and value given directly, one row per token."""

    tokens: list[str]
    query: list[list[float]]
    key: list[list[float]]
    value: list[list[float]]


@dataclass
class AttentionSettings:
    scale: bool | float = True
    temperature: float = 1.0
    heads: int = 1
    causal: bool = False
    positional: str = "none"
    projections: str = "identity"  # identity | random | explicit
    matrices: dict[str, list[list[float]]] | None = None  # explicit: query/key/value[/output]
    seed: int = 0
    d_k: int | None = None
    d_v: int | None = None
    residual: bool = False
    layer_norm: bool = False


@dataclass
class Settings:
    """A fully validated configuration with every width resolved."""

    attention: AttentionSettings = field(default_factory=AttentionSettings)
    description: str | None = None
    #: Where the config came from: a bundled name, a path, or None for defaults.
    source: str | None = None
    source_kind: str = "defaults"  # defaults | bundled | file
    embeddings: dict[str, list[float]] | None = None  # lower-cased token -> vector
    tensors: TensorSpec | None = None
    device: str = "cpu"
    dtype: str = "float32"
    d_model: int = 4
    d_k: int = 4  # total query/key width (all heads)
    d_v: int = 4  # total value width (all heads)
    d_out: int = 4  # width of the context vectors

    @property
    def embeddings_source(self) -> str:
        if self.tensors is not None:
            return "tensors"
        if self.embeddings is not None:
            return "inline"
        return "built-in"

    @property
    def head_dim_k(self) -> int:
        return self.d_k // self.attention.heads

    @property
    def head_dim_v(self) -> int:
        return self.d_v // self.attention.heads

    @property
    def scale_factor(self) -> float:
        """The scale alone: sqrt(d_head_k) for ``scale: true``, 1 for ``false``, else the number."""
        scale = self.attention.scale
        if scale is True:
            return math.sqrt(self.head_dim_k)
        if scale is False:
            return 1.0
        return float(scale)

    @property
    def divisor(self) -> float:
        """What the scores are divided by: the scale times the temperature."""
        return self.scale_factor * self.attention.temperature

    @property
    def spec(self) -> AttentionSpec:
        a = self.attention
        return AttentionSpec(heads=a.heads, divisor=self.divisor, causal=a.causal, positional=a.positional,
                             residual=a.residual, layer_norm=a.layer_norm)

    def to_config(self) -> dict[str, Any]:
        """A config document with every default written out: feeding it back gives the same settings."""
        a = self.attention
        projections: Any = dict(a.matrices) if a.projections == "explicit" and a.matrices else a.projections
        doc: dict[str, Any] = {"description": self.description}
        if self.tensors is not None:
            doc["tensors"] = {"tokens": list(self.tensors.tokens), "query": self.tensors.query,
                              "key": self.tensors.key, "value": self.tensors.value}
        else:
            doc["embeddings"] = self.embeddings
        attention: dict[str, Any] = {
            "scale": a.scale, "temperature": a.temperature, "heads": a.heads, "causal": a.causal,
            "positional": a.positional, "projections": projections, "seed": a.seed,
            "d_k": self.d_k if a.projections == "random" else None,
            "d_v": self.d_v if a.projections == "random" else None,
            "residual": a.residual, "layer_norm": a.layer_norm,
        }
        if self.tensors is not None:  # keys that do not apply to a tensors config
            for key in ("projections", "d_k", "d_v", "residual", "seed", "positional"):
                attention.pop(key)
        doc["attention"] = attention
        doc["device"] = self.device
        doc["dtype"] = self.dtype
        return doc

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings, every default filled in (the JSON ``config``)."""
        a = self.attention
        return {
            "source": self.source,
            "source_kind": self.source_kind,
            "description": self.description,
            "embeddings": {
                "source": self.embeddings_source,
                "file": self.source if self.source_kind == "file" and self.embeddings is not None else None,
                "d_model": self.d_model,
                "size": len(self.embeddings) if self.embeddings is not None else None,
            },
            "attention": {
                "scale": a.scale,
                "divisor": self.divisor,
                "temperature": a.temperature,
                "heads": a.heads,
                "causal": a.causal,
                "positional": a.positional,
                "projections": a.projections,
                "output_projection": bool(a.matrices and "output" in a.matrices),
                "seed": a.seed,
                "d_k": self.d_k,
                "d_v": self.d_v,
                "d_head_k": self.head_dim_k,
                "d_head_v": self.head_dim_v,
                "d_out": self.d_out,
                "residual": a.residual,
                "layer_norm": a.layer_norm,
            },
            "device": self.device,
            "dtype": self.dtype,
        }
