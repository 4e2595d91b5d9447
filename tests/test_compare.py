"""attncli compare, checked against an independent computation (plain Python math on the seed's vectors)."""

from __future__ import annotations

import math

from conftest import cli, run_json

VOCAB = {
    "stream": [1.2, 0.0, 0.0, 0.3], "mud": [0.9, 0.0, 0.0, 0.9], "money": [0.0, 1.4, 0.0, 0.1],
    "loan": [0.0, 1.1, 0.0, 0.6], "bank": [0.8, 0.8, 0.2, 0.0],
}


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def raw_attention(tokens):
    """The seed's raw dot-product attention, by hand: rows of weights and outputs."""
    x = [VOCAB[t] for t in tokens]
    weights = [softmax([sum(a * b for a, b in zip(q, k)) for k in x]) for q in x]
    outputs = [[sum(w * v[d] for w, v in zip(row, x)) for d in range(4)] for row in weights]
    return weights, outputs


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_bank_in_two_contexts_matches_a_hand_computation():
    doc = run_json("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank", "--dtype", "float64")
    assert len(doc["contexts"]) == 2 and len(doc["focus"]) == 1
    entry = doc["focus"][0]
    assert entry["token"] == "bank" and entry["indices"] == [1, 1]
    w1, o1 = raw_attention(["stream", "bank", "mud"])
    w2, o2 = raw_attention(["money", "bank", "loan"])
    for got, want in zip(entry["weights"], ([w1[1]], [w2[1]])):
        assert all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(got[0], want[0]))
    for got, want in zip(entry["context"], (o1[1], o2[1])):
        assert all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(got, want))
    assert math.isclose(entry["cosine"][0][1], cos(o1[1], o2[1]), abs_tol=1e-12)
    assert math.isclose(entry["cosine"][0][0], 1.0, abs_tol=1e-12)
    assert math.isclose(entry["l2"][0][1], math.dist(o1[1], o2[1]), abs_tol=1e-12)
    assert entry["l2"][1][1] == 0.0
    assert entry["input_cosine"][0][1] == 1.0  # the same input embedding
    assert len(entry["head_cosine"]) == 1 and math.isclose(entry["head_cosine"][0][0][1], entry["cosine"][0][1])
    # contexts are exactly run documents
    single = run_json("run", "-c", "bank", "stream bank mud", "--dtype", "float64")
    assert doc["contexts"][0] == single


def test_terminal_summary_line():
    out = cli("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank")
    assert out.code == 0
    assert "bank: cosine 0.623 between context 1 and 2 (inputs identical: 1.000)" in out.stdout
    assert "stream" in out.stdout and "money" in out.stdout and "0.949" in out.stdout


def test_three_contexts_and_heads():
    doc = run_json("compare", "the cat sat", "a cat ran", "my cat slept", "--focus", "cat", "--heads", "2",
                   "--projections", "random")
    entry = doc["focus"][0]
    assert len(entry["cosine"]) == 3 and all(len(r) == 3 for r in entry["cosine"])
    assert len(entry["weights"]) == 3 and len(entry["weights"][0]) == 2 and len(entry["weights"][0][0]) == 3
    assert len(entry["head_cosine"]) == 2 and len(entry["head_cosine"][0]) == 3
    for i in range(3):
        for j in range(3):
            assert math.isclose(entry["cosine"][i][j], entry["cosine"][j][i], abs_tol=1e-12)
    out = cli("compare", "the cat sat", "a cat ran", "my cat slept", "--focus", "cat", "--heads", "2")
    assert "head 1 cos" in out.stdout and "1 vs 3" in out.stdout


def test_without_focus_every_shared_token_is_compared():
    doc = run_json("compare", "the cat sat on the mat", "the dog sat on a rug")
    assert [e["token"] for e in doc["focus"]] == ["the", "sat", "on"]


def test_focus_occurrence_and_case():
    doc = run_json("compare", "The cat saw the dog", "the dog saw The cat", "--focus", "THE@2")
    assert doc["focus"][0]["indices"] == [3, 3]


def test_zero_vector_cosine_is_null(tmp_config):
    path = tmp_config("embeddings:\n  z: [0.0, 0.0]\n  a: [0.0, 0.0]\n  b: [0.0, 0.0]\n")
    doc = run_json("compare", "z a", "z b", "-c", path, "--focus", "z")
    assert doc["focus"][0]["cosine"][0][1] is None and doc["focus"][0]["input_cosine"][0][1] is None
    out = cli("compare", "z a", "z b", "-c", path, "--focus", "z")
    assert out.code == 0 and "n/a" in out.stdout


def test_compare_refuses_tensors_configs():
    out = cli("compare", "a b", "a c", "-c", "sample-model", "--json")
    assert out.code == 2 and out.stdout == "" and "gives tensors directly" in out.stderr


def test_compare_save_svg(tmp_path):
    target = tmp_path / "bank.svg"
    out = cli("compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank", "--save", str(target))
    assert out.code == 0 and target.read_text().lstrip().startswith("<svg")
