"""One dtype table: canonical names and aliases, the same for options and config keys."""

from __future__ import annotations

import pytest

from attncli.core.dtypes import DTYPES, canonical_dtype, lookup_dtype
from attncli.errors import AttnError
from conftest import cli


@pytest.mark.parametrize("alias, name", [
    ("float32", "float32"), ("fp32", "float32"), ("float", "float32"), ("single", "float32"), ("F32", "float32"),
    ("fp64", "float64"), ("double", "float64"), ("fp16", "float16"), ("half", "float16"),
    ("bf16", "bfloat16"), (" BFloat16 ", "bfloat16"), ("torch.float16", "float16"),
])
def test_aliases(alias, name):
    assert canonical_dtype(alias, "--dtype") == name
    assert lookup_dtype(alias) == name


@pytest.mark.parametrize("bad", ["float8", "int8", "", "fp8", "bfloat32"])
def test_unknown_names_are_usage_errors(bad):
    with pytest.raises(AttnError) as info:
        canonical_dtype(bad, "--dtype")
    error = info.value
    assert int(error.code) == 2 and error.where == "--dtype"
    assert error.message.endswith("expected one of " + ", ".join(DTYPES))


def test_message_and_suggestion():
    with pytest.raises(AttnError) as info:
        canonical_dtype("float8", "--dtype")
    assert info.value.line() == ("--dtype: unknown value 'float8'; expected one of float32, float64, float16, "
                                 "bfloat16 (did you mean 'float64'?)")


def test_no_torch_import():
    import subprocess
    import sys

    code = "import sys, attncli.core.dtypes; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("alias, name", [("half", "float16"), ("bf16", "bfloat16"), ("double", "float64")])
def test_config_key_and_option_accept_the_same_aliases(tmp_config, alias, name):
    path = tmp_config(f"dtype: {alias}\n")
    assert cli("config", "validate", path, "--json").json["config"]["dtype"] == name
    doc = cli("run", "the cat", "--dtype", alias, "--json").json
    assert doc["config"]["dtype"] == name


def test_config_key_error_names_the_key(tmp_config):
    path = tmp_config("dtype: float8\n")
    out = cli("config", "validate", path)
    assert out.code == 2
    assert "config.yaml:1:1: dtype: unknown value 'float8'" in out.stderr
