"""Reading and writing users' files without tracebacks and without damage.

``text_lines`` yields the numbered lines of a UTF-8 text file (a leading byte-order mark is
dropped) and names the file and line of any byte that is not UTF-8. ``atomic_write``
writes to a temporary file in the target's directory and renames it over the target only
once everything was written, so a failed or interrupted run leaves an existing file as it
was. Both turn file-system problems into ``InvalidInput`` errors that name the file.

>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_write(target) as stream:
...     _ = stream.write("first\\n")
>>> with text_lines(target, "output") as (lines, name):
...     list(lines)
[(1, 'first\\n')]
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import InvalidInput

Source = str | Path | IO[str]
Lines = Iterator[tuple[int, str]]


def _read_error(what: str, path: Path, exc: OSError) -> InvalidInput:
    if isinstance(exc, FileNotFoundError):
        return InvalidInput(f"{what} file not found: {path}")
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return InvalidInput(f"{what} file {path} is a directory; give the path of a file")
    if isinstance(exc, PermissionError):
        return InvalidInput(f"cannot read {what} file {path}: permission denied")
    return InvalidInput(f"cannot read {what} file {path}: {exc.strerror or exc}")


def _binary_lines(stream: IO[bytes], name: str) -> Lines:
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            column = exc.start + 1 - (3 if number == 1 and raw.startswith(b"\xef\xbb\xbf") else 0)
            raise InvalidInput(
                f"{name}:{number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                f"{column}); convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
            ) from None


def _text_lines(stream: IO[str], name: str) -> Lines:
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            yield number, line.removeprefix("\ufeff") if number == 1 else line
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not valid UTF-8 after line {number}") from None


@contextmanager
def text_lines(source: Source, what: str) -> Iterator[tuple[Lines, str]]:
    """``(numbered lines, name)`` of a UTF-8 text file (path) or an open text stream.

    ``what`` names the file's role in error messages (``"run"``: "run file not found: x").
    """
    if not isinstance(source, (str, Path)):
        name = str(getattr(source, "name", f"<{what}>"))
        yield _text_lines(source, name), name
        return
    path = Path(source)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise _read_error(what, path, exc) from None
    with stream:
        yield _binary_lines(stream, str(path)), str(path)


def check_output_path(path: str | Path, what: str) -> Path:
    """``path`` if a file can be written there, else ``InvalidInput`` naming the fix.

    ``what`` names the option in messages (``"--html"``). Call it before a long run so a
    typo in an output path fails at once, not after the work.

    >>> try:
    ...     check_output_path("/nope/r.trec", "-o")
    ... except InvalidInput as exc:
    ...     print(exc)
    cannot write -o /nope/r.trec: directory /nope does not exist; create it first (mkdir -p /nope)
    """
    target = Path(path)
    if not str(path):
        raise InvalidInput(f"{what}: empty output path")
    if target.is_dir():
        raise InvalidInput(f"cannot write {what} {target}: it is a directory; give a file path "
                           f"such as {target / 'out.txt'}")
    parent = target.parent
    if not parent.is_dir():
        reason = "is not a directory" if parent.exists() else "does not exist"
        raise InvalidInput(f"cannot write {what} {target}: directory {parent} {reason}; "
                           f"create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot write {what} {target}: directory {parent} is not writable")
    return target


def _new_file_mode(target: Path) -> int:
    """The mode the target would get from ``open(target, "w")``: kept when it exists."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | Path, what: str = "output") -> Iterator[IO[str]]:
    """A UTF-8 text stream whose content replaces ``path`` only when the block succeeds.

    The stream writes a temporary file in the target's directory (same file system), which
    is renamed over the target at the end; on any exception it is deleted and the target
    stays as it was. A target that exists and is not a regular file (``/dev/null``, a pipe)
    is written directly.
    """
    target = check_output_path(path, what)
    if target.exists() and not target.is_file():
        with target.open("w", encoding="utf-8") as direct:
            yield direct
        return
    target = target.resolve()  # through a symlink: replace the file, keep the link
    mode = _new_file_mode(target)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".tmp")
    except OSError as exc:
        raise InvalidInput(f"cannot write {what} {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextmanager
def output_stream(path: str) -> Iterator[IO[str]]:
    """stdout for ``-``, else an atomic writer (the file is replaced only on success)."""
    if path == "-":
        yield sys.stdout
        return
    with atomic_write(path, "-o") as stream:
        yield stream


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one existing file (``-o`` onto ``-i``)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
