"""What flows through attention, beyond the softmax weights: four value-aware measures.

Every measure gives, for a layer, the contribution of key token j to query token i:

- ``weights``: the softmax weights themselves (the default; per head).
- ``norm`` (Kobayashi et al., EMNLP 2020): ``||alpha_ij^h f^h(x_j)||``, per head; layer level
  ``||sum_h alpha_ij^h f^h(x_j)||``. Not normalized: the magnitudes are the point.
- ``mixing`` (Kobayashi et al., EMNLP 2021): the norm of each source token's share of the attention
  block's output, residual and layer norm included; layer level only, plus each token's mixing ratio.
- ``alti`` (Ferrando et al., EMNLP 2022): contributions from the L1 distance between each transformed
  source vector and the block's output, clipped at 0, rows summing to 1; layer level only.
- ``value-zeroing`` (Mohebbi et al., EACL 2023): cosine distance of each token's block output when token
  j's value vectors are zeroed, rows summing to 1; layer level only (computed by rerunning the layer).

The math is in :mod:`.vectors` (the transformed vectors every measure shares) and :mod:`.scores`.
"""

from __future__ import annotations

#: name -> (has per-head values, rows sum to 1, one-line description for legends)
MEASURES = {
    "weights": (True, True, "softmax attention weights"),
    "norm": (True, False, "||alpha f(x)||, value-weighted norms (Kobayashi et al. 2020); rows not normalized"),
    "mixing": (False, False, "||g(alpha f(x) + residual)||, with residual and layer norm (Kobayashi et al. 2021); "
                             "rows not normalized"),
    "alti": (False, True, "ALTI contributions (Ferrando et al. 2022), rows sum to 1"),
    "value-zeroing": (False, True, "value zeroing (Mohebbi et al. 2023): cosine distance, rows sum to 1"),
}

#: name -> what a brighter (or, without color, a denser) cell means, with the values' range: the legends.
LEGENDS = {
    "weights": "more weight",
    "norm": "a larger ||alpha f(x)|| (a magnitude from 0 up, rows not normalized)",
    "mixing": "a larger ||g(alpha f(x) + residual)|| (a magnitude from 0 up, rows not normalized)",
    "alti": "a larger contribution (0 to 1, each row sums to 1)",
    "value-zeroing": "a larger share of the row's cosine distance (0 to 1, each row sums to 1)",
}


def check_measure(name: str | None, where: str | None = None) -> str:
    """``measure``: one of :data:`MEASURES` (None: weights)."""
    from attncli.errors import AttnError, option

    if name is None:
        return "weights"
    value = name.strip().lower().replace("_", "-")
    if value not in MEASURES:
        raise AttnError(f"unknown measure {name!r}", where=where or option("measure"),
                        hint="expected " + ", ".join(MEASURES))
    return value


def has_heads(name: str) -> bool:
    return MEASURES[name][0]


def normalized(name: str) -> bool:
    return MEASURES[name][1]


def describe(name: str) -> str:
    return MEASURES[name][2]


def legend_words(name: str | None) -> str:
    """What a legend says a brighter cell means under this measure (None: weights)."""
    return LEGENDS[name or "weights"]
