"""The math equals PyTorch's own reference implementations, for many shapes.

* ``torch.nn.functional.scaled_dot_product_attention`` (with and without a causal mask)
* ``torch.nn.MultiheadAttention`` (several heads, output projection, converted weights,
  ``average_attn_weights=False``)

to 1e-10 in float64 and 1e-5 in float32, plus invariants: rows sum to 1, causal
weights are zero above the diagonal, permuting tokens permutes the output.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.core import attention
from conftest import assert_close, run_json

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = st.sampled_from([torch.float64, torch.float32])


@st.composite
def shapes(draw):
    heads = draw(st.integers(1, 4))
    d_head_k = draw(st.integers(1, 6))
    d_head_v = draw(st.integers(1, 6))
    n = draw(st.integers(1, 12))
    return n, heads, d_head_k, d_head_v


def tensors(n, heads, dk, dv, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(n, heads * dk, generator=g, dtype=torch.float64).to(dtype)
    key = torch.randn(n, heads * dk, generator=g, dtype=torch.float64).to(dtype)
    value = torch.randn(n, heads * dv, generator=g, dtype=torch.float64).to(dtype)
    return query, key, value


@settings(max_examples=150, deadline=None)
@given(shape=shapes(), causal=st.booleans(), scale=st.sampled_from([True, False, 2.5]),
       temperature=st.floats(0.25, 4.0), dtype=DTYPES, seed=st.integers(0, 2**31))
def test_equals_scaled_dot_product_attention(shape, causal, scale, temperature, dtype, seed):
    n, heads, dk, dv = shape
    query, key, value = tensors(n, heads, dk, dv, dtype, seed)
    base = dk ** 0.5 if scale is True else (1.0 if scale is False else scale)
    divisor = base * temperature
    layer = attention.attend_projected(query, key, value, attention.Spec(heads=heads, divisor=divisor, causal=causal))

    q = query.view(n, heads, dk).transpose(0, 1)
    k = key.view(n, heads, dk).transpose(0, 1)
    v = value.view(n, heads, dv).transpose(0, 1)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1.0 / divisor)
    tol = TOL[dtype]
    torch.testing.assert_close(layer.head_context, expected, atol=tol, rtol=0)
    torch.testing.assert_close(layer.output, expected.transpose(0, 1).reshape(n, heads * dv), atol=tol, rtol=0)
    # Weights: rows sum to one, zero above the diagonal when causal.
    torch.testing.assert_close(layer.weights.sum(-1), torch.ones(heads, n, dtype=dtype), atol=tol, rtol=0)
    if causal:
        upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        assert bool((layer.weights[:, upper] == 0).all())
        assert bool(torch.isneginf(layer.scores[:, upper]).all())


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 10), heads=st.integers(1, 4), head_dim=st.integers(1, 5), causal=st.booleans(),
       temperature=st.floats(0.5, 2.0), dtype=DTYPES, seed=st.integers(0, 2**31))
def test_equals_multihead_attention(n, heads, head_dim, causal, temperature, dtype, seed):
    embed_dim = heads * head_dim
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, embed_dim, generator=g, dtype=torch.float64).to(dtype)
    w_query, w_key, w_value, w_output = (
        torch.randn(embed_dim, embed_dim, generator=g, dtype=torch.float64).to(dtype) / embed_dim ** 0.5
        for _ in range(4))
    layer = attention.forward(x, attention.Projections(w_query, w_key, w_value, w_output),
                              attention.Spec(heads=heads, divisor=head_dim ** 0.5 * temperature, causal=causal))

    mha = torch.nn.MultiheadAttention(embed_dim, heads, bias=False, batch_first=True, dtype=dtype)
    with torch.no_grad():
        # MHA computes x @ W.T; the row-vector convention is x @ W. Temperature folds into W_query.
        mha.in_proj_weight.copy_(torch.cat([(w_query / temperature).T, w_key.T, w_value.T]))
        mha.out_proj.weight.copy_(w_output.T)
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1) if causal else None
        out, weights = mha(x[None], x[None], x[None], attn_mask=mask, need_weights=True,
                           average_attn_weights=False)
    tol = TOL[dtype]
    torch.testing.assert_close(layer.output, out[0], atol=tol, rtol=0)
    torch.testing.assert_close(layer.weights, weights[0], atol=tol, rtol=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 9), heads=st.sampled_from([1, 2]), seed=st.integers(0, 2**31), data=st.data())
def test_permuting_tokens_permutes_the_output(n, heads, seed, data):
    perm = torch.tensor(data.draw(st.permutations(list(range(n)))))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    w = [torch.randn(4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    args = (attention.Projections(w[0], w[1], w[2]), attention.Spec(heads=heads, divisor=2.0))
    base = attention.forward(x, *args)
    permuted = attention.forward(x[perm], *args)
    torch.testing.assert_close(permuted.output, base.output[perm], atol=1e-12, rtol=0)
    torch.testing.assert_close(permuted.weights, base.weights[:, perm][:, :, perm], atol=1e-12, rtol=0)


def test_huge_scores_still_give_rows_that_sum_to_one():
    query = torch.tensor([[100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    layer = attention.attend_projected(query, query, query, attention.Spec(heads=1, divisor=1.0))
    assert float(layer.raw_scores.max()) == 20000.0
    torch.testing.assert_close(layer.weights.sum(-1), torch.ones(1, 3))
    assert bool(torch.isfinite(layer.output).all())


def mha_config(tmp_config, heads, causal, dtype="float64"):
    g = torch.Generator().manual_seed(7)
    words = ["alpha", "beta", "gamma", "delta", "eps"]
    emb = {w: torch.randn(4, generator=g, dtype=torch.float64).tolist() for w in words}
    mats = {k: torch.randn(4, 4, generator=g, dtype=torch.float64).tolist() for k in ("query", "key", "value", "output")}
    doc = {"embeddings": emb, "dtype": dtype,
           "attention": {"heads": heads, "causal": causal, "projections": mats}}
    return tmp_config(json.dumps(doc)), emb, mats  # JSON is valid YAML


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_cli_equals_multihead_attention_in_float64(tmp_config, heads, causal):
    path, emb, mats = mha_config(tmp_config, heads, causal)
    text = "alpha beta gamma delta eps beta"
    doc = run_json("run", "-c", path, text)
    x = torch.tensor([emb[w] for w in text.split()], dtype=torch.float64)
    m = {k: torch.tensor(v, dtype=torch.float64) for k, v in mats.items()}
    mha = torch.nn.MultiheadAttention(4, heads, bias=False, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([m["query"].T, m["key"].T, m["value"].T]))
        mha.out_proj.weight.copy_(m["output"].T)
        n = x.shape[0]
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1) if causal else None
        out, weights = mha(x[None], x[None], x[None], attn_mask=mask, average_attn_weights=False)
    assert_close(doc["context"], out[0].tolist(), 1e-10)
    assert_close(doc["weights"], weights[0].tolist(), 1e-10)
    assert doc["config"]["attention"]["output_projection"] is True


@pytest.mark.parametrize("args", [
    [], ["--causal"], ["--heads", "2", "--projections", "random", "--positional", "rope"],
    ["--positional", "sinusoidal", "--temperature", "0.5"], ["-c", "gpt-style"], ["-c", "bank-projections"],
])
def test_json_round_trip_recomputes_scores_weights_and_context(args):
    text = "stream bank mud" if "bank-projections" in args else "The cat sat on the mat because it was soft"
    doc = run_json("run", text, "--include", "qkv", "--dtype", "float64", *args)
    a = doc["config"]["attention"]
    q, k, v = (torch.tensor(doc[name], dtype=torch.float64) for name in ("queries", "keys", "values"))
    scores = q @ k.transpose(-2, -1) / a["divisor"]
    n = q.shape[1]
    if a["causal"]:
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    weights = torch.softmax(scores, -1)
    heads_out = weights @ v
    concat = heads_out.transpose(0, 1).reshape(n, -1)
    expected_scores = [[[None if s == float("-inf") else s for s in row] for row in head] for head in scores.tolist()]
    assert_close(doc["scores"], expected_scores, 1e-12)
    assert_close(doc["weights"], weights.tolist(), 1e-12)
    if not a["residual"] and not a["layer_norm"] and not a["output_projection"]:
        assert_close(doc["context"], concat.tolist(), 1e-12)
    else:  # gpt-style: residual + layer norm on top of the heads
        x = torch.tensor(doc["embeddings"], dtype=torch.float64)
        expected = F.layer_norm(concat + x, (x.shape[1],), eps=1e-5)
        assert_close(doc["context"], expected.tolist(), 1e-12)


def test_sinusoidal_encoding_matches_the_paper():
    pe = attention.sinusoidal_encoding(5, 4, dtype=torch.float64, device="cpu")
    import math

    for pos in range(5):
        for i in range(2):
            angle = pos / 10000 ** (2 * i / 4)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-15)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-15)


def test_rope_preserves_norms_and_makes_scores_relative():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 6, 4, generator=g, dtype=torch.float64)
    rotated = attention.rope(q)
    torch.testing.assert_close(rotated.norm(dim=-1), q.norm(dim=-1))
    # Same vector at every position: scores depend only on the distance.
    same = q[:, :1].expand(1, 6, 4).clone()
    r = attention.rope(same)
    s = (r @ r.transpose(-2, -1))[0]
    torch.testing.assert_close(s[0, 2], s[3, 5])
    torch.testing.assert_close(s[1, 4], s[2, 5])
