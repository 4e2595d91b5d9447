"""Local model folders of every common family, built here with random weights, offline.

Each family's folder is made with transformers' own config class and a tiny word-level tokenizer
(no download), then attncli's weights are compared with transformers' output_attentions, per
layer and head, to 1e-6. The network is switched off for every test (socket.socket raises).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket

import pytest
import torch

from conftest import assert_close, cli, run_json

HAVE = importlib.util.find_spec("transformers") is not None
if not HAVE and os.environ.get("CI") == "true":
    raise RuntimeError("CI must install attncli[models] (see the README's test command)")
pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")

WORDS = ["the", "cat", "sat", "on", "mat", "because", "it", "was", "soft", "a", "dog", "ran", "and", "big", "red"]
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
TEXT = "the cat sat on the mat because it was soft"

#: family -> (config class name, keyword arguments), all tiny: 2 layers, 4 heads, width 16.
FAMILIES = {
    "gpt2": ("GPT2Config", dict(n_embd=16, n_layer=2, n_head=4, n_positions=64)),
    "llama": ("LlamaConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2, max_position_embeddings=64)),
    "qwen2": ("Qwen2Config", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2, max_position_embeddings=64)),
    "gemma": ("GemmaConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=1, head_dim=4, max_position_embeddings=64)),
    "mistral": ("MistralConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)),
    "phi": ("PhiConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                              max_position_embeddings=64)),
    "bert": ("BertConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                                max_position_embeddings=64)),
    "roberta": ("RobertaConfig", dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, max_position_embeddings=70, pad_token_id=0)),
    "distilbert": ("DistilBertConfig", dict(dim=16, hidden_dim=32, n_layers=2, n_heads=4,
                                            max_position_embeddings=64, pad_token_id=0)),
}
DECODERS = {"gpt2", "llama", "qwen2", "gemma", "mistral", "phi"}
KV_HEADS = {"llama": 2, "qwen2": 2, "gemma": 1, "mistral": 2}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def save_tokenizer(folder, *, bos: bool) -> None:
    """A word-level tokenizer made offline; with ``bos`` it prepends <s> like Llama's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>")
    tokenizer.save_pretrained(str(folder))


