"""Hostile input round 3: work is estimated first and refused past a documented limit (docs/limits.md)."""

from __future__ import annotations

import time

import pytest

from conftest import cli


def refused(out, option: str, *parts: str) -> str:
    assert out.code == 2, out
    assert out.stdout == "", out
    first = out.stderr.splitlines()[0]
    assert first.startswith(f"attncli: error: {option}: "), first
    assert f"raise {option}" in first, first
    for part in parts:
        assert part in first, (part, first)
    return first


# --------------------------------------------------------------------------- compare


def test_compare_with_2000_contexts_is_refused_before_running():
    texts = [f"the cat sat {i}" for i in range(2000)]
    start = time.perf_counter()
    out = cli("compare", *texts, "--focus", "cat", "--json")
    assert time.perf_counter() - start < 10
    refused(out, "--max-cells", "2,000 contexts x 1 followed token(s) need 16,000,000 pairwise figures",
            "(4 matrices of 2,000 x 2,000)", "the limit is 1,000,000")
    assert "--focus" not in out.stderr.splitlines()[0].split("(", 2)[-1]  # one token already: no such hint


def test_compare_counts_every_shared_token():
    texts = ["the cat sat on the mat"] * 30  # 5 shared tokens x 30^2 x 4 = 18,000
    assert cli("compare", *texts, "--max-cells", "18_000", "--json").code == 0
    out = cli("compare", *texts, "--max-cells", "17_999", "--json")
    refused(out, "--max-cells", "30 contexts x 5 followed token(s) need 18,000 pairwise figures",
            "follow one token with --focus")


def test_compare_limit_is_checked():
    out = cli("compare", "a b", "a c", "--max-cells", "0")
    assert out.code == 2 and "--max-cells: must be at least 1" in out.stderr


def test_cells_formula():
    from attncli.core.comparison import cells

    assert cells(2000, 1, 1) == 16_000_000
    assert cells(3, 2, 12, 6) == 2 * 9 * (3 + 12 + 12)


# --------------------------------------------------------------------------- bench


def test_bench_long_lengths_are_refused_with_the_estimate():
    out = cli("bench", "--lengths", "100000", "--json")
    refused(out, "--max-tflop", "81.9 TFLOP", "N = 100,000, is 20.48 TFLOP a call", "the limit is 5 TFLOP")


def test_bench_huge_repeat_is_refused():
    out = cli("bench", "--lengths", "8", "--heads", "1", "--width", "4", "--repeat", "100000000")
    refused(out, "--max-calls", "200,000,002 calls (1 length(s) x 2 methods x 100,000,001)",
            "the limit is 10,000")


def test_bench_limits_can_be_raised_and_are_checked():
    args = ["bench", "--lengths", "8", "--heads", "1", "--width", "4", "--repeat", "2"]
    refused(cli(*args, "--max-calls", "5"), "--max-calls", "6 calls", "the limit is 5")
    ok = cli(*args, "--max-calls", "6", "--json")
    assert ok.code == 0 and ok.json["repeat"] == 2, ok
    assert "--max-tflop: must be greater than 0" in cli("bench", "--max-tflop", "0").stderr
    assert "--max-calls: must be at least 1" in cli("bench", "--max-calls", "0").stderr


def test_bench_cost_formula():
    from attncli.core.bench import cost

    tflop, calls = cost([256, 1024, 4096], heads=8, width=64, batch=1, repeat=3)
    assert calls == 24 and tflop == pytest.approx(2 * 4 * 2 * 8 * 64 * 2 * (256**2 + 1024**2 + 4096**2) / 1e12)


# --------------------------------------------------------------------------- toy attention


def test_toy_top_k_past_the_score_budget_is_refused_before_computing():
    text = "cat " * 40_000  # 1.6e9 scores with one head
    start = time.perf_counter()
    out = cli("run", text, "--top-k", "1", "--json")
    assert time.perf_counter() - start < 20
    refused(out, "--max-scores", "40,000 x 40,000 tokens x 1 head(s) is 1,600,000,000 attention scores",
            "the limit is 1,000,000,000")


def test_toy_score_budget_counts_heads_and_focus_rows():
    text = "the cat sat on the mat"  # 6 tokens
    refused(cli("run", text, "--heads", "2", "--max-scores", "71"), "--max-scores",
            "6 x 6 tokens x 2 head(s) is 72 attention scores", "the limit is 71")
    assert cli("run", text, "--heads", "2", "--max-scores", "72", "--json").code == 0
    assert cli("run", text, "--focus", "0", "--max-scores", "6", "--json").code == 0
    for command in (["compare", text, "the dog sat"], ["explain", text]):
        assert "--max-scores" in cli(*command, "--max-scores", "5").stderr


def test_max_scores_is_for_toy_attention():
    out = cli("run", "the cat", "--max-scores", "0")
    assert out.code == 2 and "--max-scores: must be at least 1" in out.stderr
