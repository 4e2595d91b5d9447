"""GPU results match CPU results within the dtype's tolerance. Skipped where no CUDA GPU is usable (as in CI)."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_close, run_json

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")

TOLERANCE = {"float64": 1e-12, "float32": 1e-5, "bfloat16": 3e-2, "float16": 5e-3}
CASES = [
    ["-c", "bank-projections", "stream bank mud"],
    ["-c", "gpt-style", "The cat sat on the mat because it was soft"],
    ["The cat sat on the mat because it was soft", "--heads", "2", "--projections", "random", "--positional", "rope"],
]


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("case", CASES)
def test_cuda_matches_cpu(case, dtype):
    cpu = run_json("run", *case, "--dtype", dtype, "--device", "cpu")
    gpu = run_json("run", *case, "--dtype", dtype, "--device", "cuda")
    assert gpu["config"]["device"].startswith("cuda")
    tol = TOLERANCE[dtype]
    assert_close(gpu["weights"], cpu["weights"], tol)
    assert_close(gpu["context"], cpu["context"], tol * 10)


def test_auto_picks_the_gpu():
    assert run_json("run", "the cat", "--device", "auto")["config"]["device"].startswith("cuda")


def test_missing_gpu_index_is_a_clear_error():
    from conftest import cli

    out = cli("run", "the cat", "--device", f"cuda:{torch.cuda.device_count()}", "--json")
    assert out.code == 2 and out.stdout == "" and "no CUDA device" in out.stderr
