"""Web archive records, framed strictly: each record's declared length is checked against the
bytes that are really there, so a damaged archive never yields a cut-off or merged record.

A WARC record (ISO 28500, WARC/1.0 and 1.1) is a version line, named fields, a blank line, a
block of exactly ``Content-Length`` bytes, and a blank line (CRLF CRLF). warcio trusts the
declared length: a truncated archive ended in a short record read as whole, and a record
declaring 10 GB swallowed the records after it into one. Here a record is complete only when

- its header ends (with a blank line, within ``MAX_HEADER_BYTES``) and names a length,
- that many bytes follow, and
- right after them come the blank line and then the next record's version line (or the end).

Anything else is a ``Damaged`` record with its offset and the reason, and reading goes on at
the next version line found after the damaged record's header (a record declaring too much
hides the real next record inside its "block"; that is where it is looked for). A record
longer than the caller's limit is checked the same way but not held in memory (``Oversized``).

Offsets count bytes of the uncompressed stream (a ``.warc.gz`` is read through gzip).
Memory: at most about ``max_block`` bytes per record, plus a 64 KB read buffer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from newsflow.reading.files import READ_ERRORS
from schemas.failures import describe

#: Longest record header accepted (the fields of real records take well under 2 KB).
MAX_HEADER_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_VERSION_LINE = re.compile(rb"WARC/1\.[01]\r?\n")
# A version line at the start of a line: where the next record starts after a damaged one.
_NEXT_RECORD = re.compile(rb"\nWARC/1\.[01]\r?\n")
_BLANK = b"\r\n"


@dataclass(frozen=True)
class WarcRecord:
    """One complete, consistent record: its header fields and its whole block."""

    offset: int
    header: bytes  # the version line and fields as read, blank line included
    fields: dict[str, str]  # lower-cased names
    block: bytes

    def field(self, name: str) -> str | None:
        return self.fields.get(name.lower())

    def parsed(self) -> Any:
        """The record parsed by warcio (HTTP status, headers, decoded content stream).

        warcio sees exactly this record's bytes, so its own trust in the declared length
        cannot reach into the next record.
        """
        stream = io.BytesIO(self.header + self.block + b"\r\n\r\n")
        return next(iter(ArchiveIterator(stream)))


@dataclass(frozen=True)
class Oversized:
    """A consistent record whose block is longer than the caller's limit (not read)."""

    offset: int
    length: int
    fields: dict[str, str]


@dataclass(frozen=True)
class Damaged:
    """Bytes that are not a complete record: truncated, a wrong length, or no header."""

    offset: int
    detail: str


Item = WarcRecord | Oversized | Damaged


