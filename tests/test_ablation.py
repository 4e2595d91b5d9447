"""--ablate and heads --effect: checked against hooks written here, on the model's own modules."""

from __future__ import annotations

import contextlib
import importlib.util

import pytest
import torch

from conftest import cli, run_json
from test_decoders import SPECIAL, TEXT, WORDS, no_network, save_tokenizer  # noqa: F401
from test_models import needs_smollm2

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    """A tiny Llama with tied embeddings, so that its LM head is in the folder (deterministic logits)."""
    import transformers

    folder = tmp_path_factory.mktemp("ablate") / "llama"
    config = transformers.LlamaConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=64, tie_word_embeddings=True)
    torch.manual_seed(5)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(20)  # large enough weights for heads to matter
    model.save_pretrained(str(folder))
    save_tokenizer(folder, bos=True)
    return folder


def reference_lm(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                attn_implementation="eager").eval()


@contextlib.contextmanager
def zeroed_heads(model, ablate):
    """Each (layer, head) zeroed at o_proj's input (its z) by a forward pre-hook, inside the ``with``."""
    hooks = []
    dv = model.config.hidden_size // model.config.num_attention_heads
    for layer, head in ablate:
        def zero(_m, args, head=head):
            z = args[0].clone()
            z[..., head * dv:(head + 1) * dv] = 0
            return (z,)
        hooks.append(model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(zero))
    try:
        with torch.no_grad():
            yield
    finally:
        for h in hooks:
            h.remove()


def zeroed_loss(model, ids, ablate, positions):
    """log p of ids[positions] with each (layer, head) zeroed at o_proj's input (its z)."""
    with zeroed_heads(model, ablate):
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    lp = torch.log_softmax(logits.double(), -1)
    return [float(lp[p - 1, ids[p]]) for p in positions]


def test_zeroing_a_head_zeroes_its_z_and_nothing_upstream(llama):
    from attncli.models import Transformer
    from attncli.models.ablation import interventions

    t = Transformer(str(llama), device=torch.device("cpu"), dtype=torch.float32)
    ids = t.encode(TEXT)
    points = ("resid_pre", "q", "k", "v", "pattern", "z")
    plain = t.run_ids(ids, points=points)
    ablated = t.run_ids(ids, points=points, interventions=interventions([(1, 2)], "zero"))
    for name in ("inputs", "queries", "keys", "values", "weights", "head_context"):
        assert torch.equal(getattr(plain.layers[0], name), getattr(ablated.layers[0], name)), name
    for name in ("inputs", "queries", "keys", "values"):
        assert torch.equal(getattr(plain.layers[1], name), getattr(ablated.layers[1], name)), name
    z, z0 = ablated.layers[1].head_context, plain.layers[1].head_context  # (H, N, dv)
    assert bool((z[2] == 0).all())
    assert torch.equal(z[[0, 1, 3]], z0[[0, 1, 3]])
    after = t.run_ids(ids, points=points)  # restored after the run
    assert torch.equal(after.layers[1].head_context, z0)


def test_run_ablate_reports_logprobs_and_loss(llama):
    doc = run_json("run", "--model", str(llama), TEXT, "--ablate", "1.2,0.1")
    model = reference_lm(llama)
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(str(llama))(TEXT)["input_ids"]
    positions = list(range(1, len(ids)))
    before = zeroed_loss(model, ids, [], positions)
    after = zeroed_loss(model, ids, [(1, 2), (0, 1)], positions)
    ablation = doc["ablation"]
    assert ablation["heads"] == [[0, 1], [1, 2]] and ablation["mode"] == "zero"
    assert max(abs(a - b) for a, b in zip(ablation["logprobs_before"], before)) < 1e-4
    assert max(abs(a - b) for a, b in zip(ablation["logprobs_after"], after)) < 1e-4
    assert abs(ablation["loss_after"] - (-sum(after) / len(after))) < 1e-4
    assert ablation["loss_after"] != ablation["loss_before"]
    assert all(row == [0.0] * len(row) for row in doc["weights"][2])  # layer 1, head 2: removed
    plain = run_json("run", "--model", str(llama), TEXT)  # the model is restored
    assert "ablation" not in plain and plain["weights"][2] != doc["weights"][2]


def test_ablate_modes_and_errors(llama):
    first = run_json("run", "--model", str(llama), TEXT, "--ablate", "1.0", "--ablate-mode", "first")
    assert all(row[0] == 1.0 and sum(row) == 1.0 for row in first["weights"][0])
    assert first["ablation"]["mode"] == "first"
    assert cli("run", "--model", str(llama), TEXT, "--ablate", "1.9").code == 2
    out = cli("run", "--model", str(llama), TEXT, "--ablate", "x")
    assert out.code == 2 and "--ablate" in out.stderr and "LAYER.HEAD" in out.stderr
    out = cli("run", TEXT, "--ablate", "0.0")
    assert out.code == 2 and "--ablate goes with --model" in out.stderr
    out = cli("run", "--model", str(llama), TEXT, "--ablate", "0.0", "--ablate-mode", "half")
    assert out.code == 2 and "--ablate-mode" in out.stderr


