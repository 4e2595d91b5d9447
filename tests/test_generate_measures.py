"""generate --measure: each step's row under norm, mixing and alti, against the papers on the full sequence.

The independent side: transformers itself (eager, float32) runs the whole sequence (prompt + the ids
the generation wrote) once with ``output_attentions=True``, and the measures are written out from the
paper's formulas with the model's own modules (``layers[l].self_attn.v_proj`` / ``o_proj``; GPT-2's
``c_attn`` / ``c_proj``) by tests/test_measures.py's ``paper_vectors``; step k's row must equal row
``prompt_len - 1 + k`` of that computation, over the keys it could see, to 1e-5.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from conftest import cli, run_json
from test_decoders import no_network  # noqa: F401 (fixture)
from test_generate import PROMPT, make_lm, make_seq2seq
from test_measures import close, paper_vectors
from test_models import needs_smollm2

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")

FAMILIES = ("llama", "qwen2", "gpt2")  # Llama with GQA (2 kv heads for 4), Qwen2 (GQA and a value bias), GPT-2
MEASURES = ("norm", "mixing", "alti")


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms-measures")
    return {family: make_lm(root / family, family, seed=2) for family in FAMILIES}


def paper_rows(folder, ids, layer, family):
    """The four matrices of one layer on the whole sequence (N x N each; mixing's ratio (N,)), from the papers."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True, use_cache=False)
        attentions, hidden = [a[0] for a in out.attentions], [h[0] for h in out.hidden_states]
        alpha, f, terms, resultant = paper_vectors(model, family, layer, attentions, hidden)
    heads, n, _ = alpha.shape
    contributions = alpha[:, :, :, None] * f[:, None, :, :]  # (H, N, N, d): alpha_ij^h f^h(x_j)
    mixing = terms.norm(dim=-1)  # (N, N): ||z_ij|| (pre-LN: T_i(x_j) = z_ij)
    c = (resultant.abs().sum(-1)[:, None] - (resultant[:, None, :] - terms).abs().sum(-1)).clamp_min(0)  # (N, N)
    return {"norm": contributions.norm(dim=-1), "level": contributions.sum(0).norm(dim=-1), "mixing": mixing,
            "ratio": (mixing.sum(-1) - mixing.diagonal()) / mixing.sum(-1), "alti": c / c.sum(-1, keepdim=True),
            "alpha": alpha}


def check_steps(model, folder, family, ids, layers, new_tokens):
    from attncli.models.generation import generate_ids

    results = {m: generate_ids(model, ids, max_new_tokens=new_tokens, layers=layers, measure=m, stop_ids=set())
               for m in MEASURES}
    written = [s.id for s in results["norm"].steps]
    assert all([s.id for s in r.steps] == written for r in results.values())  # a measure changes no token
    n = len(ids)
    for layer in layers:
        paper = paper_rows(folder, ids + written, layer, family)
        for k in range(new_tokens):
            i, keys = n - 1 + k, n + k  # the query that produced token k, and the keys it saw
            norm, mixing, alti = (results[m].steps[k] for m in MEASURES)
            close(norm.measure[layer].tolist(), paper["norm"][:, i, :keys])
            close(norm.level[layer].tolist(), paper["level"][i, :keys])
            close(norm.attention[layer].tolist(), paper["alpha"][:, i, :keys])  # the weights are still there
            close(mixing.measure[layer][0].tolist(), paper["mixing"][i, :keys])
            close(mixing.level[layer].tolist(), paper["mixing"][i, :keys])
            close([mixing.mixing_ratio[layer]], paper["ratio"][i:i + 1])
            close(alti.measure[layer][0].tolist(), paper["alti"][i, :keys])
            assert abs(float(alti.level[layer].sum()) - 1) < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_each_step_row_equals_the_papers_on_the_full_sequence(lms, family):
    from attncli.models import Transformer

    model = Transformer(str(lms[family]), device=torch.device("cpu"), dtype=torch.float32)
    check_steps(model, lms[family], family, model.encode(PROMPT), [0, 1], 4)


@needs_smollm2
def test_smollm2_steps_equal_the_papers(smol_cache):
    from attncli.models import Transformer
    from attncli.models.load import packaged_path

    model = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    check_steps(model, packaged_path("smollm2"), "llama", model.encode("The capital of France is"), [0, 29], 3)


def test_the_row_function_is_the_layers_row():
    """measure_row from the cache's values equals row i of measure_layer from x, W_V and b_V (random GQA layer)."""
    from attncli.core.measures.layer import LayerParts, measure_layer, measure_row

    gen = torch.Generator().manual_seed(0)
    n, d, heads, kv, dv = 7, 12, 4, 2, 3
    x, residual = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
    w_v, b_v = torch.randn(d, kv * dv, generator=gen), torch.randn(kv * dv, generator=gen)
    w_o, b_o = torch.randn(heads * dv, d, generator=gen), torch.randn(d, generator=gen)
    alpha = torch.softmax(torch.randn(heads, n, n, generator=gen).masked_fill(
        torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf")), dim=-1)  # (H, N, N) causal
    values = (x @ w_v + b_v).view(n, kv, dv).transpose(0, 1)  # (KV, N, dv) what a cache holds
    for name in ("norm", "mixing", "alti"):
        whole = measure_layer(name, LayerParts(x=x, alpha=alpha, w_v=w_v, b_v=b_v, w_o=w_o, b_o=b_o, kv_heads=kv,
                                               residual=residual))
        for i in range(n):
            row = measure_row(name, values[:, :i + 1], alpha[:, i:i + 1, :i + 1], w_o=w_o, b_o=b_o, position=i,
                              residual=residual[i:i + 1])
            assert torch.allclose(row.values[:, 0], whole.values[:, i, :i + 1], atol=1e-5, rtol=1e-5), (name, i)
            assert torch.allclose(row.level[0, 0], whole.level[0, i, :i + 1], atol=1e-5, rtol=1e-5), (name, i)
            if name == "mixing":
                assert torch.allclose(row.ratio, whole.ratio[i:i + 1], atol=1e-6)
    # the inner-product path a generation takes for norm and mixing: the same rows
    from attncli.core.measures import rows
    from attncli.core.measures.layer import transformed_values

    f = transformed_values(LayerParts(x=x, alpha=alpha, w_v=w_v, b_v=b_v, w_o=w_o, b_o=b_o, kv_heads=kv))  # (H, N, d)
    gram = rows.head_gram(f)  # (N, H, H)
    norm = measure_layer("norm", LayerParts(x=x, alpha=alpha, w_v=w_v, b_v=b_v, w_o=w_o, b_o=b_o, kv_heads=kv))
    mixing = measure_layer("mixing", LayerParts(x=x, alpha=alpha, w_v=w_v, b_v=b_v, w_o=w_o, b_o=b_o, kv_heads=kv,
                                                residual=residual))
    for i in range(n):
        per_head, level = rows.norm_row(alpha[:, i, :i + 1], gram[:i + 1])
        assert torch.allclose(per_head, norm.values[:, i, :i + 1], atol=1e-5, rtol=1e-5)
        assert torch.allclose(level, norm.level[0, i, :i + 1], atol=1e-5, rtol=1e-5)
        row, ratio = rows.mixing_row(level, alpha[:, i, i], f[:, i], residual[i])
        assert torch.allclose(row, mixing.values[0, i, :i + 1], atol=1e-5, rtol=1e-5)
        assert abs(ratio - float(mixing.ratio[i])) < 1e-6


def test_json_jsonl_and_view_carry_the_measure(lms):
    folder = str(lms["llama"])
    doc = run_json("generate", "--model", folder, PROMPT, "-n", "3", "--layer", "all", "--measure", "norm")
    assert doc["measure"] == "norm"
    n = len(doc["prompt"]["ids"])
    for k, step in enumerate(doc["steps"]):
        for entry in step["attention"]:
            assert entry["heads"] == [0, 1, 2, 3] and len(entry["weights"]) == 4 and "mean" not in entry
            assert all(len(row) == n + k for row in entry["weights"]) and len(entry["level"]) == n + k
    mixing = run_json("generate", "--model", folder, PROMPT, "-n", "2", "--measure", "mixing")
    entry = mixing["steps"][0]["attention"][0]
    assert set(entry) == {"layer", "level", "mixing_ratio"} and 0 <= entry["mixing_ratio"] <= 1
    out = cli("generate", "--model", folder, PROMPT, "-n", "3", "--measure", "alti", "--jsonl")
    assert out.code == 0, out
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["measure"] == "alti"
    assert all(abs(sum(r["attention"][0]["level"]) - 1) < 1e-5 for r in records[:-1])
    view = cli("generate", "--model", folder, PROMPT, "-n", "3", "--measure", "norm", env={"NO_COLOR": "1"})
    assert view.code == 0, view
    text = " ".join(view.stdout.split())
    assert "measure norm" in text and "norm ||alpha f(x)||: layer 1 of 2 (0-based), all heads together" in text
    assert "(denser: a larger ||alpha f(x)|| (a magnitude from 0 up, rows not normalized))" in text
    grid = cli("generate", "--model", folder, PROMPT, "-n", "3", "--measure", "mixing", "--view", "grid")
    assert grid.code == 0 and "every step · mixing (residual, LN)" in " ".join(grid.stdout.split()), grid


def test_measure_weights_changes_nothing(lms):
    folder = str(lms["gpt2"])
    args = ("generate", "--model", folder, PROMPT, "-n", "4")
    plain, weights = cli(*args, "--json"), cli(*args, "--json", "--measure", "weights")
    assert plain.code == weights.code == 0
    a, b = json.loads(plain.stdout), json.loads(weights.stdout)
    a.pop("seconds"), b.pop("seconds")
    assert a == b and a["measure"] == "weights"
    assert cli(*args).stdout == cli(*args, "--measure", "weights").stdout


@pytest.mark.parametrize("extra, where", [
    (("--measure", "value-zeroing"), "--measure value-zeroing"),
    (("--measure", "flow"), "--measure"),
    (("--measure", "mixing", "--head", "1"), "--head"),
    (("--measure", "alti", "--attention", "cross"), "--attention"),
])
def test_refused_combinations_one_line_exit_2(lms, extra, where):
    out = cli("generate", "--model", str(lms["llama"]), PROMPT, "-n", "2", *extra)
    assert out.code == 2 and out.stdout == "", out
    assert len(out.stderr.strip().splitlines()) <= 2 and where in out.stderr and "Traceback" not in out.stderr, out


def test_ablated_heads_have_their_effective_pattern(lms):
    """--ablate L.H with --measure norm: the removed head moves nothing (its row is 0); the others are measured."""
    doc = run_json("generate", "--model", str(lms["llama"]), PROMPT, "-n", "3", "--measure", "norm",
                   "--ablate", "1.2")
    for step in doc["steps"]:
        rows = step["attention"][0]["weights"]
        assert all(v == 0 for v in rows[2]) and any(v > 0 for v in rows[0])


def test_an_encoder_decoder_model_is_refused_with_a_measure(tmp_path):
    folder = make_seq2seq(tmp_path / "t5", "t5")
    out = cli("generate", "--model", str(folder), PROMPT, "-n", "2", "--measure", "norm")
    assert out.code == 2 and out.stdout == "" and "Traceback" not in out.stderr, out
    assert "--measure norm" in out.stderr and "encoder-decoder" in out.stderr, out
    assert cli("generate", "--model", str(folder), PROMPT, "-n", "2", "--measure", "weights").code == 0
