"""The dequantized-model cache: a packaged GGUF, turned once into a normal model folder.

transformers loads a GGUF with ``gguf_file=`` and dequantizes every tensor on each load (about
20 s on two cores for SmolLM2). The first load therefore writes the dequantized float32 weights
(safetensors), the config and the tokenizer as an ordinary model folder under
``$XDG_CACHE_HOME/attncli`` (else ``~/.cache/attncli``); later loads read that folder.

* An entry is named ``NAME-HASH16`` after the GGUF's SHA-256 and holds ``attncli-cache.json``
  (:mod:`attncli.models.manifest`): the GGUF's path, size, mtime and full SHA-256, and for every
  file written its size, SHA-256 and stamp (inode, mtime, ctime). A later run finds its entry
  by the GGUF's size and mtime (no 98 MB hash on every run); only when those change is the GGUF
  hashed again. Each file is re-hashed only when its stamp changed.
* Entries are written into a temporary folder beside the cache and renamed into place, with the
  manifest written last: an interrupted build never leaves an entry that looks complete.
* An entry whose manifest or files do not match is rebuilt with a warning, never used.
* A read-only cache is read: a valid entry is used even when its manifest cannot be updated
  (the GGUF is then hashed on each run); a failed write is a cache error naming the folder.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from attncli.errors import AttnError, ExitCode, option
from attncli.models.manifest import FORMAT, MANIFEST, problem, read as _read_manifest, record, sha256
from attncli.models.manifest import write_atomic as _write_json_atomic
from attncli.models.registry import PACKAGED, import_transformers, not_installed

__all__ = ["FORMAT", "MANIFEST", "problem", "sha256", "cache_root", "gguf_path", "lookup", "find", "ensure",
           "discard", "build"]
STALE_BUILD_SECONDS = 3600


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "attncli"


def gguf_path(name: str) -> Path:
    """The GGUF a packaged model ships, found without importing its package."""
    entry = PACKAGED[name]
    try:
        spec = importlib.util.find_spec(entry.package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / entry.gguf
        if path.is_file():
            return path
    raise not_installed(name)


def _default_warn(message: str) -> None:
    sys.stderr.write(f"attncli: warning: {message}\n")
    sys.stderr.flush()


def entries(name: str) -> list[Path]:
    root = cache_root()
    return sorted(p for p in root.glob(f"{name}-*") if p.is_dir()) if root.is_dir() else []


def lookup(name: str, gguf: Path) -> Path | None:
    """The entry built from this GGUF, found by its size and mtime (no hashing)."""
    stat = gguf.stat()
    for entry in entries(name):
        manifest = _read_manifest(entry)
        if manifest and manifest.get("size") == stat.st_size and manifest.get("mtime_ns") == stat.st_mtime_ns \
                and manifest.get("source") == str(gguf):
            return entry
    return None


def _by_digest(name: str, digest: str) -> Path:
    return cache_root() / f"{name}-{digest[:16]}"


def find(name: str, gguf: Path, progress: Callable | None = None) -> Path | None:
    """A valid entry for this GGUF: by size and mtime, else (the GGUF touched or moved) by its hash."""
    entry = lookup(name, gguf)
    if entry is not None and problem(entry) is None:
        return entry
    digest = sha256(gguf, progress)
    entry = _by_digest(name, digest)
    manifest = _read_manifest(entry) if entry.is_dir() else None
    if manifest and manifest.get("sha256") == digest and problem(entry, manifest) is None:
        return entry
    return None


def ensure(name: str, *, progress: Callable | None = None, warn: Callable[[str], None] | None = None,
           rebuild: bool = False) -> Path:
    """The cached model folder for packaged GGUF model ``name``, built if needed."""
    warn = warn or _default_warn
    gguf = gguf_path(name)
    warned = None
    entry = lookup(name, gguf)
    if entry is not None and not rebuild:
        reason = problem(entry)
        if reason is None:
            return entry
        warn(f"the cached {name} at {entry} is damaged ({reason}); rebuilding it")
        warned = entry
    digest = sha256(gguf, progress)
    entry = _by_digest(name, digest)
    if entry.exists() and not rebuild:
        manifest = _read_manifest(entry) or {}
        reason = problem(entry, manifest) if manifest else problem(entry)
        if reason is None and manifest.get("sha256") == digest:
            stat = gguf.stat()  # the same GGUF moved or touched: point the manifest at it
            manifest.update(source=str(gguf), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            try:
                _write_json_atomic(entry / MANIFEST, manifest)
            except OSError:  # a read-only cache: use the valid entry as it is (the GGUF is hashed each run)
                pass
            return entry
        if entry != warned:
            warn(f"the cached {name} at {entry} is damaged ({reason or 'built from another file'}); rebuilding it")
    if progress is None:
        from attncli.io.textsafe import visible

        sys.stderr.write(f"attncli: building the {name} cache once: dequantizing {gguf.name} into "
                         f"{visible(str(entry))} (about 20-60 s)\n")
        sys.stderr.flush()
    return build(name, gguf, digest, entry, progress=progress)


def discard(entry: Path, reason: str, warn: Callable[[str], None] | None = None) -> None:
    """Remove a cache entry that failed to load (it is rebuilt on the next load)."""
    (warn or _default_warn)(f"the cached model at {entry} cannot be loaded ({reason}); rebuilding it")
    _remove(entry)


def _remove(path: Path) -> None:
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}-removing-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


def _clean_stale(root: Path, name: str) -> None:
    now = time.time()
    for stale in root.glob(f".{name}-building-*"):
        try:
            if now - stale.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


@contextlib.contextmanager
def _quiet_tqdm(progress: Callable | None):
    """transformers' GGUF reader draws its own tqdm bar on stderr: report through ``progress`` instead."""
    try:
        module = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        yield
        return
    original = getattr(module, "tqdm", None)

    def quiet(iterable, *args, **kwargs):
        items = list(iterable)
        for done, item in enumerate(items):
            if progress is not None:
                progress("dequantizing the GGUF", done, len(items))
            yield item
        if progress is not None:
            progress("dequantizing the GGUF", len(items), len(items))

    module.tqdm = quiet
    try:
        yield
    finally:
        module.tqdm = original


