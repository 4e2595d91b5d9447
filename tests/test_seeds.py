"""Every worked example of the seeds, reproduced through the CLI's JSON output.

Where a seed's code runs as written (000, 001, 002 and 004), it is run here and
compared with attncli; the tables seed 004 prints are also checked to the three
decimals it prints.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import SEEDS, assert_close, run_json


def seed_text(name: str) -> str:
    path = next(SEEDS.glob(f"{name}_*.txt"), None)
    if path is None:
        pytest.skip(f"seed {name} not found beside the repository")
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- 000


def test_seed_000_she_ate_the_apple_matches_the_seed_code():
    # The seed's code, as written (from the page: x, x @ x.T, softmax, weights @ x).
    assert "scores = x @ x.T" in seed_text("000")
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    scores = x @ x.T
    weights = F.softmax(scores, dim=-1)
    output = weights @ x

    doc = run_json("run", "She ate the apple", "--no-scale")
    assert doc["tokens"] == ["She", "ate", "the", "apple"]
    assert doc["oov"] == [False] * 4
    assert_close(doc["embeddings"], x.tolist(), 0)
    assert_close(doc["scores"][0], scores.tolist(), 1e-6)
    assert_close(doc["weights"][0], weights.tolist(), 1e-6)
    assert_close(doc["context"], output.tolist(), 1e-6)
    # The bundled config gives the same.
    assert run_json("run", "-c", "minimal", "She ate the apple")["context"] == doc["context"]


def test_seed_000_period_is_dropped():
    doc = run_json("run", "She ate the apple.", "--no-scale")
    assert doc["tokens"] == ["She", "ate", "the", "apple"]


# --------------------------------------------------------------------------- 001


def seed_001_self_attention(query, key, value):
    scores = torch.matmul(query, key.transpose(-2, -1)) / (query.size(-1) ** 0.5)
    weights = F.softmax(scores, dim=-1)
    output = torch.matmul(weights, value)
    return output, weights


def test_seed_001_sample_model_tensors_config():
    assert "Sample Model" in seed_text("001")
    query = torch.tensor([[[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]]])
    key = query.clone()
    value = torch.tensor([[[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]]])
    output, weights = seed_001_self_attention(query, key, value)

    doc = run_json("run", "-c", "sample-model")
    assert doc["embeddings"] is None
    assert doc["tokens"] == ["0", "1", "2"]
    assert_close(doc["weights"], weights.tolist(), 1e-6)
    assert_close(doc["context"], output[0].tolist(), 1e-6)
    # float64 to the last digit
    doc64 = run_json("run", "-c", "sample-model", "--dtype", "float64")
    o64, w64 = seed_001_self_attention(query.double(), key.double(), value.double())
    assert_close(doc64["weights"], w64.tolist(), 1e-15)
    assert_close(doc64["context"], o64[0].tolist(), 1e-15)


def test_seed_001_single_vector_example():
    query = torch.tensor([[1.0, 0.0, 1.0]])
    output, weights = seed_001_self_attention(query, query, torch.tensor([[0.0, 1.0, 0.0]]))
    doc = run_json("run", "-c", "single-vector")
    assert doc["tokens"] == ["x"]
    assert doc["weights"] == [[[1.0]]]
    assert_close(doc["context"], output.tolist(), 0)


# --------------------------------------------------------------------------- 002


def test_seed_002_numpy_example_with_fixed_matrices():
    np = pytest.importorskip("numpy")
    assert "np.random.rand(3, 3)" in seed_text("002")
    import yaml

    from attncli.config import bundled_dir

    cfg = yaml.safe_load((bundled_dir() / "numpy-example.yaml").read_text())
    X = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    Wq = np.array(cfg["attention"]["projections"]["query"])
    Wk = np.array(cfg["attention"]["projections"]["key"])
    Wv = np.array(cfg["attention"]["projections"]["value"])
    # The seed's code as written, with its random draws replaced by the config's.
    Q = np.dot(X, Wq)
    K = np.dot(X, Wk)
    V = np.dot(X, Wv)
    scores = np.dot(Q, K.T)
    weights = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    output = np.dot(weights, V)

    doc = run_json("run", "-c", "numpy-example", "x1 x2 x3", "--dtype", "float64")
    assert_close(doc["scores"][0], scores.tolist(), 1e-12)
    assert_close(doc["weights"][0], weights.tolist(), 1e-12)
    assert_close(doc["context"], output.tolist(), 1e-12)


# --------------------------------------------------------------------------- 004

RIVER, FINANCE = "stream bank mud", "money bank loan"


def parse_printed(text: str, after: str) -> list[list[float]]:
    """The first tensor([[...]]) the seed prints after the line containing ``after``."""
    start = text.index(after)
    match = re.search(r"tensor\(\[(\[.*?\])\]", text[start:], re.S)
    rows = re.findall(r"\[([^\[\]]+)\]", match.group(1) + "]")
    return [[float(v) for v in row.split(",")] for row in rows]


def rounded3(values):
    return [[round(v, 3) for v in row] for row in values]


@pytest.mark.parametrize(
    "config, marker, text",
    [
        ("bank", "river_weights @ river_embeddings", RIVER),
        ("bank", "finance_weights @ finance_embeddings", FINANCE),
        ("bank-projections", "river_weights @ river_values", RIVER),
        ("bank-projections", "finance_weights @ finance_values", FINANCE),
        ("bank-random", "self_attention(river_embeddings)", RIVER),
        ("bank-random", "self_attention(finance_embeddings)", FINANCE),
    ],
)
def test_seed_004_printed_context_tables(config, marker, text):
    expected = parse_printed(seed_text("004"), marker)
    doc = run_json("run", "-c", config, text)
    assert rounded3(doc["context"]) == expected


@pytest.mark.parametrize("marker, text", [("river_embeddings @ river_embeddings.T", RIVER),
                                          ("finance_embeddings @ finance_embeddings.T", FINANCE)])
def test_seed_004_raw_dot_products(marker, text):
    expected = parse_printed(seed_text("004"), marker)
    doc = run_json("run", "-c", "bank", text)
    assert rounded3(doc["scores"][0]) == expected


@pytest.mark.parametrize("marker, text", [("embed(river_tokens) @ W", RIVER), ("embed(finance_tokens) @ W", FINANCE)])
def test_seed_004_linear_layer_outputs(marker, text):
    expected = parse_printed(seed_text("004"), marker)
    doc = run_json("run", "-c", "bank-linear", text, "--include", "qkv")
    assert rounded3(doc["values"][0]) == expected


def test_seed_004_embeddings_and_random_layer_as_written():
    vocab = {
        "stream": torch.tensor([1.2, 0.0, 0.0, 0.3]), "mud": torch.tensor([0.9, 0.0, 0.0, 0.9]),
        "money": torch.tensor([0.0, 1.4, 0.0, 0.1]), "loan": torch.tensor([0.0, 1.1, 0.0, 0.6]),
        "bank": torch.tensor([0.8, 0.8, 0.2, 0.0]),
    }

    class SelfAttention(nn.Module):  # the seed's class, as written
        def __init__(self, d_in, d_out):
            super().__init__()
            self.W_query = nn.Parameter(torch.rand(d_in, d_out))
            self.W_key = nn.Parameter(torch.rand(d_in, d_out))
            self.W_value = nn.Parameter(torch.rand(d_in, d_out))

        def forward(self, x):
            queries = x @ self.W_query
            keys = x @ self.W_key
            values = x @ self.W_value
            attn_scores = queries @ keys.T
            attn_weights = torch.softmax(attn_scores / math.sqrt(keys.shape[-1]), dim=-1)
            return attn_weights @ values

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        layer = SelfAttention(d_in=4, d_out=3)
    finally:
        torch.random.set_rng_state(state)
    for text in (RIVER, FINANCE):
        x = torch.stack([vocab[t] for t in text.split()])
        doc = run_json("run", "-c", "bank-random", text)
        assert_close(doc["embeddings"], x.tolist(), 1e-7)
        with torch.no_grad():
            assert_close(doc["context"], layer(x).tolist(), 1e-6)
        # The toy vocabulary carries the same vectors for these words.
        assert_close(run_json("run", text)["embeddings"], x.tolist(), 1e-7)
