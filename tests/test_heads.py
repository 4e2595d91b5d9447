"""attncli heads: the detectors on hand-built patterns whose answers are known, on tiny random models
against a direct computation from output_attentions, and the command's output and errors."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from attncli.core import detectors
from conftest import cli, run_json

HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None


def stack(*heads):
    """Heads given as (N, N) lists -> (1, H, N, N)."""
    return torch.tensor([heads], dtype=torch.float64)


def previous_head(n):
    w = torch.zeros(n, n, dtype=torch.float64)
    w[0, 0] = 1
    for i in range(1, n):
        w[i, i - 1] = 1
    return w.tolist()


def causal_uniform(n):
    return [[1 / (i + 1) if j <= i else 0.0 for j in range(n)] for i in range(n)]


def first_head(n):
    return [[1.0 if j == 0 else 0.0 for j in range(n)] for _ in range(n)]


def test_exact_previous_token_head():
    scores = detectors.score_all(stack(previous_head(6)), causal=True)
    assert scores["previous"].tolist() == [[1.0]]
    assert scores["first"].item() == pytest.approx(1 / 5)  # only row 1's previous is position 0
    assert scores["entropy"].item() == 0.0
    assert scores["distance"].item() == pytest.approx(sum(1 / i for i in range(1, 6)) / 5)


def test_uniform_heads_have_entropy_one():
    n = 7
    causal = detectors.score_all(stack(causal_uniform(n)), causal=True)
    assert causal["entropy"].item() == pytest.approx(1.0, abs=1e-12)
    bidirectional = detectors.entropy(stack([[1 / n] * n] * n), causal=False)
    assert bidirectional.item() == pytest.approx(1.0, abs=1e-12)
    # the causal uniform head's distance: row i spreads over 0..i, mean gap i/2, divided by i
    assert causal["distance"].item() == pytest.approx(0.5)


def test_sink_and_self_heads():
    n = 5
    sink = detectors.score_all(stack(first_head(n)), causal=True)
    assert sink["first"].item() == 1.0 and sink["distance"].item() == 1.0 and sink["entropy"].item() == 0.0
    identity = torch.eye(n, dtype=torch.float64).tolist()
    self_head = detectors.score_all(stack(identity), causal=False)
    assert self_head["previous"].item() == 0.0 and self_head["distance"].item() == 0.0
    assert self_head["first"].item() == 0.0


def probe_pattern(start, length, shift):
    """A causal head that attends, in the second copy, ``shift`` past the first occurrence."""
    n = start + 2 * length
    w = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        w[i, 0] = 1.0
    for k in range(length):
        w[start + length + k].zero_()
        w[start + length + k, start + k + shift] = 1.0
    return w.tolist()


def test_induction_and_duplicate_heads():
    start, length = 1, 8
    weights = stack(probe_pattern(start, length, 1), probe_pattern(start, length, 0), first_head(start + 2 * length))
    scores = detectors.score_all(weights, causal=True, probe=(start, length))
    assert scores["induction"].tolist() == [[1.0, 0.0, 0.0]]
    assert scores["duplicate"].tolist() == [[0.0, 1.0, 0.0]]
    assert scores["first"][0, 2].item() == 1.0
    assert detectors.top_heads(scores["induction"], 2) == [(0, 0, 1.0), (0, 1, 0.0)]


def test_scores_are_in_the_unit_interval_for_random_heads():
    torch.manual_seed(0)
    n = 9
    logits = torch.randn(3, 4, n, n, dtype=torch.float64)
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    weights = logits.masked_fill(mask, float("-inf")).softmax(-1)  # (3, 4, N, N)
    for value in detectors.score_all(weights, causal=True, probe=(1, 4)).values():
        assert value.shape == (3, 4) and bool(((value >= 0) & (value <= 1)).all())


def test_probe_is_seeded_distinct_and_prefixed():
    ids, start = detectors.probe_ids(list(range(100, 200)), length=10, seed=3, prefix=1)
    again, _ = detectors.probe_ids(list(range(100, 200)), length=10, seed=3, prefix=1)
    other, _ = detectors.probe_ids(list(range(100, 200)), length=10, seed=4, prefix=1)
    assert ids == again and ids != other
    assert start == 1 and ids[0] == 1 and len(ids) == 21 and ids[1:11] == ids[11:]
    assert len(set(ids[1:11])) == 10 and all(100 <= i < 200 for i in ids[1:])


def test_toy_heads_json_and_view():
    doc = run_json("heads")
    assert doc["layers"] == 1 and doc["heads"] == 1 and doc["model"] is None
    assert list(doc["scores"]) == list(detectors.SCORES)
    assert all(len(v) == 1 and len(v[0]) == 1 for v in doc["scores"].values())
    assert doc["probe"]["length"] == 50 and doc["probe"]["seed"] == 0 and len(doc["tokens"]) == 100
    assert doc["tokens"][:50] == doc["tokens"][50:]
    gpt = run_json("heads", "-c", "gpt-style", "--length", "12", "--seed", "5", "--top", "2")
    assert gpt["causal"] is True and gpt["heads"] == 2 and gpt["thresholds"] == {"induction": 0.2}
    best = max(v for row in gpt["scores"]["induction"] for v in row)
    assert best < 0.2 and gpt["top"]["induction"] == []  # toy attention has no induction head: none ranked
    view = cli("heads", "-c", "gpt-style", "--length", "12")
    assert view.code == 0 and "induction: second copy" in view.stdout and "top heads" in view.stdout
    assert "no induction head: no score reaches 0.20" in " ".join(view.stdout.split())
    one = run_json("heads", "--score", "entropy")
    assert list(one["scores"]) == ["entropy"] and list(one["top"]) == ["entropy"]


def test_toy_heads_on_a_text_match_run_weights():
    text = "the cat sat on the mat"
    doc = run_json("heads", "-c", "gpt-style", "--text", text)
    assert doc["probe"] is None and set(doc["scores"]) == set(detectors.TEXT_SCORES)
    weights = torch.tensor(run_json("run", "-c", "gpt-style", text)["weights"], dtype=torch.float64)[None]
    expected = detectors.previous(weights).tolist()
    assert doc["scores"]["previous"][0] == pytest.approx(expected[0], abs=1e-7)
    n = weights.shape[-1]  # a direct computation of previous, head 0
    assert doc["scores"]["previous"][0][0] == pytest.approx(sum(weights[0, 0, i, i - 1].item()
                                                                for i in range(1, n)) / (n - 1), abs=1e-7)


@pytest.mark.parametrize("args, message", [
    (["--score", "nope"], "--score: unknown score 'nope'"),
    (["--score", "induction", "--text", "the cat sat"], "'induction' needs the repeated-token probe"),
    (["--length", "1"], "--length: must be between 2 and 4096"),
    (["--length", "4000"], "--length: the vocabulary has only"),
    (["--top", "0"], "--top: must be at least 1"),
    (["--text", "cat"], "head scores need at least 2 tokens"),
    (["--text", "   "], "text holds only whitespace"),
    (["--text", "a b", "--file", "x"], "give --text or --file, not both"),
    (["--file", "no/such/file.txt", "--join"], "--file no/such/file.txt: no such file"),
    (["--bos"], "--bos/--no-bos goes with --model"),
    (["-c", "sample-model"], "heads needs text"),
])
def test_heads_errors(args, message):
    out = cli("heads", *args, "--json")
    assert out.code == 2 and out.stdout == "" and message in out.stderr, out


def test_heads_reads_a_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the cat sat on the mat\n", encoding="utf-8")
    doc = run_json("heads", "--file", str(path), "--join")
    assert doc["tokens"] == ["the", "cat", "sat", "on", "the", "mat"]
    path.write_bytes(b"the cat \xff sat")
    out = cli("heads", "--file", str(path), "--join")
    assert out.code == 2 and "not a UTF-8 text file (byte 8)" in out.stderr


@pytest.mark.skipif(not HAVE_TRANSFORMERS, reason="transformers not installed")
@pytest.mark.parametrize("family", ["llama", "bert"])
def test_model_heads_against_output_attentions(tmp_path, family):
    """A tiny random model: every score recomputed with plain loops from transformers' own attentions."""
    from test_decoders import make_model
    from transformers import AutoModel

    folder = make_model(tmp_path / family, family, bos=family == "llama")
    doc = run_json("heads", "--model", str(folder), "--length", "6", "--seed", "2")
    probe = doc["probe"]
    ids, start, length = probe["ids"], probe["start"], probe["length"]
    assert start == 1 and probe["prefix"] == "<s>"
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    with torch.no_grad():
        attentions = model(input_ids=torch.tensor([ids]), output_attentions=True).attentions
    for layer, a in enumerate(attentions):
        for head in range(a.shape[1]):
            expected = expected_scores(a[0, head], family == "llama", (start, length))
            for name, value in expected.items():
                assert doc["scores"][name][layer][head] == pytest.approx(value, abs=1e-6), (name, layer, head)


