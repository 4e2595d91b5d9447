"""--measure: norm, mixing, alti and value-zeroing against the papers' formulas, written out here.

Each independent computation reads the model's own modules (model.encoder.layer[l].attention...,
model.layers[l].self_attn...), runs transformers itself, and follows the paper step by step with
plain loops over heads and tokens; attncli's JSON must match to 1e-5 in float32.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import cli, run_json
from test_decoders import TEXT, make_model, no_network  # noqa: F401 (the fixture refuses the network)

HAVE = importlib.util.find_spec("transformers") is not None
needs_models = pytest.mark.skipif(not HAVE, reason="transformers not installed")
TOL = 1e-5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("measures")
    return {family: make_model(root / family, family, seed=3) for family in ("llama", "gpt2", "bert", "qwen2")}


def reference_run(folder, text):
    """transformers itself: the model, ids, attentions and hidden states (eager, float32)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True, use_cache=False)
    return model, ids, [a[0] for a in out.attentions], [h[0] for h in out.hidden_states]


def modules(model, family, layer):
    """(attention input x, W_V, b_V, W_O, b_O, post-LN or None) from the model's own modules: Linear is x W^T + b."""
    if family == "bert":
        att = model.encoder.layer[layer].attention
        return None, att.self.value.weight.T, att.self.value.bias, att.output.dense.weight.T, att.output.dense.bias, \
            att.output.LayerNorm
    if family == "gpt2":
        block = model.h[layer]
        d = block.attn.c_proj.weight.shape[0]
        return block.ln_1, block.attn.c_attn.weight[:, 2 * d:], block.attn.c_attn.bias[2 * d:], \
            block.attn.c_proj.weight, block.attn.c_proj.bias, None
    block = model.layers[layer]
    att = block.self_attn
    return block.input_layernorm, att.v_proj.weight.T, att.v_proj.bias, att.o_proj.weight.T, att.o_proj.bias, None


def paper_vectors(model, family, layer, attentions, hidden):
    """Kobayashi et al.: f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h; the terms z_ij and T_i(x_j); y_i."""
    pre_ln, w_v, b_v, w_o, b_o, post_ln = modules(model, family, layer)
    h_in = hidden[layer]  # (N, d) the block's input
    x = h_in if pre_ln is None else pre_ln(h_in[None])[0]  # (N, d) the attention's input
    alpha = attentions[layer]  # (H, N, N)
    heads, n, _ = alpha.shape
    dv = w_o.shape[0] // heads
    kv = w_v.shape[1] // dv
    f = torch.zeros(heads, n, w_o.shape[1])
    for h in range(heads):
        g = h // (heads // kv)
        for j in range(n):
            v = x[j] @ w_v[:, g * dv:(g + 1) * dv] + (b_v[g * dv:(g + 1) * dv] if b_v is not None else 0)
            f[h, j] = v @ w_o[h * dv:(h + 1) * dv]
    z = torch.zeros(n, n, w_o.shape[1])
    for i in range(n):
        for j in range(n):
            z[i, j] = sum(alpha[h, i, j] * f[h, j] for h in range(heads)) + (h_in[i] if i == j else 0)
    bias = b_o if b_o is not None else torch.zeros(w_o.shape[1])
    if post_ln is None:  # pre-LN: T_i(x_j) = z_ij, y_i = sum_j z_ij + b_O
        return alpha, f, z, z.sum(1) + bias
    pre = z.sum(1) + bias  # (N, d)
    sigma = (pre.var(-1, unbiased=False, keepdim=True) + post_ln.eps).sqrt()  # (N, 1)
    terms = (z - z.mean(-1, keepdim=True)) / sigma[:, None] * post_ln.weight
    resultant = post_ln(pre[None])[0]  # the model's own layer norm output
    return alpha, f, terms, resultant


def measure_doc(spec, measure, layer, *extra, text=TEXT):
    if hasattr(spec, "transformer"):  # a loaded ModelAttention: the same document as run --json, one load
        from attncli.documents.build import run_document

        record = spec.run(text, measure=measure, layers=[layer])
        return run_document(record, layers=[layer], heads_mean="--heads-mean" in extra)
    return run_json("run", "--model", str(spec), text, "--measure", measure, "--layer", str(layer), *extra)


def close(actual, expected):
    a = torch.tensor(actual, dtype=torch.float64)
    e = expected.double()
    assert a.shape == e.shape, (a.shape, e.shape)
    # 1e-5 absolute, relative above 1: SmolLM2's first token carries norms near 2e4 (float32 spacing 2e-3 there)
    error = ((a - e).abs() / e.abs().clamp_min(1)).max()
    assert float(error) < TOL, float(error)


