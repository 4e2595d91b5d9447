"""Hostile configs and options (issue 13, config side): each defect tested as a class, several inputs each.

1. derived numbers (the divisor) checked finite and in range when the settings are resolved;
2. nesting deeper than MAX_DEPTH refused before PyYAML's recursive composer sees it;
3. reads bounded to the size limit for files, devices and pipes;
4. every tensor the settings imply sized against the budget before anything is allocated;
17. non-plain YAML tags refused on every node.
Memory caps are checked with ``prlimit --as=2000000000`` in subprocesses where that is cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from attncli.config import (
    MAX_CONFIG_BYTES, MAX_DEPTH, AttentionSpec, load_settings, parse_yaml, read_limited, tensor_bytes,
)
from attncli.errors import AttnError
from conftest import cli

REPO = Path(__file__).resolve().parent.parent
CAP = "2000000000"  # bytes of address space for the prlimit runs


def refused(out, *expected: str) -> str:
    """Exit 2, nothing on stdout, one clear first line holding every ``expected`` text."""
    assert out.code == 2, out
    assert out.stdout == "", out
    assert "Traceback" not in out.stderr, out
    first = out.stderr.splitlines()[0]
    for text in expected:
        assert text in first, out
    return first


def run_capped(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """attncli in a fresh interpreter with at most 2 GB of address space."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit is not installed")
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run(["prlimit", f"--as={CAP}", sys.executable, "-m", "attncli", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def capped_refusal(proc: subprocess.CompletedProcess, *expected: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and "out of memory" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- 1. derived numbers


@pytest.mark.parametrize("args, where", [
    (["--temperature", "1e308"], "--temperature"),  # the case: divisor 2 x 1e308 = inf
    (["--temperature", "1e-320"], "--temperature"),  # a subnormal divisor: 1 / divisor is infinite
    (["--temperature", "1e31"], "--temperature"),  # finite, but beyond the documented range
    (["--temperature", "1e300", "--heads", "2", "--projections", "random", "--d-k", "8"], "--temperature"),
])
def test_divisor_out_of_range_from_options(args, where):
    first = refused(cli("run", "the cat sat", *args, "--json"), f"{where}: the scores' divisor", "out of range")
    assert "between 1e-30 and 1e+30" in first


@pytest.mark.parametrize("text, where", [
    ("attention:\n  scale: 1.0e+308\n  temperature: 10.0\n", "config.yaml:2:3: attention.scale"),  # the issue's
    ("attention:\n  scale: 1.0e-200\n  temperature: 1.0e-200\n", "config.yaml:3:3: attention.temperature"),
    ("attention:\n  temperature: 1.0e+200\n  scale: 1.0e+200\n", "config.yaml:2:3: attention.temperature"),
])
def test_divisor_out_of_range_in_configs(tmp_config, text, where):
    path = tmp_config(text)
    refused(cli("config", "validate", path), where, "the scores' divisor")
    refused(cli("run", "-c", path, "the cat", "--json"), where)
    refused(cli("config", "show", path, "--json"), where)


def test_divisor_out_of_range_refuses_a_whole_batch_before_any_record(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\nstream bank mud\n", encoding="utf-8")
    refused(cli("run", "--file", str(texts), "--temperature", "1e308", "--json"), "--temperature")


@pytest.mark.parametrize("temperature", ["1e29", "1e-29", "3.5"])
def test_extreme_but_valid_divisors_give_a_complete_json_document(temperature):
    out = cli("run", "the cat sat", "--temperature", temperature, "--json", "--dtype", "float64")
    assert out.code == 0, out
    doc = json.loads(out.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert doc["config"]["attention"]["divisor"] == pytest.approx(2 * float(temperature))
    assert all(abs(sum(row) - 1) < 1e-9 for row in doc["weights"][0])


def test_settings_spec_is_the_small_frozen_view():
    s = load_settings("gpt-style")
    spec = s.spec
    assert isinstance(spec, AttentionSpec)
    assert (spec.heads, spec.causal, spec.positional, spec.residual, spec.layer_norm) == (2, True, "rope", True, True)
    assert spec.divisor == s.divisor == s.to_dict()["attention"]["divisor"]
    with pytest.raises(AttributeError):
        spec.heads = 3  # frozen


# --------------------------------------------------------------------------- 2. deep YAML


def deep_flow(levels: int) -> str:
    return "attention: " + "[" * levels + "]" * levels + "\n"


@pytest.mark.parametrize("text, position", [
    (deep_flow(100_000), "1:75"),  # the case: a segfault in PyYAML's C composer before
    (deep_flow(500), "1:75"),  # a RecursionError before
    ("attention: " + "{a: " * 70 + "1" + "}" * 70 + "\n", "1:264"),
    ("- " * 1000 + "1\n", "1:129"),  # block sequences on one line
    ("".join(" " * i + f"k{i}:\n" for i in range(70)) + " " * 70 + "v\n", "65:65"),  # block mappings
])
def test_deep_nesting_is_refused_with_its_position(tmp_config, text, position):
    path = tmp_config(text)
    first = refused(cli("config", "validate", path), f"config.yaml:{position}",
                    f"nested deeper than {MAX_DEPTH} levels")
    assert first.startswith("attncli: error: ") and path.endswith("config.yaml")
    refused(cli("run", "-c", path, "the cat", "--json"), f"nested deeper than {MAX_DEPTH} levels")


def test_the_first_too_deep_node_is_named():
    text = "a:\n  b: " + "[" * 64 + "]" * 64 + "\n  c: " + "[" * 80 + "]" * 80 + "\n"
    with pytest.raises(AttnError) as info:
        parse_yaml(text, "x.yaml")
    # the two mappings are levels 1 and 2, so b's 63rd bracket (column 6 + 62) is level 65
    assert info.value.where == "x.yaml:2:68"


def test_nesting_at_the_limit_is_read():
    doc = parse_yaml("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH, "x.yaml")
    node = doc.data
    for _ in range(MAX_DEPTH - 1):
        node = node[0]
    assert node == [1]


@pytest.mark.parametrize("anchors", [70, 20_000])
def test_nesting_built_from_aliases_is_refused(anchors):
    # Every line is shallow, but each list holds the previous one: expanded, the nesting is `anchors` deep.
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, anchors)]
    with pytest.raises(AttnError) as info:
        parse_yaml("\n".join(lines) + "\n", "x.yaml")
    assert f"nested deeper than {MAX_DEPTH} levels" in info.value.message
    assert info.value.where.startswith("x.yaml:")


def test_deep_yaml_does_not_crash_a_fresh_process(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(deep_flow(100_000), encoding="utf-8")
    proc = run_capped("config", "validate", str(path))
    capped_refusal(proc, "deep.yaml:1:75: lists and mappings nested deeper than 64 levels")


# --------------------------------------------------------------------------- 3. bounded reads


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("command", [["config", "validate"], ["run", "the cat", "-c"], ["config", "show"],
                                     ["vocab", "cat", "-c"]])
def test_devices_are_read_only_up_to_the_limit(device, command):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    refused(cli(*command, device, "--json"), f"{device}: config file is too large: more than the 2 MiB limit")


def test_an_endless_pipe_is_read_only_up_to_the_limit(tmp_path):
    fifo = tmp_path / "endless.yaml"
    os.mkfifo(fifo)
    written = []

    def writer():
        block = b"# endless\n" * 6554
        try:
            with open(fifo, "wb") as f:
                while sum(written) < 64 * MAX_CONFIG_BYTES:
                    f.write(block)
                    written.append(len(block))
        except (BrokenPipeError, OSError):
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    refused(cli("config", "validate", str(fifo), "--json"), "config file is too large")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert sum(written) < 8 * MAX_CONFIG_BYTES  # the reader stopped; the writer saw the pipe close


def test_the_limit_is_exact(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"# " + b"x" * 98)
    assert len(read_limited(path, "c.yaml", limit=100)) == 100
    with pytest.raises(AttnError, match="too large"):
        read_limited(path, "c.yaml", limit=99)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    refused(cli("config", "validate", str(big)), "big.yaml: config file is too large (2.1 MB; the limit is 2 MiB)")


def test_a_config_at_the_size_limit_is_accepted(tmp_path):
    path = tmp_path / "padded.yaml"
    body = b"attention:\n  heads: 2\n"
    path.write_bytes(body + b"#" * (MAX_CONFIG_BYTES - len(body) - 1) + b"\n")
    out = cli("config", "validate", str(path), "--json")
    assert out.code == 0, out
    assert out.json["config"]["attention"]["heads"] == 2


@pytest.mark.parametrize("args", [["run", "the cat", "-c", "/dev/zero"], ["config", "validate", "/dev/zero"]])
def test_dev_zero_under_a_memory_cap(args):
    capped_refusal(run_capped(*args, "--json"), "config file is too large")


# --------------------------------------------------------------------------- 4. allocation before budget


@pytest.mark.parametrize("args, where", [
    (["--projections", "random", "--d-k", "100000000"], "--d-k"),  # the issue's: 13 GB allocated before
    (["--projections", "random", "--d-k", "1000000000"], "--d-k"),  # the issue's: "could not set up the device"
    (["--projections", "random", "--d-k", "6000000", "--dtype", "float64"], "--d-k"),  # 8-byte elements
    (["--projections", "random", "--d-k", "4000000", "--max-weights-mb", "100"], "--d-k"),  # a lower budget
])
def test_projection_sizes_beyond_the_budget_are_refused(args, where):
    first = refused(cli("run", "the cat", *args, "--json"), f"{where}: the tensors these settings imply",
                    "query projection 4 x", "the budget is")
    assert "raise --max-weights-mb" in first


@pytest.mark.parametrize("text, where", [
    ("attention:\n  projections: random\n  d_v: 100000000\n", "config.yaml:3:3: attention.d_v"),  # the issue's
    ("attention:\n  projections: random\n  d_k: 2\n  d_v: 30000000\n", "config.yaml:4:3: attention.d_v"),
    ("embeddings:\n  wide: [" + ", ".join(["0.5"] * 9000) + "]\nattention:\n  projections: random\n",
     "config.yaml:4:3: attention.projections"),  # d_k follows d_model: three 9,000 x 9,000 matrices
])
def test_sizes_from_the_config_are_refused_by_validate_and_run(tmp_config, text, where):
    path = tmp_config(text)
    refused(cli("config", "validate", path, "--json"), where, "the budget is 256 MiB")
    refused(cli("run", "-c", path, "wide", "--json"), where)


def test_the_budget_option_raises_the_limit_without_allocating():
    overrides = {("attention", "projections"): ("random", "--projections"), ("attention", "d_k"): (6_000_000, "--d-k")}
    with pytest.raises(AttnError, match="the budget is 256 MiB"):
        load_settings(None, overrides)
    s = load_settings(None, overrides, budget_mb=1000)
    assert s.d_k == 6_000_000
    assert tensor_bytes(s) == 3 * 4 * 6_000_000 * 4
    assert tensor_bytes(s, n_tokens=10) == tensor_bytes(s) + 10 * (4 + 4 * 6_000_000 + 2 * 6_000_000) * 4


@pytest.mark.parametrize("value, message", [("nan", "must be a finite number, got nan"),
                                            ("inf", "must be a finite number, got inf"),
                                            ("-1", "must be greater than 0, got -1")])
def test_the_budget_itself_must_be_a_finite_positive_number(value, message):
    refused(cli("run", "the cat", "--max-weights-mb", value, "--json"), f"--max-weights-mb: {message}")


@pytest.mark.parametrize("d_k", ["100000000", "1000000000"])
def test_huge_widths_under_a_memory_cap(d_k):
    proc = run_capped("run", "the cat", "--projections", "random", "--d-k", d_k, "--json")
    capped_refusal(proc, "--d-k: the tensors these settings imply")


# --------------------------------------------------------------------------- 17. tags on every node


@pytest.mark.parametrize("text, where, tag", [
    ("attention: !!python/object:os.system\n  heads: 1\n", "config.yaml:1:1: attention", "python/object:os.system"),
    ("embeddings:\n  a: !!python/object/apply:os.system [1, 2]\n", "config.yaml:2:3: embeddings.a",
     "python/object/apply:os.system"),
    ("!!python/object/new:os.system\nattention: {}\n", "config.yaml:1:1: (top level)", "python/object/new:os.system"),
    ("attention:\n  !!python/name:os.system heads: 1\n", "config.yaml:2:3: attention.heads", "python/name:os.system"),
    ("description: !local text\n", "config.yaml:1:1: description", "!local"),
    ("attention: !!set {heads}\n", "config.yaml:1:1: attention", "!!set"),
    ("embeddings:\n  a: !!binary AAAA\n", "config.yaml:2:3: embeddings.a", "!!binary"),
])
def test_non_plain_tags_are_refused_on_any_node(tmp_config, text, where, tag):
    path = tmp_config(text)
    first = refused(cli("config", "validate", path), where, "unsupported YAML tag", tag)
    assert "only plain values, lists and mappings are allowed" in first
    refused(cli("run", "-c", path, "a", "--json"), "unsupported YAML tag")


def test_a_tagged_sequence_never_runs(tmp_config, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_config(f"attention: !!python/object/apply:os.system ['touch {marker}']\n")
    refused(cli("run", "-c", path, "a"), "unsupported YAML tag")
    assert not marker.exists()


def test_plain_tags_written_out_are_fine(tmp_config):
    path = tmp_config("attention:\n  heads: !!int 2\n  causal: !!bool true\n  temperature: !!float 2\n"
                      "embeddings: !!map\n  a: !!seq [1, 2]\n  b: [3, 4]\n")
    out = cli("config", "validate", path, "--json")
    assert out.code == 0, out
    assert out.json["config"]["attention"]["heads"] == 2


def test_a_bad_merge_is_a_config_error(tmp_config):
    refused(cli("config", "validate", tmp_config("attention: {<<: 1}\n")), "attention: invalid YAML merge")
    refused(cli("config", "validate", tmp_config("attention: {<<: [1]}\n")), "attention: invalid YAML merge")


@pytest.mark.parametrize("text, where", [
    ("attention: !!int attention\n", "config.yaml:1:1: attention"),  # found by test_fuzz: was a ValueError
    ("attention: {causal: !!bool maybe}\n", "config.yaml:1:13: attention.causal"),  # was a KeyError
    ("attention: {temperature: !!float x}\n", "config.yaml:1:13: attention.temperature"),
])
def test_plain_tags_on_values_they_cannot_read(tmp_config, text, where):
    refused(cli("config", "validate", tmp_config(text)), where, "unsupported YAML value: cannot read")


# --------------------------------------------------------------------------- numbers beyond a float, values too long to show

BIG = "1" + "0" * 400  # an int, but no float
HUGE = "1" + "0" * 5000  # more digits than int() reads


@pytest.mark.parametrize("text, where, expected", [
    (f"attention: {{temperature: {BIG}}}\n", "attention.temperature", "integer too large for a float"),
    (f"attention: {{scale: {BIG}}}\n", "attention.scale", "integer too large for a float"),
    (f"embeddings: {{a: [1, {BIG}]}}\n", "embeddings.a[1]", "integer too large for a float"),
    (f"tensors: {{query: [[{BIG}]], key: [[1]], value: [[1]]}}\n", "tensors.query[0][0]", "too large for a float"),
    (f"attention: {{heads: {BIG}}}\n", "attention.heads", "is too large (100000000"),
    (f"attention: {{heads: {HUGE}}}\n", "attention.heads", "cannot read '1000"),
    (f"embeddings: {{a: [-{HUGE}]}}\n", "embeddings.a[0]", "cannot read '-1000"),
    ("attention: {heads: !!int ²}\n", "attention.heads", "cannot read '²' as !!int"),
])
def test_numbers_beyond_the_float_range(tmp_config, text, where, expected):
    first = refused(cli("config", "validate", tmp_config(text)), where, expected)
    assert len(first) < 300  # the value is cut, not printed whole


@pytest.mark.parametrize("text", ["attention: {positional: %s}\n", "device: %s\n", "attention: {heads: '%s'}\n",
                                  "attention:\n  ? %s\n  : 1\n"])
def test_long_values_are_cut_in_messages(tmp_config, text):
    first = refused(cli("config", "validate", tmp_config(text % ("x" * 100_000))))
    assert len(first) < 400 and "xxx..." in first


# --------------------------------------------------------------------------- hostile config names


@pytest.mark.parametrize("name, expected", [
    ("~nosuchuser/x.yaml", "no config file or bundled config named '~nosuchuser/x.yaml'"),  # was a RuntimeError
    ("x" * 10_000, "as a config path: File name too long"),  # was an OSError
    ("y/" + "x" * 300, "no config file or bundled config named 'y/xxx"),
    ("a\x00b", "no config file or bundled config named 'a\\x00b'"),
])
def test_hostile_config_names(name, expected):
    for command in (["config", "validate", name], ["run", "the cat", "-c", name]):
        first = refused(cli(*command, "--json"), "PATH" if command[0] == "config" else "--config", expected)
        assert len(first) < 300


# --------------------------------------------------------------------------- per-text tensors (for the engine)


def test_text_budget_counts_the_per_token_tensors(tmp_config):
    from attncli.config import check_text_budget

    wide = tmp_config("embeddings:\n  a: [" + ", ".join(["0.5"] * 300_000) + "]\n")
    s = load_settings(wide)
    check_text_budget(s, 10)  # 10 x 300,000 x 7 widths x 4 bytes: 80 MiB
    with pytest.raises(AttnError) as info:
        check_text_budget(s, 1000)  # 8 GiB: refused before anything is embedded
    error = info.value
    assert int(error.code) == 2 and error.param == error.where == "max_weights_mb"  # the API's name; the CLI says --max-weights-mb
    assert error.message.startswith("1,000 tokens at d_model 300,000") and "the budget is 256 MiB" in error.message
    check_text_budget(s, 1000, budget_mb=10_000)
    narrow = load_settings(None)
    check_text_budget(narrow, 262_144)  # the longest text attncli takes, at the default widths
