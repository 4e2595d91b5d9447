"""A local model folder, checked before transformers reads a byte of it.

* Every entry of the folder (and of ``additional_chat_templates/``) must be a regular file or a
  folder: a FIFO, a device (a link to ``/dev/zero``), a socket or a dangling link is refused by
  name, never opened.
* Every file transformers reads has a size limit (:data:`LIMITS`); the tokenizer's vocabulary
  and merge files also have an entry limit (:data:`MAX_ENTRIES`), counted in a bounded stream.
* ``config.json`` is a JSON object whose sizes are whole numbers within sanity limits, and the
  model it describes (parameters, from the config alone) must fit in memory.
* A folder that needs its own Python code (``auto_map`` with a model type transformers does not
  know) is refused: attncli never executes a folder's code.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import stat
from pathlib import Path

from attncli.errors import AttnError, ExitCode

MIB = 1 << 20
#: config.json larger than this is not a config.
MAX_CONFIG_BYTES = 4 * MIB
#: file name pattern -> the most bytes read; weights are bounded by memory (check_weights_size).
LIMITS = {
    "config.json": MAX_CONFIG_BYTES,
    "generation_config.json": 1 * MIB,
    "special_tokens_map.json": 1 * MIB,
    "preprocessor_config.json": 1 * MIB,
    "chat_template.json": 1 * MIB,
    "*.jinja": 1 * MIB,
    "tokenizer_config.json": 16 * MIB,
    "added_tokens.json": 16 * MIB,
    "*.index.json": 16 * MIB,
    "tokenizer.json": 64 * MIB,
    "vocab.json": 64 * MIB,
    "vocab.txt": 64 * MIB,
    "merges.txt": 64 * MIB,
    "*.model": 64 * MIB,
    "*.tiktoken": 64 * MIB,
}
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf")
#: Any other JSON file transformers might read.
OTHER_JSON_BYTES = 16 * MIB
#: Vocabulary entries: the largest real vocabularies have about 262,000.
MAX_ENTRIES = 2_000_000
#: Files whose entries are counted: name -> the byte pattern that occurs once per entry.
COUNTED = {"tokenizer.json": b'":', "vocab.json": b'":', "vocab.txt": b"\n", "merges.txt": b"\n"}
#: Sanity limits on config.json sizes, far above any real model.
SIZE_LIMITS = {"layers": 1024, "heads": 1024, "width": 1 << 17, "vocab": 1 << 22, "ffn": 1 << 20,
               "positions": 1 << 28, "experts": 1024}
SIZE_KEYS = {
    "layers": ("num_hidden_layers", "n_layer", "n_layers", "num_layers"),
    "heads": ("num_attention_heads", "n_head", "n_heads", "num_key_value_heads", "num_kv_heads"),
    "width": ("hidden_size", "n_embd", "d_model", "dim", "head_dim"),
    "vocab": ("vocab_size", "type_vocab_size"),
    "ffn": ("intermediate_size", "n_inner", "hidden_dim", "ffn_dim", "d_ff"),
    "positions": ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len"),
    "experts": ("num_local_experts", "num_experts", "n_routed_experts"),
}
#: Families with learned position embeddings (a (positions, width) table among the weights).
LEARNED_POSITIONS = {"bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "mpnet", "gpt2",
                     "gpt_neo", "opt", "bloom", "camembert"}


def _fail(message: str, where: str, **kwargs) -> AttnError:
    return AttnError(f"cannot load the model: {message}", where=where, kind=kwargs.pop("kind", "model"), **kwargs)


def _limit_of(name: str) -> int | None:
    for pattern, limit in LIMITS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return limit
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in WEIGHTS):
        return None  # bounded by memory, all weights together
    return OTHER_JSON_BYTES if name.endswith(".json") else None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _count(path: Path, pattern: bytes, limit: int) -> int:
    """Occurrences of ``pattern`` in the file, read in bounded chunks; stops past ``limit``."""
    count, tail = 0, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * MIB):
            data = tail + chunk
            count += data.count(pattern)
            tail = data[-(len(pattern) - 1):] if len(pattern) > 1 else b""
            count -= tail.count(pattern)
            if count > limit:
                break
    return count + tail.count(pattern)


def check_files(path: Path, where: str) -> None:
    """Every entry a regular file or a folder; every file transformers reads within its limit."""
    folders = [path] + ([path / "additional_chat_templates"] if (path / "additional_chat_templates").is_dir() else [])
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise _fail(f"cannot list {folder.name} ({exc.strerror})", where) from None
        for name in names:
            shown = name if folder == path else f"{folder.name}/{name}"
            file = folder / name
            try:
                info = os.stat(file)
            except OSError as exc:
                reason = "a link to nothing" if os.path.islink(file) else exc.strerror
                raise _fail(f"{shown} cannot be read ({reason})", where) from None
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise _fail(f"{shown} is {_kind(info.st_mode)}, not a file (a model folder holds regular files)",
                            where)
            limit = _limit_of(name)
            if limit is not None and info.st_size > limit:
                raise _fail(f"{shown} has {info.st_size:,} bytes; the limit for it is {limit // MIB} MiB",
                            where)
            if name in COUNTED and folder == path:
                try:
                    entries = _count(file, COUNTED[name], MAX_ENTRIES)
                except OSError as exc:
                    raise _fail(f"{shown} cannot be read ({exc.strerror})", where) from None
                if entries > MAX_ENTRIES:
                    raise _fail(f"{shown} holds more than {MAX_ENTRIES:,} entries (real vocabularies have "
                                "under 300,000)", where)


def read_json(path: Path, where: str, limit: int) -> dict | None:
    """A JSON object file of the folder, bounded; None when it is absent."""
    name = path.name
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _fail(f"{name} cannot be read ({exc.strerror})", where) from None
    if len(raw) > limit:
        raise _fail(f"{name} is larger than {limit // MIB} MiB", where)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _fail(f"{name} is not valid JSON", where) from None
    if not isinstance(doc, dict):
        raise _fail(f"{name} is a JSON {type(doc).__name__.replace('dict', 'object')}, not an object", where)
    return doc


def _whole(config: dict, key: str, where: str, limit: int) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise _fail(f"config.json: {key} must be a whole number, got {json.dumps(value)[:40]}", where)
    value = int(value)
    if value <= 0 and not (key == "type_vocab_size" and value == 0):
        raise _fail(f"config.json: {key} must be greater than 0, got {value}", where)
    if value > limit:
        raise _fail(f"config.json: {key} is {value:,}; the limit is {limit:,} (no real model is this large)", where)
    return value


def sizes(config: dict, where: str) -> dict:
    """The config's sizes, each checked: kind -> the first key of that kind that is set (None if none)."""
    found: dict = {}
    for kind, keys in SIZE_KEYS.items():
        values = [_whole(config, key, where, SIZE_LIMITS[kind]) for key in keys]
        found[kind] = next((v for v in values if v is not None), None)
    for sub in ("text_config", "decoder", "encoder"):  # nested configs carry their own sizes
        if isinstance(config.get(sub), dict):
            sizes(config[sub], where)
    return found


