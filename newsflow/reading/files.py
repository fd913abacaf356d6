"""The one bounded, gzip-safe way to read an input file.

A file is gunzipped when its name ends in ``.gz`` or its bytes start with the gzip magic
number, and never more than the caller's limit is held in memory: a compressed file is read
one byte past the limit, which is how a gzip bomb is noticed without inflating all of it.
Failures are ``SourceError`` values of the produce stage's vocabulary (missing, unreadable,
oversized), so one bad file costs only itself.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

from schemas.failures import SourceError, describe
from schemas.reasons import ProduceReason

_GZIP_MAGIC = b"\x1f\x8b"
# Errors reading (or inflating) a file: damaged archives raise all of these.
READ_ERRORS = (OSError, EOFError, zlib.error)


def is_gzip(path: Path) -> bool:
    """Whether ``path`` holds gzip data, by its name or its first two bytes."""
    if path.name.lower().endswith(".gz"):
        return True
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_input(path: Path) -> io.BufferedIOBase:
    """``path`` opened for binary reading, gunzipped transparently."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return path.open("rb")


def check_regular_file(path: Path) -> int:
    """Size of ``path`` after checking it is a readable regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceError(ProduceReason.MISSING, "no such file") from None
    except OSError as exc:
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    if not path.is_file():
        raise SourceError(ProduceReason.UNREADABLE, "not a regular file")
    return st.st_size


def read_input(path: Path, max_bytes: int) -> bytes:
    """The whole content of a file (gunzipped), refusing more than ``max_bytes``."""
    size = check_regular_file(path)
    try:
        compressed = is_gzip(path)
        if not compressed and size > max_bytes:
            raise SourceError(ProduceReason.OVERSIZED, f"{size} bytes > limit {max_bytes}")
        with open_input(path) as fh:
            data = fh.read(max_bytes + 1)
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


def read_line(fh: io.BufferedIOBase, limit: int) -> tuple[bytes, bool]:
    """The next line of ``fh`` (at most ``limit`` bytes kept) and whether it was longer."""
    line = fh.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, False
    # Too long: skip to the end of the line without holding it in memory.
    while True:
        rest = fh.readline(1 << 20)
        if not rest or rest.endswith(b"\n"):
            return line, True
