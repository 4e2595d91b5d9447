"""Hostile model folders (issue 17, items 1, 4, 13 and the model parts of 16 and 20).

A folder's own code never runs and never prompts; config.json's sizes are checked, and the model
they describe estimated, before anything is allocated; every file of the folder is a regular
file within its limit (a FIFO or a link to /dev/zero is refused by name, never opened); a failed
allocation says what ran out and what shrinks it. Tiny random models, offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from conftest import cli

HAVE = importlib.util.find_spec("transformers") is not None
pytestmark = pytest.mark.skipif(not HAVE, reason="transformers not installed")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One tiny GPT-2 and one tiny Llama folder; each test copies the one it damages."""
    from test_decoders import make_model

    root = tmp_path_factory.mktemp("safety")
    return {family: make_model(root / family, family) for family in ("gpt2", "llama", "bert")}


@pytest.fixture
def folder(base, tmp_path):
    def copy(family="gpt2"):
        return shutil.copytree(base[family], tmp_path / family)
    return copy


def refused(out, fragment, code=2):
    """One line on stderr (plus the JSON error object), empty stdout, the exit code."""
    assert out.code == code and out.stdout == "", out
    lines = [line for line in out.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert "Traceback" not in out.stderr and "[transformers]" not in out.stderr
    return lines[0]


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


# --------------------------------------------------------------------------- item 1: a folder's own code


def add_remote_code(path, marker, model_type="evil", where="config.json"):
    for module, base_class in (("configuration_evil", "PretrainedConfig"), ("modeling_evil", "GPT2Model"),
                               ("tokenization_evil", "PreTrainedTokenizerFast")):
        (path / f"{module}.py").write_text(
            f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import {base_class}\n"
            f"class Evil({base_class}):\n    model_type = 'evil'\n")
    if where == "config.json":
        edit_config(path, model_type=model_type, auto_map={"AutoConfig": "configuration_evil.Evil",
                                                           "AutoModel": "modeling_evil.Evil"})
    else:
        tokenizer = json.loads((path / "tokenizer_config.json").read_text())
        tokenizer.update(tokenizer_class="EvilTokenizer", auto_map={"AutoTokenizer": [None, "tokenization_evil.Evil"]})
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer))


@pytest.mark.parametrize("command", [
    ["run", "the cat", "--json"],
    ["run", "--file", "-", "--json"],
    ["heads", "--json"],
])
def test_remote_code_never_runs_nor_prompts(folder, tmp_path, command):
    path, marker = folder(), tmp_path / "MARKER"
    add_remote_code(path, marker)
    out = cli(command[0], "--model", str(path), *command[1:], input="y\nthe cat\ny\n")
    line = refused(out, "config.json's auto_map (AutoConfig -> configuration_evil.Evil)")
    assert "attncli never runs a model folder's code" in line and "[y/N]" not in out.stderr + out.stdout
    assert not marker.exists()


def test_remote_tokenizer_code_never_runs(folder, tmp_path):
    path, marker = folder(), tmp_path / "MARKER"
    add_remote_code(path, marker, where="tokenizer_config.json")
    out = cli("run", "--model", str(path), "the cat", "--json", input="y\n")
    refused(out, "tokenizer_config.json's auto_map (AutoTokenizer -> tokenization_evil.Evil)")
    assert not marker.exists()


def test_auto_map_beside_a_known_family_uses_transformers_own_code(folder, tmp_path):
    path, marker = folder(), tmp_path / "MARKER"
    add_remote_code(path, marker, model_type="gpt2")
    out = cli("run", "--model", str(path), "the cat", "--json", input="y\n")
    assert out.code == 0 and out.json["tokens"] == ["the", "cat"], out
    assert not marker.exists()


