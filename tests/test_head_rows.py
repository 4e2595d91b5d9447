"""attncli.core.head_rows: the text scores summed chunk by chunk equal the detectors on the whole weights.

Random softmax weights (causal or not) through HeadScoreReducer with every chunk size; the reference is
attncli.core.detectors on the (L, H, N, N) tensor (itself checked against hand-made heads in test_heads.py).
"""

from __future__ import annotations

import torch
from hypothesis import given, settings, strategies as st

from attncli.core import detectors
from attncli.core.head_rows import HeadScoreReducer


def _weights(seed: int, layers: int, heads: int, n: int, causal: bool, sharp: float):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(layers, heads, n, n, generator=g) * sharp
    if causal:
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1)  # (L, H, N, N)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), heads=st.integers(1, 4), n=st.integers(2, 24), causal=st.booleans(),
       rows=st.integers(1, 30), sharp=st.sampled_from([0.1, 1.0, 30.0]), narrow=st.booleans())
def test_reduced_scores_equal_the_detectors(seed, heads, n, causal, rows, sharp, narrow):
    """``narrow``: the chunks come as capture gives them to a causal reducer, only the keys up to the
    chunk's last row (the rest are masked); else every chunk has all N keys."""
    weights = _weights(seed, 2, heads, n, causal, sharp)
    reducer = HeadScoreReducer(heads=heads, causal=causal, chunk_bytes=1)
    reducer.chunk_rows = lambda n_keys: rows  # every chunk size, one row up to more than N
    asked = []

    def pattern_rows(start, stop, width=None, w=None):
        asked.append(width)
        return w[None, :, start:stop, :width if narrow and causal else None]

    for layer in range(2):
        reducer(layer, lambda start, stop, width=None, w=weights[layer]: pattern_rows(start, stop, width, w), n)
    assert all(width is None for width in asked) if not causal else all(width >= 1 for width in asked)
    got = reducer.scores()
    want = detectors.score_all(weights, causal=causal)
    for name, value in got.items():
        torch.testing.assert_close(value, want[name], atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.tensor(reducer.first_token_mass(), dtype=torch.float64),
                               torch.tensor(detectors.mean_by_layer(weights), dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_one_token_is_refused_like_the_detectors():
    import pytest

    from attncli.errors import AttnError

    reducer = HeadScoreReducer(heads=1, causal=True, chunk_bytes=1 << 20)
    reducer(0, lambda start, stop, width=None: torch.ones(1, 1, stop - start, 1), 1)
    with pytest.raises(AttnError, match="at least 2 tokens"):
        reducer.scores()