def check_measures(spec, folder, family, layer, text=TEXT):
    """norm (per head and layer level), mixing (and its ratio) and alti of one layer, against the papers."""
    from attncli.models.runs import ModelAttention

    spec = ModelAttention(spec)  # loaded once; the CLI's own path is checked by the other tests
    with torch.no_grad():
        model, ids, attentions, hidden = reference_run(folder, text)
        alpha, f, terms, resultant = paper_vectors(model, family, layer, attentions, hidden)
    heads, n, _ = alpha.shape
    norm = torch.stack([torch.stack([torch.stack([(alpha[h, i, j] * f[h, j]).norm() for j in range(n)])
                                     for i in range(n)]) for h in range(heads)])  # (H, N, N)
    close(measure_doc(spec, "norm", layer, text=text)["weights"], norm)
    layer_level = torch.stack([torch.stack([sum(alpha[h, i, j] * f[h, j] for h in range(heads)).norm()
                                            for j in range(n)]) for i in range(n)])
    close(measure_doc(spec, "norm", layer, "--heads-mean", text=text)["weights"][0], layer_level)
    mixing = terms.norm(dim=-1)  # (N, N)
    doc = measure_doc(spec, "mixing", layer, text=text)
    close(doc["weights"][0], mixing)
    ratio = torch.tensor([(mixing[i].sum() - mixing[i, i]) / mixing[i].sum() for i in range(n)])
    close(doc["mixing_ratio"], ratio)
    # ALTI: d_ij = ||y_i - T_i(x_j)||_1, c_ij = max(0, ||y_i||_1 - d_ij), normalized per row
    c = torch.zeros(n, n)
    for i in range(n):
        for j in range(n):
            c[i, j] = max(0.0, float(resultant[i].abs().sum() - (resultant[i] - terms[i, j]).abs().sum()))
        c[i] = c[i] / c[i].sum()
    close(measure_doc(spec, "alti", layer, text=text)["weights"][0], c)


@needs_models
@pytest.mark.parametrize("family", ["llama", "gpt2", "bert", "qwen2"])
def test_norm_mixing_alti_match_the_papers(tiny, family):
    check_measures(str(tiny[family]), tiny[family], family, 1)


@needs_models
def test_alti_rollout_is_the_product_of_layers(tiny):
    layers = [torch.tensor(measure_doc(tiny["bert"], "alti", i)["weights"][0], dtype=torch.float64) for i in (0, 1)]
    doc = run_json("run", "--model", str(tiny["bert"]), TEXT, "--measure", "alti", "--rollout")
    close(doc["weights"][0], layers[1] @ layers[0])
    assert doc["measure"] == "alti" and doc["weights_of"] == "rollout"


def value_zeroing_reference(model, ids, layer, causal):  # noqa: C901 (the paper, step by step)
    """Mohebbi et al.: zero v_j in every head, rerun the layer, cosine distance of each output."""
    captured = {}
    block = (model.layers if hasattr(model, "layers") else model.encoder.layer)[layer]
    value = block.self_attn.v_proj if hasattr(block, "self_attn") else block.attention.self.value
    hook = block.register_forward_pre_hook(lambda m, a, k: captured.update(args=a, kwargs=k), with_kwargs=True)
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    hook.remove()
    kwargs = captured["kwargs"]
    args = captured["args"]
    n = ids.shape[1]

    def once(token):
        def zero(m, i, out):
            out = out.clone()
            if token is not None:
                out[:, token] = 0
            return out
        h = value.register_forward_hook(zero)
        with torch.no_grad():
            out = block(*args, **kwargs)
        h.remove()
        return (out[0] if isinstance(out, tuple) else out)[0]

    original = once(None)
    d = torch.zeros(n, n)
    for j in range(n):
        altered = once(j)
        for i in range(n):
            if causal and j > i:
                continue
            # in float64: 1 - cos of nearly parallel float32 vectors keeps no digit below 6e-8
            d[i, j] = 1 - torch.nn.functional.cosine_similarity(original[i].double(), altered[i].double(), dim=0)
    return d / d.sum(-1, keepdim=True)


@needs_models
@pytest.mark.parametrize("family", ["llama", "bert"])
def test_value_zeroing_matches_reruns(tiny, family):
    from transformers import AutoModel, AutoTokenizer

    folder = tiny[family]
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(TEXT, return_tensors="pt")["input_ids"]
    expected = value_zeroing_reference(model, ids, 1, causal=family == "llama")
    close(measure_doc(folder, "value-zeroing", 1)["weights"][0], expected)


@needs_models
def test_value_zeroing_refuses_over_budget(tiny):
    out = cli("run", "--model", str(tiny["bert"]), TEXT, "--measure", "value-zeroing", "--layer", "all",
              "--max-passes", "5", "--json")
    assert out.code != 0 and "value zeroing needs" in out.stderr and "--max-passes" in out.stderr
    assert "\"kind\": \"budget\"" in out.stderr


# --------------------------------------------------------------------------- toy, by hand


def test_toy_zero_value_gets_norm_zero(tmp_config):
    """Two tokens, identity projections: the first value is the zero vector, the second is (3, 4)."""
    config = tmp_config("""
embeddings:
  zero: [0.0, 0.0]
  big: [3.0, 4.0]
attention:
  heads: 1
""")
    doc = run_json("run", "-c", config, "zero big", "--measure", "norm")
    weights = run_json("run", "-c", config, "zero big")["weights"][0]
    # row 0 gives most of its weight to "zero" (scores 0 and 0: 1/2 each) yet its norm is 0
    assert doc["weights"][0][0][0] == 0.0 and doc["weights"][0][1][0] == 0.0
    for i in range(2):
        assert math.isclose(doc["weights"][0][i][1], weights[i][1] * 5.0, rel_tol=1e-6)
    assert doc["measure"] == "norm" and doc["weights_of"] == "attention"