def parameters(config: dict, where: str) -> int:
    """Roughly how many weights the config describes (embeddings, attention and MLP of every layer)."""
    s = sizes(config, where)
    d = s["width"] or 0
    layers, vocab = s["layers"] or 0, int(config.get("vocab_size") or 0)
    ffn = s["ffn"] or 4 * d
    heads = _whole(config, "num_attention_heads", where, SIZE_LIMITS["heads"]) or s["heads"] or 1
    head_dim = _whole(config, "head_dim", where, SIZE_LIMITS["width"]) or max(d // heads, 1)
    kv = _whole(config, "num_key_value_heads", where, SIZE_LIMITS["heads"]) or heads
    experts = s["experts"] or 1
    attention = 2 * d * heads * head_dim + 2 * d * kv * head_dim
    per_layer = attention + 3 * d * ffn * experts + 4 * d
    positions = (s["positions"] or 0) if config.get("model_type") in LEARNED_POSITIONS else 0
    return vocab * d + positions * d + layers * per_layer


def memory_limit() -> tuple[int, str] | None:
    """(bytes, what they are) that a new allocation may use: this machine's memory, or the address-space cap."""
    limits = []
    try:
        limits.append((int(0.9 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")),
                       "90% of this machine's memory"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as handle:
                used = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append((max(soft - used, 0), "what is left of this process's address-space limit, ulimit -v"))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return min(limits) if limits else None


def check_model_size(config: dict, where: str, element_bytes: int = 4) -> int:
    """Refuse a config whose weights would not fit, before anything is allocated; the parameter count."""
    count = parameters(config, where)
    need = count * element_bytes
    limit = memory_limit()
    if limit is not None and need > limit[0]:
        raise AttnError(f"config.json describes about {count:,} parameters ({need / 2**30:,.1f} GiB in float32); "
                        f"the limit is {limit[0] / 2**30:,.1f} GiB ({limit[1]})", where=where, kind="memory",
                        code=ExitCode.FAILURE, hint="check the layers, widths and vocab_size in config.json")
    return count


def check_remote_code(path: Path, config: dict, where: str, known_types, known_tokenizer) -> None:
    """A folder that only loads by running its own code (``auto_map``) is refused, naming the entry."""
    auto_map = config.get("auto_map")
    model_type = config.get("model_type")
    if auto_map and not (isinstance(model_type, str) and model_type in known_types):
        raise _fail(f"config.json's auto_map ({_entry(auto_map)}) asks to run the folder's own Python code, "
                    f"and model_type {json.dumps(model_type)} is not one transformers knows; attncli never "
                    "runs a model folder's code", where, hint="use a folder of a family transformers supports")
    tokenizer = read_json(path / "tokenizer_config.json", where, LIMITS["tokenizer_config.json"]) or {}
    auto_map = tokenizer.get("auto_map")
    if auto_map and not known_tokenizer(tokenizer.get("tokenizer_class")):
        raise _fail(f"tokenizer_config.json's auto_map ({_entry(auto_map)}) asks to run the folder's own Python "
                    "code, and its tokenizer_class is not one transformers knows; attncli never runs a model "
                    "folder's code", where, hint="use a folder of a family transformers supports")


def _entry(auto_map) -> str:
    if isinstance(auto_map, dict) and auto_map:
        key, value = next(iter(auto_map.items()))
        value = next((v for v in value if v), value) if isinstance(value, list) else value
        return f"{key} -> {str(value)[:80]}"
    return json.dumps(auto_map)[:80]