class _Reader:
    """A byte stream with look-ahead and push-back that counts its offset.

    A read error (a truncated or corrupt gzip stream) ends the stream like end of file and
    is kept in ``error`` for the reason of whatever it cut short.
    """

    def __init__(self, raw: BufferedIOBase) -> None:
        self._raw = raw
        self._buf = bytearray()
        self.offset = 0  # of the first unread byte
        self.ended = False
        self.error: str | None = None
        self.error_reported = False

    def _fill(self, size: int) -> None:
        while len(self._buf) < size and not self.ended:
            try:
                # read1: what one underlying read gives. A truncated gzip stream raises on
                # the read after its last good bytes, so those bytes are not lost with it.
                chunk = self._raw.read1(max(size - len(self._buf), _CHUNK))
            except READ_ERRORS as exc:
                self.error = describe(exc)
                chunk = b""
            if not chunk:
                self.ended = True
            self._buf += chunk

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return bytes(self._buf[:size])

    def read(self, size: int) -> bytes:
        self._fill(size)
        out = bytes(self._buf[:size])
        del self._buf[:size]
        self.offset += len(out)
        return out

    def readline(self, limit: int) -> bytes:
        """The next line, newline included; at most ``limit`` bytes (then no newline)."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start, limit)
            if end >= 0:
                return self.read(end + 1)
            if len(self._buf) >= limit or self.ended:
                return self.read(limit)
            start = len(self._buf)
            self._fill(len(self._buf) + 1)

    def unread(self, data: bytes) -> None:
        self._buf[:0] = data
        self.offset -= len(data)

    def read_blank(self) -> bytes:
        """Consumes the CR and LF bytes that come next; returns the first two of them (all
        a caller needs to tell a record's blank line from a stray byte).

        A chunk at a time: read byte by byte and kept whole, 195 KB of gzip holding 200 MB
        of blank lines after a record took 97 s and 429 MB.
        """
        first = bytearray()
        while True:
            self._fill(1)
            run = len(self._buf) - len(self._buf.lstrip(_BLANK))
            if not run:
                return bytes(first)
            first += self._buf[: min(run, 2 - len(first))] if len(first) < 2 else b""
            del self._buf[:run]
            self.offset += run

    def at_end(self) -> bool:
        self._fill(1)
        return not self._buf

    def skip_to_record(self) -> int:
        """Consumes bytes up to the next version line at a line start; returns how many.

        Holds only one chunk at a time, so skipping any amount of garbage is cheap.
        """
        skipped = 0
        while True:
            self._fill(_CHUNK)
            found = _NEXT_RECORD.search(self._buf)
            if found:
                skipped += len(self.read(found.start() + 1))
                return skipped
            if self.ended:
                skipped += len(self.read(len(self._buf)))
                return skipped
            # Keep a tail that could be the start of a version line split across chunks.
            keep = len(b"\nWARC/1.0\r\n") - 1
            skipped += len(self.read(max(len(self._buf) - keep, 0)))
            self._fill(len(self._buf) + _CHUNK)


def _parse_fields(lines: list[bytes]) -> dict[str, str]:
    fields: dict[str, str] = {}
    last: str | None = None
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line[:1] in (" ", "\t") and last is not None:  # a folded continuation line
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"not a header field: {line[:60]!r}")
        last = name.strip().lower()
        fields[last] = value.strip()
    return fields


def _ends_cleanly(reader: _Reader) -> tuple[bool, bytes]:
    """Whether a block just read is followed by its blank line (CRLF CRLF), or by the end of
    an intact file. Returns that and the blank bytes consumed (to push back if it was not).

    What comes after the blank line is the next record's business: bytes that are no
    record are reported on their own, and this record stays whole.
    """
    blank = reader.read_blank()
    if len(blank) >= 2:
        return True, blank
    return reader.at_end() and reader.error is None, blank


def _end_cause(reader: _Reader) -> str:
    """Why the stream ended, for the record it cut short (said once per stream)."""
    if reader.error is None:
        return "the file ends there"
    reader.error_reported = True
    return f"the compressed data ends early ({reader.error})"


def _truncated(reader: _Reader, declared: int, present: int) -> str:
    return f"declares {declared} bytes but only {present} follow its header: {_end_cause(reader)}"


def records(raw: BufferedIOBase, max_block: int) -> Iterator[Item]:
    """Every record of a WARC stream, in order, each complete, oversized or damaged.

    ``raw`` is the uncompressed stream; ``max_block`` the longest block held in memory.
    The first record must start at offset 0 (callers check the file starts with ``WARC/``).
    """
    reader = _Reader(raw)
    while True:
        reader.read_blank()
        if reader.at_end():
            if reader.error and not reader.error_reported:
                yield Damaged(reader.offset, _end_cause(reader))
            return
        offset = reader.offset
        version = reader.readline(32)
        if not _VERSION_LINE.fullmatch(version):
            reader.unread(version)
            skipped = reader.skip_to_record()
            yield Damaged(offset, f"{skipped} bytes that are not a WARC record, skipped")
            continue
        item = _one_record(reader, offset, version, max_block)
        yield item


def _one_record(reader: _Reader, offset: int, version: bytes, max_block: int) -> Item:
    lines: list[bytes] = []
    size = len(version)
    while True:
        line = reader.readline(MAX_HEADER_BYTES)
        size += len(line)
        if line in (b"\r\n", b"\n"):
            break
        if not line.endswith(b"\n") or size > MAX_HEADER_BYTES:
            ended = _end_cause(reader) if reader.at_end() else "it is too long"
            reader.skip_to_record()
            return Damaged(offset, f"the record header does not end: {ended}")
        lines.append(line)
    header = version + b"".join(lines) + line
    try:
        fields = _parse_fields(lines)
    except ValueError as exc:
        reader.skip_to_record()
        return Damaged(offset, f"bad record header: {exc}")
    declared_text = fields.get("content-length", "")
    if not declared_text.isdigit():
        reader.skip_to_record()
        what = f"an invalid Content-Length {declared_text[:30]!r}" if declared_text else "none"
        return Damaged(offset, f"the record header names no usable length ({what})")
    declared = int(declared_text)
    if declared <= max_block:
        block = reader.read(declared)
        if len(block) < declared:
            _resync(reader, block, b"")
            return Damaged(offset, _truncated(reader, declared, len(block)))
        clean, blank = _ends_cleanly(reader)
        if not clean:
            _resync(reader, block, blank)
            return Damaged(offset, f"declares {declared} bytes but no record boundary follows them")
        return WarcRecord(offset=offset, header=header, fields=fields, block=block)
    return _oversized(reader, offset, declared, max_block, fields)


def _resync(reader: _Reader, block: bytes, after: bytes) -> None:
    """After a damaged record: continue at the first version line inside what it claimed
    (``block`` and the ``after`` bytes read past it), else at the next one further on."""
    # The newline in front: a record may start right at the claimed block's first byte.
    claimed = b"\n" + block + after
    found = _NEXT_RECORD.search(claimed)
    if found:
        reader.unread(claimed[found.start() + 1 :])
    else:
        reader.skip_to_record()


def _oversized(
    reader: _Reader, offset: int, declared: int, max_block: int, fields: dict[str, str]
) -> Item:
    """Streams past a block too long to hold, keeping only what follows the first version
    line seen in it (bounded), in case the declared length turns out to be a lie."""
    remaining = declared
    tail = b""  # last bytes of the previous chunk: a version line may straddle two chunks
    held: bytearray | None = None
    dropped = False
    while remaining:
        chunk = reader.read(min(remaining, _CHUNK))
        if not chunk:
            break
        remaining -= len(chunk)
        if held is not None:
            held += chunk
        elif not dropped:
            window = tail + chunk
            found = _NEXT_RECORD.search(window)
            if found:
                held = bytearray(window[found.start() + 1 :])
            tail = window[-16:]
        if held is not None and len(held) > max_block:
            held, dropped = None, True
    if remaining:
        if held is not None:
            reader.unread(bytes(held))
        return Damaged(offset, _truncated(reader, declared, declared - remaining))
    clean, blank = _ends_cleanly(reader)
    if clean:
        return Oversized(offset, declared, fields)
    if held is not None:
        reader.unread(bytes(held) + blank)
    else:
        reader.skip_to_record()
    return Damaged(offset, f"declares {declared} bytes but no record boundary follows them")
