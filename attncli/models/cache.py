"""The dequantized-model cache: a packaged GGUF, turned once into a normal model folder.

transformers loads a GGUF with ``gguf_file=`` and dequantizes every tensor on each load (about
20 s on two cores for SmolLM2). The first load therefore writes the dequantized float32 weights
(safetensors), the config and the tokenizer as an ordinary model folder under
``$XDG_CACHE_HOME/attncli`` (else ``~/.cache/attncli``); later loads read that folder.

* An entry is named ``NAME-HASH16`` after the GGUF's SHA-256 and holds ``attncli-cache.json``:
  the GGUF's path, size, mtime and full SHA-256, and the size of every file written. A later
  run finds its entry by the GGUF's size and mtime (no 98 MB hash on every run); only when those
  change is the GGUF hashed again.
* Entries are written into a temporary folder beside the cache and renamed into place, with the
  manifest written last: an interrupted build never leaves an entry that looks complete.
* An entry whose manifest or files do not match is rebuilt with a warning, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from attncli.errors import AttnError, ExitCode, option

MANIFEST = "attncli-cache.json"
FORMAT = 1
STALE_BUILD_SECONDS = 3600


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "attncli"


def gguf_path(name: str) -> Path:
    """The GGUF a packaged model ships, found without importing its package."""
    from attncli.models.load import PACKAGED, _install_hint

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
    raise AttnError(f"model {name!r} is not installed", param="model", hint=_install_hint(name), kind="model")


def _default_warn(message: str) -> None:
    sys.stderr.write(f"attncli: warning: {message}\n")
    sys.stderr.flush()


def _read_manifest(entry: Path) -> dict | None:
    try:
        with open(entry / MANIFEST, "rb") as handle:
            raw = handle.read(65537)
        doc = json.loads(raw.decode("utf-8")) if len(raw) <= 65536 else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def problem(entry: Path) -> str | None:
    """Why a cache entry cannot be used, or None when it is complete."""
    manifest = _read_manifest(entry)
    if manifest is None:
        return "its manifest is missing or unreadable"
    files = manifest.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files or "config.json" not in files:
        return "its manifest lists no model files"
    for name, size in files.items():
        path = entry / name
        if "/" in name or not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, not {size}"
    return None


def sha256(path: Path, progress: Callable | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("hashing the GGUF", done, total)
    return digest.hexdigest()


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
    entry = cache_root() / f"{name}-{digest[:16]}"
    if entry.exists() and not rebuild:
        reason = problem(entry)
        manifest = _read_manifest(entry) or {}
        if reason is None and manifest.get("sha256") == digest:
            stat = gguf.stat()  # the same GGUF moved or touched: point the manifest at it
            manifest.update(source=str(gguf), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            _write_json_atomic(entry / MANIFEST, manifest)
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


def _write_json_atomic(path: Path, doc: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    from attncli.models.load import _transformers

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
    transformers = _transformers()
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-building-", dir=root))
    try:
        if progress is not None:
            progress("dequantizing the GGUF", None, None)
        try:
            with warnings.catch_warnings(), _quiet_tqdm(progress):
                warnings.simplefilter("ignore")
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
                model = transformers.AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                               dtype=torch.float32, attn_implementation="eager")
        except ImportError as exc:
            raise AttnError(f"reading a GGUF needs a package that is not installed ({exc})", kind="model",
                            where=f"{option('model')} {name}", hint="pip install 'attncli[models]'") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the GGUF reader is one line
            raise AttnError(f"cannot read {gguf.name}: {str(exc).splitlines()[0] if str(exc) else type(exc)}",
                            where=f"{option('model')} {name}", kind="model") from None
        if progress is not None:
            progress("writing the cache", None, None)
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
            "mtime_ns": stat.st_mtime_ns, "sha256": digest, "transformers": transformers.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _remove(entry)
        try:
            os.rename(tmp, entry)
        except OSError:
            if problem(entry) is None:  # another process built it meanwhile
                return entry
            raise
    except OSError as exc:
        raise AttnError(f"cannot write the model cache ({exc.strerror or exc})", where=str(root), kind="cache",
                        code=ExitCode.FAILURE, hint="set XDG_CACHE_HOME to a writable folder") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry
