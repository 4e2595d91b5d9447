"""SIGTERM and SIGHUP handled as Ctrl-C is: an exception, so that every cleanup runs, then 128 + N.

Python turns SIGINT into KeyboardInterrupt, and every ``atomic_open`` and spool removes its
temporary file on the way out; SIGTERM and SIGHUP would kill the process where it stands and
leave ``.attncli-XXXX.tmp`` behind. :func:`install` makes them raise :class:`Terminated` (a
KeyboardInterrupt, so the same cleanup code catches it), and the boundary exits with
``exit_code`` (143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C). :func:`held` defers all three
over a block that must not be cut in half (copying a finished document to stdout).

Nothing here imports torch, Rich or Typer.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from attncli.errors import ExitCode

#: The signals that end attncli cleanly: Ctrl-C, ``kill``, a closed terminal.
HANDLED = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                if s is not None)
NAMES = {signal.SIGINT: "interrupted", getattr(signal, "SIGTERM", -1): "terminated (SIGTERM)",
         getattr(signal, "SIGHUP", -2): "hung up (SIGHUP)"}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_code(exc: BaseException) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + exc.signum if isinstance(exc, Terminated) else int(ExitCode.INTERRUPTED)


def message(exc: BaseException) -> str:
    """``interrupted`` for Ctrl-C (as before), ``terminated (SIGTERM)``, ``hung up (SIGHUP)``."""
    return NAMES.get(exc.signum, "terminated") if isinstance(exc, Terminated) else "interrupted"


def _raise(signum: int, frame) -> None:
    raise Terminated(signum)


def install() -> None:
    """SIGTERM and SIGHUP raise Terminated (only where nobody set a handler: SIG_DFL)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        if signum == signal.SIGINT:
            continue
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _raise)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP during the block and deliver the first afterwards (main thread only).

    Blocking the signals with a mask is not enough: torch's threads would take them. The Python
    handler always runs in the main thread, so it is swapped for one that only takes note.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old: dict[int, object] = {}
    try:
        for signum in HANDLED:
            old[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    except (ValueError, OSError):
        for signum, handler in old.items():
            signal.signal(signum, handler)
        yield
        return
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
    if caught:
        signum = caught[0]
        handler = old[signum]
        if callable(handler):
            handler(signum, None)  # the default SIGINT handler raises KeyboardInterrupt, ours Terminated
        elif handler == signal.SIG_DFL:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.raise_signal(signum)  # nobody handles it: the default action, as if never held