def test_every_loading_call_refuses_remote_code():
    """The source says so too: no from_pretrained without trust_remote_code=False."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "attncli"
    calls = 0
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for match in re.finditer(r"from_pretrained\((.*?)\)\n", text, re.S):
            calls += 1
            assert "trust_remote_code=False" in match.group(1), (source, match.group(0))
    assert calls >= 4


# --------------------------------------------------------------------------- item 4 and 20: config.json sizes


@pytest.mark.parametrize("family, changes, fragment", [
    ("bert", {"num_hidden_layers": 1000000}, "config.json: num_hidden_layers is 1,000,000; the limit is 1,024"),
    ("llama", {"num_hidden_layers": 1000000}, "num_hidden_layers is 1,000,000; the limit is 1,024"),
    ("gpt2", {"vocab_size": 1e8}, "config.json: vocab_size is 100,000,000; the limit is 4,194,304"),
    ("llama", {"vocab_size": 100000000}, "vocab_size is 100,000,000"),
    ("gpt2", {"n_layer": "12"}, "config.json: n_layer must be a whole number, got \"12\""),
    ("llama", {"hidden_size": 16.5}, "config.json: hidden_size must be a whole number, got 16.5"),
    ("llama", {"num_attention_heads": True}, "num_attention_heads must be a whole number, got true"),
    ("bert", {"max_position_embeddings": -1}, "config.json: max_position_embeddings must be greater than 0, got -1"),
    ("llama", {"intermediate_size": 0}, "intermediate_size must be greater than 0, got 0"),
])
def test_config_sizes_are_checked_before_building(folder, family, changes, fragment):
    path = folder(family)
    edit_config(path, **changes)
    refused(cli("run", "--model", str(path), "the cat", "--json"), fragment)


def test_a_model_larger_than_memory_is_refused_from_its_config(folder):
    path = folder("llama")  # within every sanity limit, but 8 x 1.1 billion parameters
    edit_config(path, hidden_size=16384, intermediate_size=65536, num_hidden_layers=256, vocab_size=19)
    line = refused(cli("run", "--model", str(path), "the cat", "--json"), "config.json describes about ", code=1)
    assert "parameters (" in line and "GiB in float32); the limit is " in line


def _python(args, prefix=(), timeout=120, **kwargs):
    return subprocess.run([*prefix, sys.executable, "-m", "attncli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
def test_the_address_space_cap_is_the_limit(folder):
    """Under ulimit -v 3 GB a 1.1-billion-parameter config is refused from its numbers (not half-built)."""
    path = folder("llama")
    edit_config(path, hidden_size=4096, intermediate_size=11008, num_hidden_layers=8, vocab_size=19)
    out = _python(["run", "--model", str(path), "the cat", "--json"], prefix=("prlimit", "--as=3000000000"))
    assert out.returncode == 1 and out.stdout == "", out
    assert "config.json describes about 1,083,912,192 parameters (4.0 GiB in float32)" in out.stderr
    assert "what is left of this process's address-space limit, ulimit -v" in out.stderr
    assert "Traceback" not in out.stderr and "above report" not in out.stderr


def test_a_size_changed_against_the_weights(folder):
    path = folder("gpt2")
    edit_config(path, n_positions=4096)
    line = refused(cli("run", "--model", str(path), "the cat", "--json"), "do not match config.json")
    assert "above report" not in line


def test_model_max_length_minus_one_is_no_limit(folder):
    path = folder("llama")
    tokenizer = json.loads((path / "tokenizer_config.json").read_text())
    tokenizer["model_max_length"] = -1
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    out = cli("run", "--model", str(path), "the cat sat", "--json")
    assert out.code == 0 and "(-1)" not in out.stderr, out


# --------------------------------------------------------------------------- item 13: every file, bounded


@pytest.fixture
def watchdog(tmp_path):
    """A FIFO that something opened for reading would hang the test forever (a signal cannot interrupt
    a read inside Rust or C): after 20 s this opens every FIFO for writing and closes it, so a reader sees
    end-of-file and the test fails instead of hanging."""
    import stat
    import threading

    done = threading.Event()
    fired = []

    def release():
        if done.wait(20):
            return
        fired.append(True)
        for path in tmp_path.rglob("*"):
            if path.is_fifo() if hasattr(path, "is_fifo") else stat.S_ISFIFO(path.lstat().st_mode):
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:  # nobody is reading it
                    pass

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join()
    assert not fired, "the command opened a FIFO and hung until the watchdog closed it"


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "chat_template.jinja",
                                  "tokenizer_config.json", "README.md"])
def test_a_fifo_is_refused_not_opened(folder, watchdog, name):
    path = folder()
    (path / name).unlink(missing_ok=True)
    os.mkfifo(path / name)
    refused(cli("run", "--model", str(path), "the cat", "--json"), f"{name} is a FIFO, not a file")


def test_a_fifo_in_additional_chat_templates(folder, watchdog):
    path = folder()
    (path / "additional_chat_templates").mkdir()
    os.mkfifo(path / "additional_chat_templates" / "tool.jinja")
    refused(cli("run", "--model", str(path), "the cat", "--json"), "additional_chat_templates/tool.jinja is a FIFO")


@pytest.mark.parametrize("name", ["model.safetensors", "vocab.txt"])
def test_links_to_devices_and_to_nothing(folder, name):
    path = folder()
    (path / name).unlink(missing_ok=True)
    (path / name).symlink_to("/dev/zero")
    refused(cli("run", "--model", str(path), "the cat", "--json"), f"{name} is a device, not a file")
    (path / name).unlink()
    (path / name).symlink_to(path / "nowhere")
    refused(cli("run", "--model", str(path), "the cat", "--json"), f"{name} cannot be read (a link to nothing)")


@pytest.mark.parametrize("name, size, fragment", [
    ("chat_template.jinja", 1 << 30, "chat_template.jinja has 1,073,741,824 bytes; the limit for it is 1 MiB"),
    ("tokenizer.json", 65 << 20, "tokenizer.json has 68,157,440 bytes; the limit for it is 64 MiB"),
    ("generation_config.json", 2 << 20, "generation_config.json has 2,097,152 bytes; the limit for it is 1 MiB"),
    ("config.json", 5 << 20, "config.json has 5,242,880 bytes; the limit for it is 4 MiB"),
])
def test_oversized_files_are_refused_by_size(folder, name, size, fragment):
    path = folder()
    with open(path / name, "ab") as handle:  # sparse: nothing is written, nothing is read
        handle.truncate(size)
    refused(cli("run", "--model", str(path), "the cat", "--json"), fragment)


def test_a_tokenizer_with_millions_of_entries(folder):
    path = folder()
    with open(path / "tokenizer.json", "wb") as handle:  # 3,000,000 entries in 45 MiB: under the size limit
        handle.write(b'{"model": {"vocab": {')
        for block in range(300):
            handle.write(b"".join(b'"t%07d": %d, ' % (i, i) for i in range(block * 10000, (block + 1) * 10000)))
        handle.write(b'"end": 0}}}')
    line = refused(cli("run", "--model", str(path), "the cat", "--json"), "tokenizer.json holds more than 2,000,000")
    assert "entries" in line


def test_sparse_weights_larger_than_memory(folder):
    path = folder()
    with open(path / "model.safetensors", "r+b") as handle:
        handle.truncate(30 << 30)
    refused(cli("run", "--model", str(path), "the cat", "--json"), "the weights (30.0 GiB) do not fit", code=1)


def test_a_lying_safetensors_header(folder):
    path = folder()
    header = json.dumps({"wte.weight": {"dtype": "F32", "shape": [100000, 100000],
                                        "data_offsets": [0, 40000000000]}}).encode()
    (path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)
    refused(cli("run", "--model", str(path), "the cat", "--json"), "model.safetensors is damaged")


# --------------------------------------------------------------------------- item 16: out of memory, said plainly


@pytest.fixture
def address_space_cap():
    """Cap this process's address space at what it uses now plus ``extra`` bytes, for one call."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def cap(call, extra):
        with open("/proc/self/statm") as handle:
            used = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + extra, hard))
        try:
            return call()
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    return cap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_a_long_text_is_refused_from_the_address_space_left(tmp_path, address_space_cap, monkeypatch):
    from attncli.errors import AttnError
    from attncli.models import Transformer
    from attncli.models import adapter

    import transformers

    from test_decoders import save_tokenizer

    path = tmp_path / "gpt2-4096"
    config = transformers.GPT2Config(vocab_size=19, n_embd=16, n_layer=2, n_head=4, n_positions=4096)
    transformers.AutoModel.from_config(config).save_pretrained(str(path))
    save_tokenizer(path, bos=False)
    model = Transformer(str(path), device=torch.device("cpu"), dtype=torch.float32)
    ids = [5] * 3000  # 2 layers x 4 heads x 3000^2 floats: 275 MiB of attention weights
    with pytest.raises(AttnError) as refused_first:
        address_space_cap(lambda: model.run_ids(ids), 64 << 20)
    assert "3,000 tokens need about " in refused_first.value.message
    assert "what is left of this process's address-space limit, ulimit -v" in refused_first.value.message
    # the same failure with the estimate switched off: torch's allocator error, said plainly
    monkeypatch.setattr(adapter, "check_activations", lambda *args, **kwargs: None)
    with pytest.raises(AttnError) as failed:
        address_space_cap(lambda: model.run_ids(ids), 64 << 20)
    error = failed.value
    assert error.message.startswith("out of memory during the forward pass of 3,000 tokens"), error.message
    assert "ulimit -v" in error.message and "Error code 12" not in error.message and error.code == 1
    assert error.hint == "shorten the text, use dtype bfloat16, or free memory"  # the API's naming (no CLI here)


def test_allocator_messages_become_one_plain_line():
    from attncli.models.memory import allocation_error

    exc = RuntimeError("[enforce fail at alloc_cpu.cpp:116] data. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 66960000 bytes. Error code 12 (Cannot allocate memory)")
    error = allocation_error(exc, "loading the model's weights", where="--model x")
    assert error.message.startswith("out of memory during loading the model's weights: 63.9 MiB more could not")
    assert "smaller model" in error.hint and error.kind == "memory"
    assert allocation_error(RuntimeError("size mismatch for wte.weight"), "loading") is None
    assert allocation_error(MemoryError(), "the forward pass of 3 tokens").hint.startswith("shorten the text")


def test_non_finite_output_in_float32_does_not_advise_float32(folder):
    from safetensors.torch import load_file, save_file

    path = folder("llama")
    state = load_file(str(path / "model.safetensors"))
    key = next(k for k in state if k.endswith("q_proj.weight"))
    state[key][0, 0] = float("nan")
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    line = refused(cli("run", "--model", str(path), "the cat", "--json"), "non-finite values", code=1)
    assert "use --dtype float32" not in line and f"weights hold NaN or infinite values ({key})" in line