def make_model(folder, family: str, *, seed: int = 0, bos: bool = False):
    import transformers

    name, kwargs = FAMILIES[family]
    config = getattr(transformers, name)(vocab_size=len(SPECIAL) + len(WORDS), **kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(config)
    model.save_pretrained(str(folder))
    save_tokenizer(folder, bos=bos)
    return folder


def reference(folder, text: str):
    """transformers itself: the tokens and output_attentions of the folder."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True)
    return tokenizer.convert_ids_to_tokens(ids[0]), [a[0] for a in out.attentions]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {family: make_model(root / family, family) for family in FAMILIES}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_matches_output_attentions(folders, family):
    tokens, attentions = reference(folders[family], TEXT)
    out = cli("run", "--model", str(folders[family]), TEXT, "--layer", "all", "--json")
    assert out.code == 0, out
    assert "Warning" not in out.stderr and "warn(" not in out.stderr and "[transformers]" not in out.stderr
    doc = out.json
    assert doc["tokens"] == tokens
    assert len(doc["layers"]) == 2
    for entry, expected in zip(doc["layers"], attentions):
        assert len(entry["weights"]) == 4
        for head, expected_head in zip(entry["weights"], expected):
            assert_close(head, expected_head.tolist(), 1e-6)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_transformer_reports_causal_and_kv_heads(folders, family):
    from attncli.models import Transformer

    model = Transformer(str(folders[family]), device=torch.device("cpu"), dtype=torch.float32)
    run = model.run(TEXT)
    causal = family in DECODERS
    assert run.causal is causal and model.info["causal"] is causal
    kv = KV_HEADS.get(family, 4)
    assert model.info["heads"] == 4 and model.info["kv_heads"] == kv and model.info["layers"] == 2
    assert model.info["kv_head_of"] == [h // (4 // kv) for h in range(4)]
    assert run.texts == run.tokens  # word-level tokens decode to themselves
    n = len(run.tokens)
    for weights in run.attentions:
        upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        if causal:  # future positions are masked: exactly 0
            assert bool((weights[:, upper] == 0).all())
        else:
            assert bool((weights[:, upper] > 0).all())


def test_bos_default_forced_and_removed(tmp_path):
    from attncli.models import Transformer

    with_bos = make_model(tmp_path / "llama-bos", "llama", bos=True)
    cpu = dict(device=torch.device("cpu"), dtype=torch.float32)
    assert Transformer(str(with_bos), **cpu).run("the cat").tokens == ["<s>", "the", "cat"]
    run = Transformer(str(with_bos), **cpu, bos=False).run("the cat")
    assert run.tokens == ["the", "cat"] and run.special == [False, False]
    without = make_model(tmp_path / "llama", "llama")
    assert Transformer(str(without), **cpu).run("the cat").tokens == ["the", "cat"]
    forced = Transformer(str(without), **cpu, bos=True).run("the cat")
    assert forced.tokens == ["<s>", "the", "cat"] and forced.special == [True, False, False]
    tokens, attentions = reference(with_bos, "the cat")
    assert_close(forced.attentions[0].tolist(), attentions[0].tolist(), 1e-6)
    assert run_json("run", "--model", str(with_bos), "the cat", "--no-bos")["tokens"] == ["the", "cat"]
    assert run_json("run", "--model", str(without), "the cat", "--bos")["tokens"] == ["<s>", "the", "cat"]


def test_run_ids_equals_run(folders):
    from attncli.models import Transformer

    model = Transformer(str(folders["gpt2"]), device=torch.device("cpu"), dtype=torch.float32)
    by_text = model.run(TEXT)
    steps = []
    by_ids = model.run_ids(by_text.ids, where="probe", progress=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 2), (2, 2)]
    for a, b in zip(by_text.attentions, by_ids.attentions):
        assert torch.equal(a, b)
    assert by_ids.tokens == by_text.tokens


# --------------------------------------------------------------------------- broken folders (issue 13, item 9)


def _check_refused(folder_or_spec, fragment):
    out = cli("run", "--model", str(folder_or_spec), "the cat", "--json")
    assert out.code == 2 and out.stdout == "", out
    lines = [line for line in out.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, out.stderr
    assert "cannot load the model: " in lines[0] and fragment in lines[0], lines[0]
    assert "weights_only=False" not in out.stderr and "Traceback" not in out.stderr
    assert "Warning" not in out.stderr and "[transformers]" not in out.stderr


def test_cut_off_safetensors(tmp_path):
    folder = make_model(tmp_path / "gpt2", "gpt2")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    _check_refused(folder, "model.safetensors")
    weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{notjson")
    _check_refused(folder, "model.safetensors")
    weights.write_bytes(b"")
    _check_refused(folder, "model.safetensors")


def test_pickled_weights_are_refused_not_unpickled(tmp_path):
    import datetime
    import pickle

    folder = make_model(tmp_path / "gpt2", "gpt2")
    (folder / "model.safetensors").unlink()
    torch.save({"wte.weight": torch.zeros(2), "when": datetime.datetime(2020, 1, 1)}, folder / "pytorch_model.bin")
    _check_refused(folder, "pytorch_model.bin is not a safe weights file")

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Boom()}))
    _check_refused(folder, "not a safe weights file")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content, fragment", [
    ("[1, 2, 3]", "config.json is a JSON list, not an object"),
    ('"gpt2"', "config.json is a JSON str, not an object"),
    ("{not json", "config.json is not valid JSON"),
    ('{"model_type": "no-such-family"}', "cannot load the model"),
])
def test_config_json_that_is_not_a_config(tmp_path, content, fragment):
    folder = make_model(tmp_path / "gpt2", "gpt2")
    (folder / "config.json").write_text(content, encoding="utf-8")
    _check_refused(folder, fragment)


@pytest.mark.parametrize("spec", ["~nosuchuser/x", "~nosuchuser"])
def test_unknown_home_folder(spec):
    _check_refused(spec, "no such user's home folder")


def test_model_json_reports_decoder_tokens(folders):
    doc = run_json("run", "--model", str(folders["llama"]), TEXT)
    assert doc["tokens"] == TEXT.split() and not any(doc["special"])
    assert json.dumps(doc)  # one valid document


# --------------------------------------------------------------------------- how tokens are shown


def test_display_tokens_byte_level_and_sentencepiece():
    from attncli.documents.tokens_display import display_token, display_tokens, scheme_of

    assert display_tokens(["The", "Ġcat", "Ċ", "ĉx", "Ã©"]) == ["The", "␣cat", "↵", "⇥x", "é"]
    assert display_tokens(["<|im_start|>", "Ġsat"]) == ["<|im_start|>", "␣sat"]
    assert display_tokens(["▁The", "▁cat", "<0x0A>"]) == ["␣The", "␣cat", "↵"]
    assert display_tokens(["[CLS]", "##ing", "é"]) == ["[CLS]", "##ing", "é"]  # WordPiece: unchanged
    assert scheme_of(["the", "cat"]) == "plain" and scheme_of(["Ġa"]) == "byte_level"
    assert display_token("\x1b]0;PWNED\x07", "plain") == "\\x1b]0;PWNED\\x07"  # control characters escaped
    assert display_token("Ġ") == "␣"


def test_attention_budget_and_weights_larger_than_memory(folders, monkeypatch):
    from attncli.models import load as hf_load
    from attncli.models import Transformer

    model = Transformer(str(folders["gpt2"]), device=torch.device("cpu"), dtype=torch.float32,
                        max_attention_mb=0.001)
    with pytest.raises(hf_load.AttnError, match="need 0 MiB of attention weights|of attention weights"):
        model.run(TEXT)
    monkeypatch.setattr(hf_load.os, "sysconf", lambda name: 1024 if name == "SC_PHYS_PAGES" else 1)
    out = cli("run", "--model", str(folders["gpt2"]), "the cat", "--json")
    assert out.code == 1 and out.stdout == "" and "config.json describes about 9,648 parameters" in out.stderr
    assert "the limit is 0.0 GiB (90% of this machine's memory)" in out.stderr


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_include_and_explain_show_a_models_insides(folders, family):
    doc = run_json("run", "--model", str(folders[family]), TEXT, "--include", "qkv,raw_scores,head_context")
    n = len(doc["tokens"])
    kv = KV_HEADS.get(family, 4)
    assert (len(doc["queries"]), len(doc["queries"][0])) == (4, n) and len(doc["keys"]) == kv == len(doc["values"])
    assert len(doc["raw_scores"]) == 4 and len(doc["head_context"]) == 4 and len(doc["scores"]) == 4
    q, k = torch.tensor(doc["queries"]), torch.tensor(doc["keys"]).repeat_interleave(4 // kv, dim=0)
    assert_close(doc["raw_scores"], (q @ k.transpose(1, 2)).tolist(), 1e-5)
    out = cli("run", "--model", str(folders[family]), TEXT, "--include", "projections", "--json")
    assert out.code == 2 and "--include projections does not apply to a real model" in out.stderr
    steps = run_json("explain", "--model", str(folders[family]), TEXT)["steps"]
    assert [s["name"] for s in steps][:7] == ["embeddings", "queries", "keys", "values", "scores", "scaled_scores",
                                              "weights"]
    rope = "rotated by position" in steps[1]["caption"]
    assert rope is (family == "llama")
