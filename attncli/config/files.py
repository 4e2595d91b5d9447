"""Finding a config: a path, or the name of a bundled config; reading it with every guard."""

from __future__ import annotations

import difflib
from pathlib import Path

from attncli.config.reader import Document, decode_text, parse_yaml, read_limited
from attncli.errors import AttnError


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


def locate(name_or_path: str) -> tuple[Path, str]:
    """Resolve ``-c`` to a file: an existing path first, then a bundled name.

    Returns (path, kind) where kind is "file" or "bundled".
    """
    if not name_or_path or not name_or_path.strip():
        raise AttnError("empty config name", where="--config", kind="config")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        raise AttnError(
            "is a directory, not a config file", where=f"--config {name_or_path}",
            hint="give a .yaml file or a bundled config name", kind="config",
        )
    if path.exists():
        return path, "file"
    stem = name_or_path[:-5] if name_or_path.endswith(".yaml") else name_or_path
    if "/" not in stem and "\\" not in stem:
        candidate = bundled_dir() / f"{stem}.yaml"
        if candidate.is_file():
            return candidate, "bundled"
    close = difflib.get_close_matches(stem, bundled_names(), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "run 'attncli config list' for the bundled configs"
    raise AttnError(f"no config file or bundled config named {name_or_path!r}", where="--config", hint=hint,
                    kind="config")


def read_document(name_or_path: str) -> tuple[Document, str, str]:
    """Read and parse a config. Returns (document, source label, kind)."""
    path, kind = locate(name_or_path)
    label = path.stem if kind == "bundled" else str(path)
    text = decode_text(read_limited(path, label), label)
    return parse_yaml(text, label), label, kind