def test_heads_effect_equals_hooks(llama):
    doc = run_json("heads", "--model", str(llama), "--length", "6", "--effect")
    probe = doc["probe"]
    ids, start, length = probe["ids"], probe["start"], probe["length"]
    second = list(range(start + length, start + 2 * length))
    model = reference_lm(llama)
    base = -sum(zeroed_loss(model, ids, [], second)) / length
    assert len(doc["scores"]["effect"]) == 2 and len(doc["scores"]["effect"][0]) == 4
    for layer in range(2):
        for head in range(4):
            expected = -sum(zeroed_loss(model, ids, [(layer, head)], second)) / length - base
            assert abs(doc["scores"]["effect"][layer][head] - expected) < 1e-5, (layer, head)
    assert len(doc["first_token_norm"]) == 2 and all(0 <= v <= 1 for v in doc["first_token_norm"])
    out = cli("heads", "--model", str(llama), "--effect", "--text", TEXT)
    assert out.code == 2 and "second copy" in out.stderr


@needs_smollm2
def test_smollm2_effect_of_three_heads_equals_hooks(smol_cache):
    from attncli.core import detectors
    from attncli.models import Transformer
    from attncli.models.effects import head_effects
    from attncli.models.load import packaged_path

    t = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    ids, start = detectors.probe_ids(t.ordinary_ids(), length=12, seed=0, prefix=t.prefix_id())
    cells = [(0, 3), (14, 5), (29, 8)]
    effects, _ = head_effects(t, ids, start, 12, only=cells)
    model = reference_lm(packaged_path("smollm2"))
    second = list(range(start + 12, start + 24))
    base = -sum(zeroed_loss(model, ids, [], second)) / 12
    for layer, head in cells:
        expected = -sum(zeroed_loss(model, ids, [(layer, head)], second)) / 12 - base
        assert abs(float(effects[layer, head]) - expected) < 1e-5, (layer, head)


def hooked_attentions(model, ids, ablate):
    """Every layer's softmax weights (L, H, N, N) with each (layer, head) zeroed at o_proj's input."""
    with zeroed_heads(model, ablate):
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).double()  # (L, H, N, N)


def test_heads_ablate_scores_and_changes_equal_hooks(llama):
    doc = run_json("heads", "--model", str(llama), "--length", "6", "--ablate", "0.1")
    probe = doc["probe"]
    ids, start, length = probe["ids"], probe["start"], probe["length"]
    model = reference_lm(llama)
    a = hooked_attentions(model, ids, [(0, 1)])  # (L, H, N, N)
    n = len(ids)
    # layer 1 sees layer 0 without head 1: its scores from the paper-style definitions, written out here
    for head in range(4):
        first = sum(float(a[1, head, i, 0]) for i in range(1, n)) / (n - 1)
        previous = sum(float(a[1, head, i, i - 1]) for i in range(1, n)) / (n - 1)
        induction = sum(float(a[1, head, start + length + k, start + k + 1]) for k in range(length)) / length
        assert abs(doc["scores"]["first"][1][head] - first) < 1e-5
        assert abs(doc["scores"]["previous"][1][head] - previous) < 1e-5
        assert abs(doc["scores"]["induction"][1][head] - induction) < 1e-5
    plain = run_json("heads", "--model", str(llama), "--length", "6")
    assert doc["scores"]["first"][0][0] == plain["scores"]["first"][0][0]  # upstream of the ablation: unchanged
    assert doc["scores"]["first"][0][1] == 0.0  # the removed head's effective pattern is all 0
    assert doc["scores"]["first"][1] != plain["scores"]["first"][1] and "ablation" not in plain
    ablation = doc["ablation"]
    assert ablation["heads"] == [[0, 1]] and ablation["mode"] == "zero"
    positions = list(range(1, n))
    before, after = zeroed_loss(model, ids, [], positions), zeroed_loss(model, ids, [(0, 1)], positions)
    assert max(abs(x - y) for x, y in zip(ablation["logprobs_before"], before)) < 1e-4
    assert max(abs(x - y) for x, y in zip(ablation["logprobs_after"], after)) < 1e-4
    assert abs(ablation["loss_after"] + sum(after) / len(after)) < 1e-4
    second = list(range(start + length, start + 2 * length))
    expected = -sum(zeroed_loss(model, ids, [(0, 1)], second)) / length
    assert abs(ablation["second_copy_loss_after"] - expected) < 1e-4
    assert abs(ablation["second_copy_loss_before"] + sum(zeroed_loss(model, ids, [], second)) / length) < 1e-4


