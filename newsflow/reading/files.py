"""The one bounded, gzip-safe way to read an input file.

Every input file goes through ``open_input``: it opens the path without blocking, checks on
the open descriptor (not the name, which could be swapped in between) that it is a regular
file, and only then reads. A FIFO would otherwise hang the reader forever, ``/dev/zero`` or
``/dev/urandom`` would never end, and a directory cannot be read at all; all three are
refused with a reason.

A file is gunzipped when its bytes start with the gzip magic number, whatever its name (a
``.warc.gz`` that a download tool already inflated is read as it is), and never more than
the caller's limit is held in memory: the decompressed stream is read one byte past the
limit, so a gzip bomb (a gigabyte of zeros in a megabyte) costs the limit, not the
gigabyte. Failures are ``SourceError`` values of the produce stage's
vocabulary (missing, unreadable, oversized), so one bad file costs only itself.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from io import BufferedIOBase
from pathlib import Path

from newsflow.reading.decode import whole_chars
from schemas.failures import SourceError, describe
from schemas.reasons import ProduceReason

_GZIP_MAGIC = b"\x1f\x8b"
# Errors reading (or inflating) a file: damaged archives raise all of these.
READ_ERRORS = (OSError, EOFError, zlib.error)

#: How many times its compressed size a gzipped input read as a stream (a web archive, JSON
#: Lines) may inflate to, beyond the first ``max_input_bytes``. Text compresses 3 to 10 times
#: (the dev corpora's HTML 5.6, JSON Lines of news about 4); a bomb, a thousand.
MAX_INFLATION = 100


class Inflated(OSError):
    """A compressed stream that inflates far beyond its size: a decompression bomb."""


class _BoundedGzip(gzip.GzipFile):
    """A gzip stream that refuses (``Inflated``) to inflate more than ``MAX_INFLATION`` times
    the compressed bytes read so far, plus ``allowance``.

    A web archive or JSON Lines file is read as a stream, so no total limit applies; each
    record or line is bounded, but their number is not: 97 KB of gzip held 100 MB of blank
    lines (42 s to read), and 87 KB 30 million "{}" lines, each a rejection.
    """

    def __init__(self, fh: BufferedIOBase, allowance: int) -> None:
        super().__init__(fileobj=fh, mode="rb")
        self._compressed = fh
        self._allowance = allowance
        self._inflated = 0
        # What may be inflated before the compressed position is asked again: it only
        # grows, so a line-by-line reader asks rarely.
        self._bound = allowance

    def _count(self, data: bytes) -> bytes:
        self._inflated += len(data)
        if self._inflated > self._bound:
            compressed = self._compressed.tell()
            self._bound = MAX_INFLATION * compressed + self._allowance
            if self._inflated > self._bound:
                raise Inflated(
                    f"{self._inflated} bytes from the first {compressed} compressed, over "
                    f"{MAX_INFLATION} times: a decompression bomb, not read further"
                )
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._count(super().read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._count(super().read1(size))

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(super().readline(size))

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) == (0, 0):
            self._inflated, self._bound = 0, self._allowance
        return super().seek(offset, whence)


# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
# O_NOCTTY: a terminal device given as input must not become our controlling terminal.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def path_text(path: str | os.PathLike[str]) -> str:
    """A file's path as text that every message and output can carry: the bytes of a name
    that are not UTF-8 (a Latin-1 name on a Linux disk) as ``\\xNN`` escapes.

    Python hands such a name over with each undecodable byte as a lone surrogate, which no
    JSON message can encode: one file so named stopped a whole `newsflow produce` run.
    """
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to: typed, not read
        return whole_chars(os.fspath(path))


def _kind(mode: int) -> str:
    """What a non-regular file is, in words, for the rejection's reason."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path) -> tuple[BufferedIOBase, int]:
    """``path`` opened for binary reading and its size, if it is a readable regular file.

    Raises ``SourceError`` (missing, unreadable) otherwise. The check is made with
    ``fstat`` on the descriptor that is then read, so nothing can be swapped in between.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise SourceError(ProduceReason.MISSING, "no such file") from None
    except OSError as exc:
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(ProduceReason.UNREADABLE, f"{_kind(st.st_mode)}, not a regular file")
        # A regular file never blocks; clear the flag so reads behave as usual.
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle, st.st_size


def _is_gzip(fh: BufferedIOBase) -> bool:
    """Whether the file holds gzip data, by its first two bytes (rewinds).

    Not by a ``.gz`` name: an archive saved inflated under its old name was refused as "Not
    a gzipped file", though its bytes were all there.
    """
    magic = fh.read(2)
    fh.seek(0)
    return magic == _GZIP_MAGIC


def open_input(path: Path, allowance: int) -> tuple[BufferedIOBase, bool]:
    """A regular file opened for binary reading, gunzipped transparently, and whether it was
    compressed. Raises ``SourceError`` when it is missing, not a regular file or unreadable.

    The caller bounds how much it reads at once; a compressed stream is inflated only as far
    as read, and past ``allowance`` bytes at most ``MAX_INFLATION`` times the compressed bytes
    read (else ``Inflated``, one of ``READ_ERRORS``).
    """
    fh, _ = open_regular(path)
    try:
        if _is_gzip(fh):
            return _BoundedGzip(fh, allowance), True
    except OSError as exc:
        fh.close()
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    return fh, False


def read_input(path: Path, max_bytes: int) -> bytes:
    """The whole content of a file (gunzipped), refusing more than ``max_bytes``."""
    fh, size = open_regular(path)
    with fh:
        try:
            compressed = _is_gzip(fh)
            # Compressed too: a gzip over the limit is a document over it, or a file of empty
            # members or a huge header to plough through (200 MB of them took 32 s).
            if size > max_bytes:
                what = "bytes compressed" if compressed else "bytes"
                raise SourceError(ProduceReason.OVERSIZED, f"{size} {what} > limit {max_bytes}")
            stream: BufferedIOBase = gzip.GzipFile(fileobj=fh, mode="rb") if compressed else fh
            # One byte past the limit tells "too large" from "exactly the limit"; the gzip
            # reader inflates only as much as is asked for.
            data = stream.read(max_bytes + 1)
        except READ_ERRORS as exc:
            raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    if len(data) > max_bytes:
        where = " once decompressed" if compressed else ""
        raise SourceError(ProduceReason.OVERSIZED, f"more than {max_bytes} bytes{where}")
    return data


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """``data`` inflated if it is gzip (by its magic number), never more than ``max_bytes``.

    For bytes that arrived some other way than a file (a ``.xml.gz`` sitemap over HTTP); a
    gzip bomb stops at the limit.
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    if len(out) > max_bytes:
        raise SourceError(ProduceReason.OVERSIZED, f"more than {max_bytes} bytes once decompressed")
    return out


def read_line(fh: BufferedIOBase, limit: int) -> tuple[bytes, bool]:
    """The next line of ``fh`` (at most ``limit`` bytes kept) and whether it was longer."""
    line = fh.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, False
    # Too long: skip to the end of the line without holding it in memory.
    while True:
        rest = fh.readline(1 << 20)
        if not rest or rest.endswith(b"\n"):
            return line, True
