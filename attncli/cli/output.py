"""The one output path: an Environment that owns stdout, stderr and their consoles.

Every command ends in :meth:`Environment.emit` (one document: the JSON, or the view, and
``--save``) or in a :class:`Batch` (``--file``: JSON Lines or one view per line, error records,
progress bar, streamed ``--save``). Errors become one line on stderr in
:func:`attncli.cli.boundary.guarded`, the one boundary every command body runs in (as httpie's
``core.main`` does).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable


from attncli.errors import AttnError
from attncli.cli.hints import fit_error
from attncli.io.textsafe import visible
from attncli.core.numbers import plural

#: A single JSON document is spooled in memory up to this size, then on disk, before it reaches stdout.
SPOOL_BYTES = 32 * 2**20
#: --save of the views of a batch (svg, html, txt) holds every view: refused past this many lines.
MAX_SAVED_VIEWS = 1000


def console_colors(color: bool | None, environ=None) -> dict:
    """Console arguments for --color / --no-color and the environment's color settings.

    Precedence (docs/views.md): ``--color`` / ``--no-color`` win over the environment (no-color.org:
    NO_COLOR is a default that a flag overrides); then NO_COLOR (set and not empty: no color),
    which wins over FORCE_COLOR; then FORCE_COLOR (color even through a pipe); then the terminal. The color system: COLORTERM=truecolor (or 24bit) gives truecolor;
    FORCE_COLOR=2 or 3 ask for 256 colors or truecolor; TERM=*-256color gives 256; else
    FORCE_COLOR=1 gets 16 colors (force-color.org) and --color truecolor.
    """
    environ = os.environ if environ is None else environ
    if color is False:
        return {"no_color": True, "color_system": None}
    force = environ.get("FORCE_COLOR", "")
    if color is None and not force:
        return {}
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        system = "truecolor"
    elif force in ("2", "3") and color is None:
        system = "256" if force == "2" else "truecolor"
    elif environ.get("TERM", "").endswith("256color"):
        system = "256"
    else:
        system = "standard" if force == "1" and color is None else "truecolor"
    if environ.get("NO_COLOR") and color is None:
        return {}
    # Rich reads NO_COLOR itself: --color says no_color=False so that the flag wins
    return {"force_terminal": True, "color_system": system, **({"no_color": False} if color else {})}


class Environment:
    """stdout, stderr and stdin and their consoles for one command (no module globals).

    The consoles are built on the streams given (``sys.*`` by default, as httpie's context does),
    so a test runs a command body with ``io.StringIO()`` streams and finds the output in them.
    Everything written to stdout goes through :class:`attncli.io.streams.EncodedOutput`: on a
    stream that is not UTF-8, JSON is escaped to ASCII and views use ASCII glyphs.
    """

    def __init__(self, *, stdout=None, stderr=None, stdin=None, as_json: bool = False,
                 debug: bool = False, color: bool | None = None) -> None:
        from attncli.io.streams import ClosedStream, EncodedOutput

        stdout = stdout if stdout is not None else sys.stdout
        self.stdout = EncodedOutput(stdout if stdout is not None else ClosedStream("stdout", strict=True),
                                    json=as_json)
        self.stderr = stderr if stderr is not None else sys.stderr
        self.stdin = stdin if stdin is not None else sys.stdin
        self.debug = debug
        self.color = color  # --color / --no-color; None: the terminal and NO_COLOR / FORCE_COLOR decide
        self._as_json = as_json
        self._out_console = None
        self._err_console = None
        self.live = None  # the stderr console of a progress bar on screen: messages print above it
        #: True once the reader of stdout went away (``| head -1``): the rest of stdout is dropped.
        self.reader_left = False

    @property
    def as_json(self) -> bool:
        return self._as_json

    @as_json.setter
    def as_json(self, value: bool) -> None:
        self._as_json = value
        self.stdout.json = value

    # -- consoles
    def make_stderr_console(self):
        from rich.console import Console

        stream = self.stderr if self.stderr is not None else io.StringIO()  # no stderr: messages go nowhere
        return Console(file=stream, highlight=False)

    @property
    def out(self):
        """Data goes here. Rich turns color off when stdout is not a terminal, and honours NO_COLOR."""
        if self._out_console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:  # Rich would exit 1; the boundary ends quietly with 0
                    raise BrokenPipeError

            self._out_console = _Console(file=self.stdout, highlight=False, **console_colors(self.color))
        return self._out_console

    @property
    def err(self):
        if self.live is not None:
            return self.live
        if self._err_console is None:
            self._err_console = self.make_stderr_console()
        return self._err_console

    def stdin_binary(self):
        """stdin as bytes (``--file -``): its buffer, or a text stream (a test's StringIO) read as UTF-8."""
        from attncli.io.textio import binary_of

        return binary_of(self.stdin)

    def stop_stdout(self) -> None:
        """The reader left (a broken pipe): point stdout at /dev/null, so nothing more can fail there."""
        self.reader_left = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            return
        try:
            os.dup2(devnull, self.stdout.fileno())
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass
        finally:
            os.close(devnull)

    def _json_line(self, doc: dict) -> str:
        from attncli.io.textsafe import is_utf8

        return json.dumps(doc, ensure_ascii=not is_utf8(getattr(self.stderr, "encoding", None))) + "\n"

    # -- messages
    def report(self, error: AttnError, *, prefix: str = "") -> None:
        """One line (and any further problems) on stderr; with --json also a JSON object line."""
        from rich.markup import escape

        if self.stderr is None or getattr(self.stderr, "closed", False):
            return
        error = fit_error(error)  # a hint names only options this command has
        self.err.print(f"[bold red]attncli: error:[/] {escape(visible(prefix + error.line()))}", soft_wrap=True)
        for extra in error.details[:20]:
            self.err.print(f"  {escape(visible(extra))}", soft_wrap=True)
        if len(error.details) > 20:
            self.err.print(f"  ... and {len(error.details) - 20} more problems", soft_wrap=True)
        if self.as_json:
            self.stderr.write(self._json_line({"error": error.to_dict()}))
            self.stderr.flush()

    def warn(self, message: str) -> None:
        """One line on stderr, ``attncli: warning: ...``, with ``--json`` too: never repeated as a JSON
        line (stdout is the document, stderr is for people; only an error adds its JSON object line)."""
        from rich.markup import escape

        self.err.print(f"[yellow]attncli: warning:[/] {escape(visible(message))}", soft_wrap=True)

    def note_encoding(self) -> None:
        """After a view on a stdout that is not UTF-8: one warning if some characters became ``?``."""
        if getattr(self.stdout, "adapted", False):
            self.stdout.adapted = False
            self.warn(f"stdout's encoding ({self.stdout.encoding}) cannot show every character: "
                      "they are shown as '?' (set PYTHONIOENCODING=utf-8, or use --json)")

    def warn_record(self, record, where: str | None = None, *, unknown: bool = True) -> None:
        """A record's warnings: unknown tokens (unless a batch gathers them), left-out matrices, model notes."""
        prefix = f"{where}: " if where else ""
        if unknown:
            self.warn_unknown([t for t, missing in zip(record.tokens, record.oov) if missing], prefix)
        for note in record.warnings:
            self.warn(prefix + note)

    def warn_unknown(self, tokens: list[str], prefix: str = "", lines: int | None = None) -> None:
        """One line naming the out-of-vocabulary tokens (the first 20 of them)."""
        names = list(dict.fromkeys(tokens))
        if not names:
            return
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        where = f" (in {plural(lines, 'line')}, the first here)" if lines else ""
        self.warn(f"{prefix}not in the vocabulary, given stable hashed vectors{where}: {shown}")

    # -- one document
    def emit(self, doc: Any, out, make_view: Callable[[int], Any] | None) -> None:
        """The one way a command prints one document: the JSON, or the view; and ``--save``.

        The JSON (its arrays possibly lazy) is written in full to a spool first, so stdout gets a
        whole document or nothing (an error or Ctrl-C midway leaves stdout empty).
        """
        from attncli.io.fileio import SpooledOutput
        from attncli.documents.jsonout import materialize, stream_json

        from attncli.render.export import is_json

        save_json = out.save is not None and is_json(out.save)
        with SpooledOutput(SPOOL_BYTES) as spool:
            if out.json or save_json:
                stream_json(doc, spool.write)
                spool.write("\n")
            renderable = None
            if make_view is not None and (not out.json or (out.save is not None and not save_json)):
                renderable = make_view(materialize(doc), self.out.width)
            if out.save is not None:
                from attncli.render.export import render_to

                if save_json:
                    from attncli.io.fileio import atomic_open

                    with atomic_open(out.save, where="--save") as handle:
                        spool.commit(handle)
                else:
                    render_to(out.save, renderable, "")
            if out.json:
                spool.commit(self.stdout)
            elif renderable is not None:
                self.out.print(renderable)
        if out.save is not None:
            self.note_saved(out.save)

    def note_saved(self, path: Path) -> None:
        """``attncli: saved out.svg (12 KB)`` on stderr once a --save file is in place (with --json too)."""
        try:
            size = path.stat().st_size
        except OSError:
            return
        amount = f"{size} bytes" if size < 1024 else (f"{size / 1024:.0f} KB" if size < 2**20 else
                                                      f"{size / 2**20:.1f} MB")
        self.err.print(f"attncli: saved {visible(str(path))} ({amount})", soft_wrap=True, highlight=False,
                       markup=False)

    # -- progress
    @contextmanager
    def progress(self, total: int | None, *, views_on_stdout: bool):
        """A progress bar on stderr while a batch runs (only on a terminal, never over views on the same one)."""
        show = (self.err.is_terminal and (total is None or total > 1)
                and not (views_on_stdout and self.out.is_terminal))
        if not show:
            yield lambda: None
            return
        from rich.progress import Progress

        bar = Progress(console=self.err, transient=True, redirect_stdout=False, redirect_stderr=False)
        task = bar.add_task("running", total=total)
        bar.start()
        self.live = self.err
        try:
            yield lambda: bar.advance(task)
        finally:
            bar.stop()
            self.live = None


def check_save(path: Path, env: Environment | None = None) -> None:
    """Before any output: --save names a format we write, in a folder that exists and can be written.

    The target is a regular file or a new name (never a FIFO or a device); a symbolic link is
    written through, and ``env`` says so: which file will get the output.
    """
    from attncli.io.fileio import check_target, check_writable
    from attncli.render.export import check_path

    check_path(path)
    check_writable(path, "--save")  # tries a file for real: root, read-only mounts and full inode tables too
    target = check_target(path, "--save")
    if target is not None and env is not None:
        env.warn(f"--save: {str(path)!r} is a symbolic link: writing its target {str(target)!r}")


class Flusher:
    """Flush the first record at once, then at most every ``interval`` seconds (JSON Lines)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.last: float | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def parse_include(values: list[str], choices: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in choices:
                raise AttnError(f"unknown value {part!r}", where="--include",
                                hint="expected one of " + ", ".join(choices))
            found.add(part)
    return found