def build(name: str, gguf: Path, digest: str, entry: Path, *, progress: Callable | None = None) -> Path:
    """Dequantize the GGUF with transformers and write the entry atomically."""
    from attncli.core.devices import import_torch

    root = entry.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(root).free
    except OSError as exc:
        raise AttnError(f"cannot create the model cache ({exc.strerror})", where=str(root), kind="cache",
                        code=ExitCode.FAILURE, hint="set XDG_CACHE_HOME to a writable folder") from None
    needed = 6 * gguf.stat().st_size + (16 << 20)
    if free < needed:
        raise AttnError(f"not enough disk space for the model cache: {needed >> 20} MiB needed, "
                        f"{free >> 20} MiB free", where=str(root), kind="cache", code=ExitCode.FAILURE,
                        hint="set XDG_CACHE_HOME to a folder on a larger disk")
    _clean_stale(root, name)
    torch = import_torch()
    transformers = import_transformers()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-building-", dir=root))
    except OSError as exc:  # a read-only cache folder
        raise AttnError(f"cannot write the model cache ({exc.strerror})", where=str(root), kind="cache",
                        code=ExitCode.FAILURE, hint="set XDG_CACHE_HOME to a writable folder") from None
    try:
        if progress is not None:
            progress("dequantizing the GGUF", None, None)
        try:
            with warnings.catch_warnings(), _quiet_tqdm(progress):
                warnings.simplefilter("ignore")
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(gguf.parent), gguf_file=gguf.name, local_files_only=True, trust_remote_code=False)
                model = transformers.AutoModel.from_pretrained(
                    str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager",
                    local_files_only=True, trust_remote_code=False)
        except ImportError as exc:
            raise AttnError(f"reading a GGUF needs a package that is not installed ({exc})", kind="model",
                            where=f"{option('model')} {name}", hint="pip install 'attncli[models]'") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the GGUF reader is one line
            raise AttnError(f"cannot read {gguf.name}: {str(exc).splitlines()[0] if str(exc) else type(exc)}",
                            where=f"{option('model')} {name}", kind="model") from None
        if progress is not None:
            progress("writing the cache", None, None)
        try:
            _write_entry(tmp, model, tokenizer, name, gguf, digest, transformers.__version__)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors reports a failed write as its own error type
            raise _write_reason(exc) from None
        _remove(entry)
        try:
            os.rename(tmp, entry)
        except OSError:
            if problem(entry) is None:  # another process built it meanwhile
                return entry
            raise
    except OSError as exc:
        hint = f"set XDG_CACHE_HOME to a writable folder with {max(1, needed >> 20)} MiB free"
        if exc.errno == errno.EFBIG:
            hint = f"raise the file size limit, ulimit -f: the cache writes about {max(1, needed // 6 >> 20)} MiB"
        raise AttnError(f"cannot write the model cache ({exc.strerror or exc})", where=str(root), kind="cache",
                        code=ExitCode.FAILURE, hint=hint) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


def _write_entry(tmp: Path, model, tokenizer, name: str, gguf: Path, digest: str, version: str) -> None:
    """The weights, config, tokenizer and (last) the manifest with every file's size, hash and stamp."""
    from safetensors.torch import save_file

    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = [type(model).__name__]
    config["torch_dtype"] = config["dtype"] = "float32"
    (tmp / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    tokenizer.save_pretrained(str(tmp))
    stat = gguf.stat()
    manifest = {
        "format": FORMAT, "model": name, "source": str(gguf), "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns, "sha256": digest, "transformers": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {p.name: record(p) for p in sorted(tmp.iterdir()) if p.is_file()},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def _write_reason(exc: Exception) -> OSError:
    """An OSError out of safetensors' ``Error while serializing: I/O error: File too large (os error 27)``."""
    text = str(exc)
    found = re.search(r"os error (\d+)|code: (\d+)", text)
    if found:
        number = int(found.group(1) or found.group(2))
        return OSError(number, os.strerror(number))
    return OSError(text.splitlines()[0] if text else type(exc).__name__)
