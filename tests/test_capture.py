"""Capture and intervention points (attncli.core.points, attncli.models.capture) on tiny random models.

Every family tests/test_decoders.py builds, offline: what the points capture is checked against
transformers' own eager attention (``output_attentions``, ``output_hidden_states``) to 1e-6, the
``rows`` option against the full pattern, and each intervention against a direct computation.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

torch = pytest.importorskip("torch")

from test_decoders import DECODERS, FAMILIES, TEXT, make_model, no_network  # noqa: E402,F401 (no_network: autouse)

from attncli.core.points import POINTS, AblateHead, ReplacePattern, ZeroValue  # noqa: E402

ALL = tuple(POINTS)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from attncli.models import Transformer

    root = tmp_path_factory.mktemp("capture")
    cpu = dict(device=torch.device("cpu"), dtype=torch.float32)
    return {family: Transformer(str(make_model(root / family, family)), **cpu) for family in FAMILIES}


def eager(model, ids):
    """transformers' eager attention on the same weights: (attentions, hidden states, output)."""
    from attncli.models import capture

    before = capture._implementation(model.model.config)
    capture._set_implementation(model.model, "eager")
    try:
        with torch.no_grad():
            out = model.model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    finally:
        capture._set_implementation(model.model, before)
    return [a[0] for a in out.attentions], [h[0] for h in out.hidden_states]


def close(a, b, tol=1e-6):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.equal(torch.isneginf(a), torch.isneginf(b))  # masked in both
    finite = ~torch.isneginf(a)
    assert float((a[finite] - b[finite]).abs().max()) <= tol


