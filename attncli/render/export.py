"""``--save PATH``: the same view written to a file, the format chosen by the extension."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console, RenderableType

from attncli.errors import AttnError, option

#: A document's JSON: .json, or JSON Lines (.jsonl, .ndjson: a batch's records, one a line; one document is one line).
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
FORMATS = (".svg", ".html", ".txt") + JSON_SUFFIXES


def is_json(path: Path) -> bool:
    return path.suffix.lower() in JSON_SUFFIXES


def check_path(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AttnError(f"cannot tell the format of {str(path)!r}", param="save",
                        hint="use a name ending in " + ", ".join(FORMATS))
    if path.parent and not path.parent.exists():
        raise AttnError(f"folder {str(path.parent)!r} does not exist", param="save")
    return suffix


def _export(renderable: RenderableType | None, suffix: str, width: int, title: str) -> str:
    """SVG (every character placed, see svg.py), HTML (a dark page, the same colors) or plain text."""
    if suffix == ".svg":
        from attncli.render.svg import export_svg

        return export_svg(renderable, width=width, title=title)
    console = Console(record=True, file=io.StringIO(), width=width, force_terminal=True,
                      color_system="truecolor", highlight=False, height=60)
    console.print(renderable)
    if suffix == ".html":
        from attncli.render.svg import THEME

        return console.export_html(theme=THEME, inline_styles=True)
    return console.export_text()


def render_to(path: Path, renderable: RenderableType | None, json_text: str, *, width: int = 100,
              title: str = "attncli") -> None:
    """Write atomically: a temporary file renamed into place, never a half-written one."""
    suffix = check_path(path)
    if suffix in JSON_SUFFIXES:
        content = json_text + "\n"
    else:
        content = _export(renderable, suffix, width, title)
    from attncli.io.fileio import atomic_write

    atomic_write(path, lambda handle: handle.write(content), where=option("save"))  # temp file removed on failure


def write_streamed(path: Path, produce) -> None:
    """Write a document that ``produce(write)`` streams, atomically (temporary file, then rename)."""
    from attncli.io.fileio import atomic_open

    check_path(path)
    with atomic_open(path, where=option("save")) as handle:  # temp file removed on failure
        produce(handle.write)
        handle.write("\n")
