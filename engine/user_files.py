"""Reading a file a user named (a spec, a CSV, a bundle's files): only a regular file, and never more than a cap.

    data = read_user_file("net.json", "network file", limits().max_spec_bytes, "NETCANVAS_MAX_SPEC_MB")

`/dev/zero` would be read until memory runs out, a FIFO would block the open forever, a directory cannot be read:
each is refused with one line (a UserFileError, a NetCanvasError) before a byte is read. The size is checked from
the file's metadata before reading, and the read stops one byte past the cap, so a file that grows in between (or
a /proc file, which says it holds 0 bytes) cannot get past it either. The file is opened with O_NONBLOCK (a FIFO
swapped in after the check cannot block the open) and checked again on the open descriptor (fstat), so what is
read is the regular file that was checked.
"""

from __future__ import annotations

import os
import stat

from engine.errors import NetCanvasError

MB = 1024 * 1024
READ_CHUNK = 1024 * 1024


class UserFileError(NetCanvasError):
    """A file a user named cannot be read: missing, not a regular file, over its cap, or refused by the system."""


KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """How a message names what is at a path that is not a regular file."""
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def _too_big(what: str, path: str, size: str, max_bytes: int, cap: str) -> UserFileError:
    return UserFileError(
        f"{what} '{path}' holds {size} bytes, over the cap of {max_bytes / MB:g} MB ({max_bytes:,} bytes; {cap})"
    )


def check_regular_file(
    path: str, what: str, max_bytes: int | None = None, cap: str = "", shown: str | None = None
) -> os.stat_result:
    """The file's stat if `path` is a regular file within `max_bytes` (None: any size); UserFileError if not.
    Symbolic links are followed: what counts is the file they lead to. Messages name the file `shown` (default:
    the path; a server passes the base name, as its folders are nobody's business)."""
    shown = path if shown is None else shown
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserFileError(f"{what} '{shown}' does not exist") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise UserFileError(f"{what} '{shown}' cannot be read: {_reason(err)}") from None
    _check_stat(info, shown, what, max_bytes, cap)
    return info


def _check_stat(info: os.stat_result, path: str, what: str, max_bytes: int | None, cap: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UserFileError(f"{what} '{path}' is {kind_of(info.st_mode)}; expected a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise _too_big(what, path, f"{info.st_size:,}", max_bytes, cap)


def _reason(err: Exception) -> str:
    return (getattr(err, "strerror", None) or str(err)).rstrip(".")


def read_user_file(path: str, what: str, max_bytes: int, cap: str, shown: str | None = None) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` of them; UserFileError (one line naming
    `what`, the file as `shown` and, for size, the cap's variable `cap`) for anything else."""
    shown = path if shown is None else shown
    check_regular_file(path, what, max_bytes, cap, shown)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as err:
        raise UserFileError(f"{what} '{shown}' cannot be read: {_reason(err)}") from None
    try:
        _check_stat(os.fstat(fd), shown, what, max_bytes, cap)  # the file opened is the one checked
        return _read_at_most(fd, shown, what, max_bytes, cap)
    except OSError as err:
        raise UserFileError(f"{what} '{shown}' cannot be read: {_reason(err)}") from None
    finally:
        os.close(fd)


def _read_at_most(fd: int, path: str, what: str, max_bytes: int, cap: str) -> bytes:
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, min(READ_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:  # it grew after the check, or says less than it holds (/proc)
            raise _too_big(what, path, f"over {max_bytes:,}", max_bytes, cap)