def expand(v, heads):  # (KV, N, d) -> (H, N, d)
    return v.repeat_interleave(heads // v.shape[0], dim=0)


def ids_of(model):
    return model.encode(TEXT)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_points_match_eager_attention(models, family):
    model = models[family]
    ids = ids_of(model)
    n, heads = len(ids), model.info["heads"]
    attentions, hidden = eager(model, ids)
    before = model.forward(ids)
    with model.hooks(capture=ALL) as cache:
        out = model.forward(ids)
    assert sorted(cache) == [0, 1] and all(set(cache[i]) == set(ALL) for i in cache)
    for i, point in cache.items():
        close(point["pattern"], attentions[i])
        close(point["resid_pre"], hidden[i])
        if i < 1 or family not in DECODERS:  # a decoder's last hidden state is after its final norm
            close(point["resid_post"], hidden[i + 1])
        q, k, v = point["q"], point["k"], point["v"]
        assert q.shape[:2] == (heads, n) and k.shape[:2] == (model.info["kv_heads"], n) == v.shape[:2]
        scores = point["scores"]
        close(torch.softmax(scores, dim=-1), point["pattern"])
        if family in DECODERS:
            assert bool(torch.isneginf(scores[:, torch.triu(torch.ones(n, n, dtype=torch.bool), 1)]).all())
        close(point["z"], point["pattern"] @ expand(v, heads))
        concat = point["z"].transpose(0, 1).reshape(n, -1)  # (N, H*dv)
        with torch.no_grad():
            close(point["attn_out"], model.structure.projection[i](concat[None])[0], 1e-5)
    logits = "logits" if family in DECODERS else "last_hidden_state"
    close(getattr(out, logits), getattr(before, logits), 1e-5)  # capturing changes nothing (eager vs SDPA)
    assert torch.equal(getattr(model.forward(ids), logits), getattr(before, logits))


@pytest.mark.parametrize("family", ["llama", "bert", "gpt2"])
def test_rows_are_the_full_patterns_rows(models, family):
    model = models[family]
    ids = ids_of(model)
    rows = [0, 3, len(ids) - 1]
    with model.hooks(capture=ALL) as full:
        model.forward(ids)
    with model.hooks(capture=ALL, rows=rows) as part:
        model.forward(ids)
    for i in full:
        for name in ("scores", "pattern", "z", "attn_out", "attn_sublayer"):
            close(part[i][name], full[i][name][..., rows, :], 1e-5)
        for name in ("q", "k", "v", "resid_pre", "resid_post"):
            close(part[i][name], full[i][name], 1e-5)


def test_layers_limit_what_is_captured(models):
    model = models["llama"]
    with model.hooks(capture=("q", "pattern", "resid_post"), layers=[1]) as cache:
        model.forward(ids_of(model))
    assert list(cache) == [1] and set(cache[1]) == {"q", "pattern", "resid_post"}
    with pytest.raises(ValueError, match="unknown capture point 'patern'.*'pattern'"):
        with model.hooks(capture=("patern",)):
            pass


def test_hooks_are_removed_when_the_forward_raises(models):
    model = models["llama"]
    implementation = model.model.config._attn_implementation
    counts = [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.model.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks(capture=ALL):
            model.forward(ids_of(model))
            raise RuntimeError("boom")
    with pytest.raises(IndexError):
        with model.hooks(capture=ALL):
            model.forward([10**6])  # outside the vocabulary: the embedding raises inside the forward
    assert [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.model.modules()] == counts
    assert model.model.config._attn_implementation == implementation == "sdpa"
    from attncli.models import capture

    assert capture._ACTIVE == []


def _capture(model, ids, interventions=(), rows=None):
    with model.hooks(capture=ALL, rows=rows, interventions=interventions) as cache:
        out = model.forward(ids)
    return cache, out


@pytest.mark.parametrize("mode", ["zero", "mean", "first"])
def test_ablating_a_head_changes_that_head_only(models, mode):
    model = models["llama"]
    ids = ids_of(model)
    before = model.forward(ids).logits
    clean, _ = _capture(model, ids)
    cache, out = _capture(model, ids, [AblateHead(layer=1, head=2, mode=mode)])
    z, kv = cache[1]["z"], model.info["kv_head_of"][2]
    expected = {"zero": torch.zeros_like(z[2]),
                "mean": clean[1]["z"][2].mean(dim=0, keepdim=True).expand_as(z[2]),
                "first": clean[1]["v"][kv, :1].expand_as(z[2])}[mode]
    close(z[2], expected)
    if mode == "first":
        assert bool((cache[1]["pattern"][2, :, 0] == 1).all()) and float(cache[1]["pattern"][2, :, 1:].abs().max()) == 0
    for h in (0, 1, 3):
        assert torch.equal(z[h], clean[1]["z"][h])
    for name in ALL:  # upstream: the earlier layer entirely, and this layer's input and q, k, v
        assert torch.equal(cache[0][name], clean[0][name])
    for name in ("resid_pre", "q", "k", "v", "scores"):
        assert torch.equal(cache[1][name], clean[1][name])
    assert not torch.equal(cache[1]["attn_out"], clean[1]["attn_out"])
    assert not torch.allclose(out.logits, before)
    assert torch.equal(model.forward(ids).logits, before)  # after the context: the model as it was


def test_replace_pattern_and_zero_value_against_a_direct_computation(models):
    model = models["llama"]
    ids = ids_of(model)
    n = len(ids)
    clean, _ = _capture(model, ids)
    uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]  # (N, N) each row: mean of the past
    cache, _ = _capture(model, ids, [ReplacePattern(layer=0, head=1, pattern=uniform)])
    v0 = expand(clean[0]["v"], 4)
    close(cache[0]["pattern"][1], uniform)
    close(cache[0]["z"][1], uniform @ v0[1])
    assert torch.equal(cache[0]["z"][0], clean[0]["z"][0])
    cache, _ = _capture(model, ids, [ZeroValue(layer=None, token=2)])
    for i in cache:
        assert float(cache[i]["v"][:, 2].abs().max()) == 0
        z = cache[i]["pattern"] @ expand(cache[i]["v"], 4)
        close(cache[i]["z"], z)
    v = clean[0]["v"].clone()
    v[:, 2] = 0
    close(cache[0]["z"], clean[0]["pattern"] @ expand(v, 4))  # layer 0: same pattern, token 2's value gone
    with pytest.raises(ValueError, match="head 9 is out of range"):
        _capture(model, ids, [AblateHead(layer=0, head=9)])
    with pytest.raises(ValueError, match="mode must be one of"):
        AblateHead(layer=0, head=0, mode="half")


def test_interventions_with_rows_change_the_model_as_without(models):
    model = models["llama"]
    ids = ids_of(model)
    rows = [len(ids) - 1]
    for item in (AblateHead(1, 0, "zero"), AblateHead(1, 0, "mean"), AblateHead(1, 0, "first"), ZeroValue(0, 1)):
        full, out_full = _capture(model, ids, [item])
        part, out_part = _capture(model, ids, [item], rows=rows)
        close(out_part.logits, out_full.logits, 1e-5)
        close(part[1]["z"], full[1]["z"][:, rows], 1e-5)


def test_generation_with_a_kv_cache_captures_the_new_row(models):
    model = models["llama"]
    ids = ids_of(model)
    with model.hooks(capture=ALL) as whole:
        model.forward(ids)
    prefix = model.forward(ids[:-1], use_cache=True)
    with model.hooks(capture=ALL) as step:
        out = model.forward(ids[-1:], past_key_values=prefix.past_key_values, use_cache=True)
    n = len(ids)
    for i in step:
        assert step[i]["pattern"].shape == (4, 1, n) and step[i]["q"].shape[1] == 1 and step[i]["k"].shape[1] == n
        for name in ("pattern", "scores", "z", "attn_out"):
            close(step[i][name], whole[i][name][..., -1:, :], 1e-5)
    close(out.logits[0, -1], model.forward(ids).logits[0, -1], 1e-5)


def test_toy_layers_answer_to_the_point_names():
    from attncli.core import toy
    from attncli.config.settings import Settings

    record = toy.build(Settings()).run("the cat sat on the mat")
    layer = record.layers[0]
    assert layer.point("q") is layer.queries and layer.point("pattern") is layer.weights
    assert layer["z"] is layer.head_context and layer.point("scores") is layer.scores
    assert layer.point("resid_pre") is layer.inputs
    with pytest.raises(KeyError, match="unknown point"):
        layer.point("nope")
