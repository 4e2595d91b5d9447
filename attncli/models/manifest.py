"""A cache entry's manifest (``attncli-cache.json``): what was written, and checking it is still so.

For every file the build wrote the manifest keeps its size and SHA-256, and a stamp: the
file's inode, mtime and ctime. The kernel sets ctime on every write, truncation, chmod and
``touch`` (it cannot be set back the way mtime can), so a file whose stamp is unchanged has not
been written since it was hashed: checking it costs one ``stat``. A file whose stamp changed
(edited, touched, copied to another disk) is hashed again; when the hash still matches, the
stamp is renewed (if the cache is writable) and the entry used; otherwise the entry is damaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

MANIFEST = "attncli-cache.json"
FORMAT = 2
MAX_MANIFEST_BYTES = 1 << 20


def sha256(path: Path, progress: Callable | None = None, label: str = "hashing the GGUF") -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(label, done, total)
    return digest.hexdigest()


def stamp(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_ino, info.st_mtime_ns, info.st_ctime_ns]


def record(path: Path) -> dict:
    """What the manifest keeps about one written file."""
    return {"size": path.stat().st_size, "sha256": sha256(path), "stamp": stamp(path)}


def read(entry: Path) -> dict | None:
    try:
        with open(entry / MANIFEST, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
        doc = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_MANIFEST_BYTES else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def write_atomic(path: Path, doc: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def problem(entry: Path, manifest: dict | None = None, *, renew: bool = True) -> str | None:
    """Why a cache entry cannot be used, or None when every file is what the build wrote."""
    manifest = read(entry) if manifest is None else manifest
    if manifest is None:
        return "its manifest is missing or unreadable"
    if manifest.get("format") != FORMAT:
        return "it was written by another version of attncli"
    files = manifest.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files or "config.json" not in files:
        return "its manifest lists no model files"
    renewed = False
    for name, facts in files.items():
        path = entry / name
        if not isinstance(facts, dict) or "/" in name or name.startswith(".") or not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != facts.get("size"):
            return f"{name} has {size} bytes, not {facts.get('size')}"
        if stamp(path) == facts.get("stamp"):
            continue
        try:
            digest = sha256(path)
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror})"
        if digest != facts.get("sha256"):
            return f"{name} changed since it was written (its SHA-256 differs)"
        facts["stamp"] = stamp(path)
        renewed = True
    if renewed and renew:
        try:
            write_atomic(entry / MANIFEST, manifest)
        except OSError:  # a read-only cache: the files are verified by hash on each use instead
            pass
    return None