def expected_scores(w, causal: bool, probe: tuple[int, int] | None = None) -> dict:
    """docs/heads.md's formulas with plain loops over one head's (N, N) map (probe: (start, length))."""
    w = w.double()
    n = w.shape[-1]
    expected = {
        "previous": sum(w[i, i - 1] for i in range(1, n)) / (n - 1),
        "first": sum(w[i, 0] for i in range(1, n)) / (n - 1),
    }
    if probe is not None:
        start, length = probe
        expected["induction"] = sum(w[start + length + k, start + k + 1] for k in range(length)) / length
        expected["duplicate"] = sum(w[start + length + k, start + k] for k in range(length)) / length
    rows = [i for i in range(n) if (i + 1 if causal else n) > 1]
    expected["entropy"] = sum(-sum(p * math.log(p) for p in w[i].tolist() if p > 0)
                              / math.log(i + 1 if causal else n) for i in rows) / len(rows)
    reach = [i if causal else max(i, n - 1 - i) for i in range(n)]
    expected["distance"] = sum(sum(w[i, j].item() * abs(i - j) for j in range(n)) / reach[i]
                               for i in range(n) if reach[i] > 0) / sum(1 for r in reach if r > 0)
    return {name: min(1.0, max(0.0, float(value))) for name, value in expected.items()}


def test_heads_help_and_models_list_import_no_torch():
    import subprocess
    import sys

    for argv in (["heads", "--help"], ["models", "list"], ["models", "--help"]):
        script = ("import sys; from attncli.cli import main; sys.argv = %r\n"
                  "try:\n    main()\nexcept SystemExit:\n    pass\n"
                  "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\nprint('ok')"
                  ) % (["attncli", *argv],)
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (argv, result.stderr)
