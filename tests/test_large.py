"""Reading large inputs: --focus rows, --top-k, the weight budget and chunked computation."""

from __future__ import annotations

import torch

from attncli.core import attention
from conftest import assert_close, cli, run_json

TEXT = "the cat sat on the mat because it was soft"


def test_focus_rows_are_the_full_rows_in_the_order_given():
    full = run_json("run", TEXT, "--include", "qkv", "--heads", "2")
    doc = run_json("run", TEXT, "--focus", "it", "--focus", "0", "--focus", "the@2", "--include", "qkv",
                   "--heads", "2")
    assert doc["focus"] == [7, 0, 4]
    for key in ("weights", "scores", "queries"):
        assert doc[key] == [[head[i] for i in (7, 0, 4)] for head in full[key]], key
    assert doc["context"] == [full["context"][i] for i in (7, 0, 4)]
    assert doc["keys"] == full["keys"] and doc["values"] == full["values"]
    # the focus rows' embeddings, like weights and context (docs/json.md); --include embeddings keeps all N
    assert doc["tokens"] == full["tokens"] and doc["embeddings"] == [full["embeddings"][i] for i in (7, 0, 4)]
    every = run_json("run", TEXT, "--focus", "it", "--include", "embeddings", "--heads", "2")
    assert every["embeddings"] == full["embeddings"]
    assert run_json("run", TEXT, "--focus", "the")["focus"] == [0, 4]


def test_focus_with_causal_residual_and_layer_norm():
    full = run_json("run", TEXT, "-c", "gpt-style", "--dtype", "float64")
    doc = run_json("run", TEXT, "-c", "gpt-style", "--dtype", "float64", "--focus", "5", "--focus", "1")
    assert_close(doc["context"], [full["context"][5], full["context"][1]], 1e-12)
    assert doc["scores"][0][0][6] is None  # masked keys after the query stay null


def test_focus_errors():
    assert "--focus: focus token 'bird' is not in the text" in cli("run", TEXT, "--focus", "bird").stderr
    assert "index 10 is out of range" in cli("run", TEXT, "--focus", "10").stderr
    assert "occurs 2 time(s), not 3" in cli("run", TEXT, "--focus", "the@3").stderr


def test_top_k_lists_the_most_attended_keys():
    doc = run_json("run", TEXT, "--top-k", "3", "--heads", "2", "--dtype", "float64")
    top = doc["top_k"]
    assert top["k"] == 3 and len(top["indices"]) == 2 and len(top["indices"][0]) == 10
    for h in range(2):
        for i in range(10):
            row = doc["weights"][h][i]
            expected = sorted(range(10), key=lambda j: -row[j])[:3]
            assert sorted(row[j] for j in top["indices"][h][i]) == sorted(row[j] for j in expected)
            assert top["weights"][h][i] == [row[j] for j in top["indices"][h][i]]
    out = cli("run", TEXT, "--top-k", "2")
    assert "top 2 keys per query" in out.stdout and "#2" in out.stdout
    assert cli("run", TEXT, "--top-k", "0").code == 2


def test_over_budget_with_top_k_drops_weights_with_a_warning():
    text = " ".join(["the cat sat on the mat"] * 200)  # 1,200 tokens
    out = cli("run", text, "--top-k", "2", "--max-weights-mb", "1", "--json")
    assert out.code == 0
    doc = out.json
    assert doc["weights"] is None and doc["scores"] is None
    assert len(doc["context"]) == 1200 and len(doc["top_k"]["indices"][0]) == 1200
    assert "scores and weights are left out" in out.stderr
    refused = cli("run", text, "--max-weights-mb", "1", "--json")
    assert refused.code == 2 and refused.stdout == "" and "--focus" in refused.stderr
    focused = cli("run", text, "--max-weights-mb", "1", "--focus", "7", "--json")
    assert focused.code == 0 and len(focused.json["weights"][0]) == 1


def test_chunked_rows_equal_the_whole_computation():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 50, 4, generator=g, dtype=torch.float64) for _ in range(3))
    whole = attention.attend(q, k, v, divisor=2.0, causal=True, top_k=4)
    chunked = attention.attend(q, k, v, divisor=2.0, causal=True, top_k=4, chunk=7)
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)
    assert bool(whole.finite)
    rows = torch.tensor([49, 3, 3])
    picked = attention.attend(q, k, v, divisor=2.0, causal=True, rows=rows, chunk=2)
    torch.testing.assert_close(picked[2], whole[2][:, rows])
    torch.testing.assert_close(picked[3], whole[3][:, rows])


def test_compact_view_at_40_tokens_and_wide_inputs():
    text = " ".join(["the cat sat on the mat because it was soft"] * 4)  # 40 tokens
    out = cli("run", text)
    assert "legend:" in out.stdout and max(len(l) for l in out.stdout.splitlines()) <= 80
    wide = cli("run", " ".join(["the cat"] * 60))  # 120 keys: a pooled picture by default, short
    lines = wide.stdout.splitlines()
    assert "pooled: 120 x 120 pooled to 40 x 40" in " ".join(lines) and max(len(l) for l in lines) <= 80
    assert len(lines) < 75 and "the first 10 of 120 rows; --context all" in " ".join(lines)
    forced = cli("run", " ".join(["the cat"] * 60), "--view", "compact")  # every weight, in blocks of keys
    text = " ".join(forced.stdout.splitlines())
    assert "keys 0-70 of 120" in text and "keys 71-119 of 120" in text and "too many" not in text
    assert max(len(l) for l in forced.stdout.splitlines()) <= 80
    every = cli("run", " ".join(["the cat"] * 60), "--context", "all")
    assert "--context all shows" not in every.stdout and every.stdout.count("\ncat ") == 60


def test_enormous_text_is_refused_quickly():
    out = cli("run", "cat " * 300_000, "--top-k", "1")
    assert out.code == 2 and "more than attncli handles" in out.stderr