def test_heads_ablate_view_and_errors(llama):
    out = cli("heads", "--model", str(llama), "--length", "6", "--ablate", "1.2", "--ablate-mode", "first",
              "--score", "first")
    assert out.code == 0, out.stderr
    assert "ablated: L1 H2 (first: pattern sent to the first token)" in out.stdout
    assert "on the probe's second copy:" in out.stdout and "nats" in out.stdout
    out = cli("heads", "--model", str(llama), "--length", "6", "--ablate", "1.2", "--effect")
    assert out.code == 2 and "--effect" in out.stderr and "--ablate" in out.stderr and not out.stdout
    out = cli("heads", "--ablate", "0.0")
    assert out.code == 2 and "--ablate goes with --model" in out.stderr
    out = cli("heads", "--model", str(llama), "--ablate", "2.0")
    assert out.code == 2 and "--ablate" in out.stderr and "out of range" in out.stderr
    out = cli("heads", "--model", str(llama), "--ablate-mode", "mean")
    assert out.code == 2 and "--ablate-mode goes with --ablate" in out.stderr


def hooked_generate(model, ids, ablate, new_tokens):
    """transformers' own greedy generate with each (layer, head) zeroed at o_proj's input."""
    with zeroed_heads(model, ablate):
        out = model.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=model.config.eos_token_id)
    return out[0, len(ids):].tolist()


def check_generation(doc, model, ablate, new_tokens):
    prompt = doc["prompt"]["ids"]
    expected = hooked_generate(model, prompt, ablate, new_tokens)
    assert doc["generated"]["ids"] == expected
    ablation = doc["ablation"]
    ids = prompt + expected
    positions = list(range(len(prompt), len(ids)))
    intact, ablated = zeroed_loss(model, ids, [], positions), zeroed_loss(model, ids, ablate, positions)
    assert max(abs(a - b) for a, b in zip(ablation["logprobs_intact"], intact)) < 1e-4
    assert max(abs(a - b) for a, b in zip(ablation["logprobs_ablated"], ablated)) < 1e-4
    assert abs(ablation["loss_intact"] + sum(intact) / len(intact)) < 1e-4
    with torch.no_grad():
        top = model(input_ids=torch.tensor([ids])).logits[0, len(prompt) - 1:len(ids) - 1].argmax(-1).tolist()
    assert [t["id"] for t in ablation["intact_top"]] == top
    departs = [k for k, (a, b) in enumerate(zip(expected, top)) if a != b]
    assert ablation["first_departure"] == (departs[0] if departs else None)
    return expected


def test_generate_ablate_equals_transformers_generate_with_a_hook(llama):
    model = reference_lm(llama)
    written = {}
    for ablate in ([(1, 2)], [(0, 1), (1, 0)]):
        spec = ",".join(f"{layer}.{head}" for layer, head in ablate)
        doc = run_json("generate", "--model", str(llama), "the cat sat on", "-n", "6", "--ablate", spec)
        assert doc["ablation"]["heads"] == [list(c) for c in sorted(ablate)]
        assert doc["ablation"]["written_by"] == "ablated" and doc["ablation"]["scored_by"] == "intact"
        written[spec] = check_generation(doc, model, sorted(ablate), 6)
    plain = run_json("generate", "--model", str(llama), "the cat sat on", "-n", "6")
    assert "ablation" not in plain and plain["generated"]["ids"] == hooked_generate(model, plain["prompt"]["ids"], [], 6)
    out = cli("generate", "--model", str(llama), "the cat sat on", "-n", "6", "--ablate", "1.2")
    assert out.code == 0 and "ablated: L1 H2 (zero: output set to 0)" in out.stdout and "intact" in out.stdout
    out = cli("generate", "--model", str(llama), "the cat", "--ablate", "1.2", "--ablate-mode", "mean")
    assert out.code == 2 and "--ablate-mode" in out.stderr and "one new position" in out.stderr and not out.stdout
    out = cli("generate", "--model", str(llama), "the cat", "--ablate", "5.0")
    assert out.code == 2 and "--ablate" in out.stderr and "out of range" in out.stderr


@needs_smollm2
def test_smollm2_generate_ablate_one_head_equals_hooks(smol_cache):  # noqa: F811
    from attncli.models.load import packaged_path

    doc = run_json("generate", "--model", "smollm2", "The capital of France is", "-n", "8", "--ablate", "3.1")
    check_generation(doc, reference_lm(packaged_path("smollm2")), [(3, 1)], 8)
