"""stdout and stderr as the CLI needs them: closed ones stood in for, failed writes made reportable.

* :class:`ClosedStream` stands in for a stream the process started without (``>&-``): writing
  to it is one clear error for stdout (exit 1) and nothing at all for stderr.
* :class:`CheckedStream` wraps the real ones: a stdout that fails (``> /dev/full``) raises an
  AttnError the boundary reports; a stderr that fails drops the message, not the exit code.

Imported at start-up by ``attncli.cli.main``, so it imports nothing heavy (no tempfile, no torch).
"""

from __future__ import annotations

import io

from attncli.errors import AttnError, ExitCode


class ClosedStream(io.TextIOBase):
    """What ``sys.stdout``/``sys.stderr`` become when the process started with them closed.

    For stdout (``strict``) every write is an error, exit 1: the output cannot be delivered.
    For stderr writes vanish: messages are lost, but exit codes keep their meaning.
    """

    def __init__(self, name: str, *, strict: bool) -> None:
        super().__init__()
        self.name = name
        self.strict = strict

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self.strict and text:
            raise AttnError("closed, so the output cannot be written", where=self.name, kind="io",
                            code=ExitCode.FAILURE, hint=f"run without closing {self.name} (>&-)")
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name} is closed")


class CheckedStream:
    """The real stdout/stderr, with failed writes turned into something the CLI can report.

    stdout (``strict``): a write or flush that fails (``> /dev/full``, a disk that filled up)
    raises AttnError "cannot write the output: ..." (exit 1) instead of a bare OSError; a
    broken pipe stays a BrokenPipeError (the reader left: exit 0). stderr: a failed write is
    dropped, so that a message that cannot be shown does not change the exit code.
    Everything else (``isatty``, ``fileno``, ``encoding``, ``buffer``) is the real stream's.
    """

    def __init__(self, stream, name: str, *, strict: bool) -> None:
        self._stream = stream
        self._name = name
        self._strict = strict

    def __getattr__(self, attribute: str):
        return getattr(self._stream, attribute)

    def _failed(self, exc: OSError) -> AttnError:
        return AttnError(f"cannot write the output: {exc.strerror or exc}", where=self._name, kind="io",
                         code=ExitCode.FAILURE)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            if self._strict:
                raise self._failed(exc) from None
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            if self._strict:
                raise self._failed(exc) from None
