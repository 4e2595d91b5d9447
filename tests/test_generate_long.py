"""attncli generate with a long prompt (issue 21), and what a generation keeps (issue 20).

A tiny random Llama that reads 512 tokens is given a prompt whose full attention weights exceed the
attention budget (``Transformer(max_attention_mb=...)``): ``run`` refuses it, ``generate`` must still
write, computing only the last prompt row of weights per chosen layer (SDPA elsewhere), and give
transformers' own ids and ``generate(output_attentions=True)`` rows to 1e-5. Also: the grouped-query
scores against each head's own dot products (hypothesis), the kept rows' size check, and that each
step holds only its own float32 rows.
"""

from __future__ import annotations

import importlib.util
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from test_decoders import SPECIAL, WORDS, no_network, save_tokenizer  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

LAYERS, HEADS, KV_HEADS = 2, 4, 2
PROMPT = " ".join(random.Random(0).choice(WORDS) for _ in range(300))  # 300 tokens (a word-level tokenizer)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    import transformers

    folder = tmp_path_factory.mktemp("long-llama")
    config = transformers.LlamaConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                      num_key_value_heads=KV_HEADS, max_position_embeddings=512, bos_token_id=1,
                                      eos_token_id=2, pad_token_id=0, initializer_range=0.3)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    save_tokenizer(folder, bos=False)
    return folder


def loaded(folder, budget_mb: float):
    from attncli.models import Transformer

    return Transformer(str(folder), device=torch.device("cpu"), dtype=torch.float32, max_attention_mb=budget_mb)


def reference(folder, attention: str):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                attn_implementation=attention).eval()


def test_a_prompt_whose_full_weights_exceed_the_budget_still_generates(folder, monkeypatch):
    from attncli.errors import AttnError
    from attncli.models import attend
    from attncli.models.generation import generate_ids

    model = loaded(folder, 0.5)  # the full weights and scores: 2 x 2 layers x 4 heads x 300^2 x 4 bytes = 5.5 MiB
    ids = model.encode(PROMPT)
    n = len(ids)
    assert n == 300
    with pytest.raises(AttnError) as refused:
        model.run_ids(ids)
    assert refused.value.kind == "budget"
    computed = []  # (query rows, keys) of every weight computation attncli makes
    original = attend.scores
    monkeypatch.setattr(attend, "scores", lambda q, k, *a, **kw: computed.append((q.shape[2], k.shape[2]))
                        or original(q, k, *a, **kw))
    result = generate_ids(model, ids, max_new_tokens=8, layers=[0, 1], stop_ids=set())
    # the prompt's forward computed one row per layer, and each step one row: nothing N x N
    assert computed == [(1, n + k) for k in range(8) for _layer in (0, 1)]
    expected = reference(folder, "eager").generate(
        torch.tensor([ids]), do_sample=False, max_new_tokens=8, min_new_tokens=8, output_attentions=True,
        return_dict_in_generate=True)
    assert [s.id for s in result.steps] == expected.sequences[0, n:].tolist()
    plain = reference(folder, "sdpa").generate(torch.tensor([ids]), do_sample=False, max_new_tokens=8,
                                               min_new_tokens=8)
    assert [s.id for s in result.steps] == plain[0, n:].tolist()
    for k, step in enumerate(result.steps):
        for layer in (0, 1):
            row = expected.attentions[k][layer][0, :, -1, :]  # (H, n + k)
            assert step.attention[layer].shape == row.shape == (HEADS, n + k)
            assert float((step.attention[layer] - row).abs().max()) <= 1e-5
    assert float(result.steps[0].attention[1].max()) > 3 / n  # not trivially uniform (uniform: 1 / n)


def test_each_step_keeps_only_its_own_float32_rows(folder):
    from attncli.models.generation import generate_ids

    model = loaded(folder, 0.5)
    ids = model.encode(PROMPT)[:40]
    result = generate_ids(model, ids, max_new_tokens=5, layers=[0, 1], stop_ids=set())
    for step in result.steps:
        for layer in (0, 1):
            row = step.attention[layer]
            assert isinstance(row, torch.Tensor) and row.dtype == torch.float32
            assert row.shape == (HEADS, step.position)
            # no view into a larger tensor (a whole pattern, every head's full copy): the row's own bytes only
            assert row.untyped_storage().nbytes() == row.numel() * 4


def test_rows_over_the_budget_are_refused_before_the_first_forward(folder, monkeypatch):
    from attncli.errors import AttnError
    from attncli.models.generation import generate_ids, kept_rows_mb

    n, new = 300, 200
    assert kept_rows_mb(n, new, LAYERS, HEADS) == LAYERS * HEADS * 4 * sum(n + k for k in range(new)) / 2**20
    model = loaded(folder, 0.5)  # 2 layers x 4 heads x (200 x 300 + 199 x 200 / 2) x 4 bytes = 2.4 MiB kept
    ids = model.encode(PROMPT)
    monkeypatch.setattr(model, "forward", lambda *a, **kw: pytest.fail("a forward ran"))
    with pytest.raises(AttnError) as refused:
        generate_ids(model, ids, max_new_tokens=new, layers=[0, 1])
    error = refused.value
    assert error.kind == "budget" and "layer" in str(error.where)
    assert "2.4 MiB of attention rows" in str(error) and "the limit is 0.5 MiB" in str(error)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 2), kv=st.integers(1, 3), groups=st.integers(1, 4), rows=st.integers(1, 3),
       keys=st.integers(1, 6), width=st.integers(1, 5), masked=st.booleans(), seed=st.integers(0, 2**16))
def test_grouped_scores_are_each_query_heads_own_dot_products(batch, kv, groups, rows, keys, width, masked, seed):
    from attncli.models import attend

    gen = torch.Generator().manual_seed(seed)
    heads = kv * groups
    query = torch.randn(batch, heads, rows, width, generator=gen, dtype=torch.float64)
    key = torch.randn(batch, kv, keys, width, generator=gen, dtype=torch.float64)
    keep = torch.rand(1, 1, rows, keys, generator=gen) > 0.3 if masked else None
    got = attend.scores(query, key, 0.25, keep)  # (B, H, R, N), keys as the model keeps them (KV heads)
    expected = torch.empty(batch, heads, rows, keys, dtype=torch.float64)
    for b in range(batch):
        for h in range(heads):
            for r in range(rows):
                for j in range(keys):
                    dot = sum(float(query[b, h, r, i]) * float(key[b, h // groups, j, i]) for i in range(width))
                    allowed = keep is None or bool(keep[0, 0, r, j])
                    expected[b, h, r, j] = dot * 0.25 if allowed else float("-inf")
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-12, rtol=0)
