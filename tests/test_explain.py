"""attncli explain: the steps, their captions and numbers, checked against a recomputation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from conftest import assert_close, cli, run_json


def steps_by_name(doc):
    return {step["name"]: step for step in doc["steps"]}


def test_explain_steps_of_the_minimal_example():
    doc = run_json("explain", "She ate the apple", "--no-scale")
    names = [s["name"] for s in doc["steps"]]
    assert names == ["embeddings", "queries", "keys", "values", "scores", "scaled_scores", "weights",
                     "weighted_values", "context"]
    steps = steps_by_name(doc)
    for step in doc["steps"]:
        assert step["caption"].strip() and step["shape"]
    x = torch.tensor(steps["embeddings"]["tensor"], dtype=torch.float64)
    assert steps["embeddings"]["shape"] == [4, 4]
    assert steps["queries"]["shape"] == [1, 4, 4] and steps["queries"]["projection"] is None
    assert_close(steps["scores"]["tensor"][0], (x @ x.T).tolist(), 1e-6)
    assert steps["scaled_scores"]["tensor"] == steps["scores"]["tensor"]  # no scaling
    assert_close(steps["weights"]["tensor"][0], F.softmax(x @ x.T, -1).tolist(), 1e-6)
    run = run_json("run", "She ate the apple", "--no-scale")
    assert steps["scaled_scores"]["tensor"] == run["scores"]
    assert steps["context"]["tensor"] == run["context"]


def test_explain_with_every_optional_step():
    doc = run_json("explain", "the cat sat on", "-c", "gpt-style")
    assert "positional" not in [s["name"] for s in doc["steps"]]  # rope rotates Q and K: no added step
    doc = run_json("explain", "the cat sat on", "--positional", "sinusoidal", "-c", "gpt-style",
                   "--dtype", "float64")
    steps = steps_by_name(doc)
    assert [s["name"] for s in doc["steps"]] == [
        "embeddings", "positional", "queries", "keys", "values", "scores", "scaled_scores", "weights",
        "weighted_values", "concat", "residual", "layer_norm", "context"]
    assert_close(steps["concat"]["tensor"], torch.tensor(steps["weighted_values"]["tensor"], dtype=torch.float64).transpose(0, 1)
                 .reshape(4, 4).tolist(), 1e-12)
    x = torch.tensor(steps["positional"]["tensor"], dtype=torch.float64)
    emb = torch.tensor(steps["embeddings"]["tensor"], dtype=torch.float64)
    pe = torch.tensor(steps["positional"]["encoding"], dtype=torch.float64)
    assert_close(x.tolist(), (emb + pe).tolist(), 1e-12)
    wq = torch.tensor(steps["queries"]["projection"], dtype=torch.float64)
    q = (x @ wq).view(4, 2, 2).transpose(0, 1)
    assert_close(steps["queries"]["tensor"], q.tolist(), 1e-12)
    assert steps["scaled_scores"]["tensor"][0][0][1] is None  # causal mask
    heads_out = torch.tensor(steps["weighted_values"]["tensor"], dtype=torch.float64)
    concat = heads_out.transpose(0, 1).reshape(4, 4)
    assert_close(steps["residual"]["tensor"], (concat + x).tolist(), 1e-12)
    assert_close(steps["layer_norm"]["tensor"], F.layer_norm(concat + x, (4,), eps=1e-5).tolist(), 1e-12)
    assert steps["context"]["tensor"] == steps["layer_norm"]["tensor"]
    assert "masked" in steps["scaled_scores"]["caption"]


def test_explain_output_projection_step(tmp_config):
    path = tmp_config("embeddings:\n  a: [1, 0]\n  b: [0, 1]\nattention:\n  projections:\n"
                      "    query: [[1, 0], [0, 1]]\n    key: [[1, 0], [0, 1]]\n    value: [[1, 0], [0, 1]]\n"
                      "    output: [[2, 0], [0, 3]]\n")
    steps = steps_by_name(run_json("explain", "a b", "-c", path))
    assert steps["output"]["projection"] == [[2.0, 0.0], [0.0, 3.0]]
    v = torch.tensor(steps["weighted_values"]["tensor"][0])
    assert_close(steps["output"]["tensor"], (v @ torch.tensor([[2.0, 0.0], [0.0, 3.0]])).tolist(), 1e-6)


def test_explain_one_step_and_unknown_steps():
    doc = run_json("explain", "-c", "bank-linear", "stream bank mud", "--step", "values", "-p", "3")
    assert len(doc["steps"]) == 1 and doc["steps"][0]["name"] == "values"
    assert doc["steps"][0]["tensor"][0] == [[1.2, 0.33, 0.24], [0.98, 1.14, 0.2], [0.9, 0.45, 0.72]]
    out = cli("explain", "a b", "--step", "weigths", "--json")
    assert out.code == 2 and out.stdout == "" and "did you mean 'weights'?" in out.stderr
    out = cli("explain", "a b", "--step", "residual")
    assert out.code == 2 and "does not apply" in out.stderr


def test_explain_terminal_view_has_captions_and_tables():
    out = cli("explain", "She ate the apple", "--no-scale")
    assert out.code == 0
    for text in ("1. embeddings", "Softmax over each row", "9. context", "0.53*", "projection" if False else "Q = X"):
        assert text in out.stdout


def test_explain_tensors_config_and_save(tmp_path):
    target = tmp_path / "explain.html"
    out = cli("explain", "-c", "sample-model", "--save", str(target))
    assert out.code == 0 and "given directly" in out.stdout
    assert "<html" in target.read_text().lower()
