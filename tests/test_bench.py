"""attncli bench: the table and JSON of naive attention against SDPA (small sizes; timings are not checked)."""

from __future__ import annotations

import torch

from attncli.core import bench
from conftest import cli, run_json


def test_bench_json_has_every_length_and_method():
    doc = run_json("bench", "--lengths", "16,32", "--heads", "2", "--width", "8", "--repeat", "1")
    assert [r["length"] for r in doc["results"]] == [16, 32]
    for r in doc["results"]:
        for method in ("naive", "sdpa"):
            row = r[method]
            assert row["status"] == "ok" and row["seconds"] > 0 and row["tflops"] > 0 and row["peak_mb"] > 0
        assert r["speedup"] > 0
    assert doc["device"] == "cpu" and doc["dtype"] == "float32"


def test_lengths_that_do_not_fit_are_reported_not_run():
    doc = run_json("bench", "--lengths", "8,50000", "--memory-mb", "64", "--repeat", "1")
    big = doc["results"][1]
    assert big["naive"]["status"] == "does not fit" and big["naive"]["seconds"] is None
    assert big["speedup"] is None
    out = cli("bench", "--lengths", "8,50000", "--memory-mb", "64", "--repeat", "1")
    assert out.code == 0 and "does not fit" in out.stdout


def test_naive_and_sdpa_agree():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.rand(1, 2, 10, 4, generator=g, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(bench.naive_attention(q, k, v), bench.sdpa_attention(q, k, v))


def test_bench_errors():
    assert "--lengths: expected positive whole numbers" in cli("bench", "--lengths", "10,x").stderr
    assert "--heads: must be at least 1" in cli("bench", "--heads", "0").stderr
    assert "--dtype: unknown value" in cli("bench", "--dtype", "int8").stderr
    assert cli("bench", "--device", "tpu").code == 2
