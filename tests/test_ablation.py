"""--ablate and heads --effect: checked against hooks written here, on the model's own modules."""

from __future__ import annotations

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


def zeroed_loss(model, ids, ablate, positions):
    """-mean log p of ids[positions] with each (layer, head) zeroed at o_proj's input (its z)."""
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
            logits = model(input_ids=torch.tensor([ids])).logits[0]
    finally:
        for h in hooks:
            h.remove()
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
