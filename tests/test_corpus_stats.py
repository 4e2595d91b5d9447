"""The statistics of heads over a corpus (attncli.core.corpus_stats): exact sums, merges in any grouping.

Checked against Python's own statistics module over the same values, and merges against one run:
equal bit for bit, whatever the grouping (hypothesis).
"""

from __future__ import annotations

import json
import math
import random
import statistics

from hypothesis import given, settings, strategies as st

from attncli.core.corpus_stats import CorpusStats, HeadStats, from_text, to_text

SCORE = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_subnormal=True)


def grids(values: list[float], layers: int, heads: int) -> list[list[list[float]]]:
    """Per text an (L, H) grid: text t's head (l, h) gets values[(t * L * H + l * H + h) % len]."""
    cells = layers * heads
    return [[[values[(t * cells + l * heads + h) % len(values)] for h in range(heads)] for l in range(layers)]
            for t in range(max(1, len(values) // cells + 1))]


@settings(max_examples=60, deadline=None)
@given(st.lists(SCORE, min_size=1, max_size=40), st.integers(1, 3), st.integers(1, 3))
def test_summary_equals_the_statistics_module(values, layers, heads):
    texts = grids(values, layers, heads)
    stats = HeadStats(layers, heads)
    for grid in texts:
        stats.add(grid)
    summary = stats.summary()
    for l in range(layers):
        for h in range(heads):
            column = [grid[l][h] for grid in texts]
            assert summary["count"][l][h] == len(column)
            assert math.isclose(summary["mean"][l][h], statistics.fmean(column), rel_tol=0, abs_tol=1e-15)
            assert math.isclose(summary["sd"][l][h], statistics.pstdev(column), rel_tol=1e-12, abs_tol=1e-15)
            assert summary["min"][l][h] == min(column) and summary["max"][l][h] == max(column)


def test_mean_and_sd_are_exact_where_floats_are_not():
    stats = HeadStats(1, 1)
    values = [0.1] * 10 + [1e-300, 0.7]
    for v in values:
        stats.add([[v]])
    summary = stats.summary()
    from fractions import Fraction

    exact = sum(Fraction(v) for v in values) / len(values)
    assert summary["mean"][0][0] == float(exact)  # rounded once, from the exact sum
    variance = sum((Fraction(v) - exact) ** 2 for v in values) / len(values)
    assert math.isclose(summary["sd"][0][0], math.sqrt(float(variance)), rel_tol=1e-15)
    one = HeadStats(1, 1)
    one.add([[0.3]])
    assert one.summary()["sd"] == [[0.0]] and one.summary()["mean"] == [[0.3]]


@given(st.integers(min_value=-(2**3000), max_value=2**3000), st.integers(0, 2200))
def test_exact_text_round_trips(value, shift):
    text = to_text(value, shift)
    assert text.startswith(("0x", "-0x"))
    assert from_text(text, shift, "x") == value


def _stats(texts, seed_names=("previous", "first")) -> CorpusStats:
    stats = CorpusStats(seed_names, 2, 3)
    for number, grid in texts:
        if grid is None:
            stats.add_error(number)
        else:
            stats.add({name: grid for name in seed_names}, tokens=number % 7 + 2)
    return stats


def _merge_tree(parts: list[CorpusStats], rng: random.Random) -> CorpusStats:
    """Merge the parts in a random binary grouping, through JSON (as part files are) at every step."""
    parts = list(parts)
    while len(parts) > 1:
        i = rng.randrange(len(parts) - 1)
        left, right = parts[i], parts[i + 1]
        left = CorpusStats.from_json(json.loads(json.dumps(left.to_json())), "left")
        left.merge(CorpusStats.from_json(json.loads(json.dumps(right.to_json())), "right"))
        parts[i:i + 2] = [left]
    return parts[0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.lists(SCORE, min_size=3, max_size=3), min_size=2, max_size=2)),
                min_size=1, max_size=30),
       st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_merge_is_associative_and_equals_one_run(texts, shards, seed):
    numbered = list(enumerate(texts, 1))
    whole = _stats(numbered)
    parts = [_stats([(n, g) for n, g in numbered if (n - 1) % shards == k]) for k in range(shards)]
    rng = random.Random(seed)
    rng.shuffle(parts)
    merged = _merge_tree(parts, rng)
    assert merged.to_json() == whole.to_json()
    assert merged.summary(5) == whole.summary(5)
    assert merged.errors == sum(g is None for g in texts) and merged.texts == len(texts) - merged.errors


def test_an_empty_part_has_no_mean():
    stats = CorpusStats(("previous",), 1, 2)
    summary = stats.summary(3)
    assert summary["summary"]["previous"]["mean"] == [[None, None]] and summary["top"]["previous"] == []
    assert json.loads(json.dumps(stats.to_json(), allow_nan=False)) == stats.to_json()