def test_toy_measures_need_inputs_and_name_the_option():
    out = cli("run", "the cat", "--measure", "bogus")
    assert out.code == 2 and "--measure" in out.stderr and "unknown measure" in out.stderr
    out = cli("run", "the cat", "--measure", "norm", "--max-passes", "3")
    assert out.code == 2 and "--max-passes goes with --measure value-zeroing" in out.stderr


TEXTS = st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "dog", "ran"]), min_size=1, max_size=7)


@settings(max_examples=25, deadline=None)
@given(words=TEXTS, config=st.sampled_from(["gpt-style", "bank-random", "bank"]),
       measure=st.sampled_from(["alti", "value-zeroing"]))
def test_alti_and_value_zeroing_rows_are_distributions(words, config, measure):
    from attncli.cli.options import AttentionOptions

    runner = AttentionOptions(config=config).toy()
    record = runner.run(" ".join(words), measure=measure)
    c = record.layers[0].weights  # (1, N, N)
    assert bool((c >= 0).all())
    sums = c.sum(-1)
    assert bool(((sums - 1).abs() < 1e-5).all()), sums


@settings(max_examples=25, deadline=None)
@given(words=TEXTS, config=st.sampled_from(["gpt-style", "bank-random"]))
def test_norm_is_zero_exactly_where_the_weight_is(words, config):
    from attncli.cli.options import AttentionOptions

    runner = AttentionOptions(config=config).toy()
    weights = runner.run(" ".join(words)).layers[0].weights  # (H, N, N), causal: masked keys 0
    norm = runner.run(" ".join(words), measure="norm").layers[0].weights
    assert bool(((weights == 0) == (norm == 0)).all())


def test_explain_compare_and_views_carry_the_measure():
    doc = run_json("explain", "-c", "gpt-style", "the cat sat", "--measure", "alti")
    names = [s["name"] for s in doc["steps"]]
    assert doc["measure"] == "alti" and names.index("weights") < names.index("l1_distances") < names.index("measure")
    weights = next(s for s in doc["steps"] if s["name"] == "weights")["tensor"]
    assert all(abs(sum(row) - 1) < 1e-6 for head in weights for row in head)  # the softmax, not the measure
    final = next(s for s in doc["steps"] if s["name"] == "measure")["tensor"]
    assert all(abs(sum(row) - 1) < 1e-6 for row in final[0])
    one = run_json("explain", "-c", "gpt-style", "the cat sat", "--measure", "norm", "--step", "norms")
    assert [s["name"] for s in one["steps"]] == ["norms"]
    compared = run_json("compare", "-c", "gpt-style", "the cat sat", "a cat ran", "--focus", "cat", "--measure",
                        "norm")
    assert compared["measure"] == "norm" and compared["contexts"][0]["measure"] == "norm"
    view = cli("run", "-c", "gpt-style", "the cat sat", "--measure", "norm")
    words = " ".join(view.stdout.split())  # the legend wraps at 80 columns
    assert view.code == 0 and "measure norm" in words and "rows not normalized" in words
    assert "norm ||alpha f(x)||, head 0" in words


@pytest.mark.parametrize("measure", ["norm", "mixing", "alti", "value-zeroing"])
def test_legends_name_the_measure_and_its_range(tmp_path, measure):
    """Every measure's legend says what a brighter cell means (norm: a magnitude, not normalized),
    never "more weight", in run, compare and explain; in color (the SVG) and without (glyph bins)."""
    from attncli.core.measures import legend_words

    words = legend_words(measure)
    assert "weight" not in words
    assert ("from 0 up" in words) if measure in ("norm", "mixing") else ("0 to 1" in words)

    def text_of(*args):
        path = tmp_path / "view.svg"
        out = cli(*args, "--measure", measure, "--save", str(path), env={"COLUMNS": "200"})
        assert out.code == 0, out.stderr
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))

    run_svg = " ".join(text_of("run", "-c", "gpt-style", "the cat sat").split())
    assert f"(brighter: {words})" in run_svg and "more weight" not in run_svg
    compare_svg = " ".join(text_of("compare", "-c", "gpt-style", "the cat sat", "a cat ran", "--focus", "cat").split())
    assert f"brighter: {words}" in compare_svg
    explain_svg = " ".join(text_of("explain", "-c", "gpt-style", "the cat sat").split())
    assert f"(brighter: {words})" in explain_svg  # under the measure's own matrix
    # the softmax step keeps its legend; the measure's matrix comes after it
    assert explain_svg.rindex("(brighter: more weight)") < explain_svg.rindex(f"(brighter: {words})")
    plain = cli("run", "-c", "gpt-style", "the cat sat", "--measure", measure, "--view", "compact",
                env={"NO_COLOR": "1"})  # glyphs, not numbers: the glyph bins' legend
    assert f"(denser: {words})" in " ".join(plain.stdout.split())
