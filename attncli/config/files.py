"""Finding a config (a path, or the name of a bundled config) and reading it with a bounded read.

At most :data:`MAX_CONFIG_BYTES` + 1 bytes are ever read, from a file, a device (``/dev/zero``)
or a FIFO alike, then the config is refused: ``stat()`` alone cannot see a device's size.
"""

from __future__ import annotations

import difflib
import stat
from pathlib import Path

from attncli.config.reader import Document, config_error, parse_yaml
from attncli.errors import AttnError, option

#: A config larger than this is refused (at most this + 1 bytes are read).
MAX_CONFIG_BYTES = 2 * 1024 * 1024


def read_limited(path: Path, label: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """At most ``limit`` bytes of ``path``; a longer file, device or pipe is refused (exit 2)."""
    mib = limit / (1024 * 1024)
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise config_error(f"config file is too large ({info.st_size / 1e6:.1f} MB; the limit is {mib:g} MiB)",
                               label)
        chunks: list[bytes] = []
        got = 0
        with path.open("rb") as f:
            while got <= limit:
                chunk = f.read(min(1 << 16, limit + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except OSError as exc:
        raise config_error(f"cannot read config: {exc.strerror or exc}", label) from None
    if got > limit:
        raise config_error(f"config file is too large: more than the {mib:g} MiB limit", label,
                            "is it a device or an endless stream?")
    return b"".join(chunks)


def decode_text(raw: bytes, label: str) -> str:
    if b"\x00" in raw:
        raise config_error("not a text file (it contains NUL bytes)", label, "is this a binary file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise config_error(f"not a UTF-8 text file (byte {exc.start})", label, "is this a binary file?") from None


def bundled_dir() -> Path:
    """The folder of bundled configs: ``attncli/configs`` in a wheel, ``configs/`` in a checkout."""
    package = Path(__file__).resolve().parent.parent  # attncli/
    for candidate in (package / "configs", package.parent / "configs"):
        if candidate.is_dir():
            return candidate
    return package / "configs"


def bundled_names() -> list[str]:
    folder = bundled_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 80 else repr(name[:77] + "...")


def locate(name_or_path: str) -> tuple[Path, str]:
    """Resolve ``-c`` to a file: an existing path first, then a bundled name.

    Returns (path, kind) where kind is "file" or "bundled".
    """
    if not name_or_path or not name_or_path.strip():
        raise AttnError("empty config name", param="config", kind="config")
    try:
        path = Path(name_or_path).expanduser()
    except RuntimeError:  # ~nosuchuser/...: no such home folder, so no such file either
        path = Path(name_or_path)
    try:
        if path.is_dir():
            raise AttnError("is a directory, not a config file", where=f"{option('config')} {name_or_path}",
                            hint="give a .yaml file or a bundled config name", kind="config")
        if path.exists():
            return path, "file"
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise AttnError(f"cannot use {_shown(name_or_path)} as a config path: {getattr(exc, 'strerror', None) or exc}",
                        param="config", kind="config") from None
    stem = name_or_path[:-5] if name_or_path.endswith(".yaml") else name_or_path
    if "/" not in stem and "\\" not in stem and len(stem) <= 200:
        candidate = bundled_dir() / f"{stem}.yaml"
        if candidate.is_file():
            return candidate, "bundled"
    close = difflib.get_close_matches(stem, bundled_names(), n=1) if len(stem) <= 200 else []
    hint = f"did you mean {close[0]!r}?" if close else "run 'attncli config list' for the bundled configs"
    raise AttnError(f"no config file or bundled config named {_shown(name_or_path)}", param="config", hint=hint,
                    kind="config")


def read_document(name_or_path: str) -> tuple[Document, str, str]:
    """Read and parse a config. Returns (document, source label, kind)."""
    path, kind = locate(name_or_path)
    label = path.stem if kind == "bundled" else str(path)
    text = decode_text(read_limited(path, label), label)
    return parse_yaml(text, label), label, kind
