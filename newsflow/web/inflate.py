"""An HTTP body's Content-Encoding, decoded without ever holding more than a limit.

httpx decodes gzip, deflate, brotli and zstd (when installed), stacked codings too, and
inflates each network chunk whole before the caller sees a byte: a 705-byte answer with
``Content-Encoding: gzip, gzip`` or a 9.6 KB zstd one became ~700 MB in the fetch worker
before the size limit was checked. The crawler now asks for gzip and deflate only, reads the
raw bytes, and decodes them here with zlib's output bound (``max_length``): at most the
limit plus one byte is ever produced, however small the input.
"""

from __future__ import annotations

import zlib

#: What the crawler's requests offer (anything else in an answer is refused).
ACCEPT_ENCODING = "gzip, deflate"

_GZIP = frozenset({"gzip", "x-gzip"})


class EncodingRefused(ValueError):
    """A body whose Content-Encoding the crawler does not decode, or that is not valid."""


def codings(content_encoding: str | None) -> list[str]:
    """The codings a Content-Encoding header lists, in order, ``identity`` left out."""
    parts = (c.strip().lower() for c in (content_encoding or "").split(","))
    return [c for c in parts if c and c != "identity"]


class BoundedDecoder:
    """Decodes one body's chunks as they arrive; ``over`` turns True once the decoded body
    is longer than ``limit`` (the bytes returned then stop at ``limit + 1`` in all)."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        found = codings(content_encoding)
        if len(found) > 1:
            raise EncodingRefused(f"stacked Content-Encoding {', '.join(found)}")
        if found and found[0] not in _GZIP and found[0] != "deflate":
            raise EncodingRefused(f"unsupported Content-Encoding {found[0]}")
        self.coding = found[0] if found else None
        self.limit = limit
        self.size = 0
        self.over = False
        self._inflater = self._new()
        self._started = False
        self._trailer = False

    def _new(self) -> zlib._Decompress | None:
        if self.coding is None:
            return None
        if self.coding in _GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj()  # deflate: zlib-wrapped as RFC 9110 says...

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next raw chunk (nothing once ``over``)."""
        if self.over or not data:
            return b""
        if self.coding is None:
            room = self.limit + 1 - self.size
            out = data[:room]
        elif self._inflater is None:
            return b""  # past the end of the last gzip member
        else:
            out = self._inflate(data)
        self.size += len(out)
        self.over = self.size > self.limit
        return out

    def _inflate(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            inflater = self._inflater
            assert inflater is not None
            room = self.limit + 1 - self.size - len(out)
            if room <= 0:
                break
            try:
                out += inflater.decompress(data, room)
            except zlib.error as exc:
                if self._trailer:
                    self._inflater = None  # bytes after the last gzip member: ignored
                    break
                if self.coding == "deflate" and not self._started:
                    # ...but some servers send raw deflate without the zlib wrapper.
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise EncodingRefused(f"the body is not valid {self.coding}: {exc}") from None
            self._started = True
            self._trailer = False
            if inflater.unconsumed_tail:
                break  # the output bound was reached with input left: over the limit
            if inflater.eof and inflater.unused_data:
                # Another gzip member follows (concatenated members are one body).
                data = inflater.unused_data
                self._inflater = self._new()
                self._trailer = True  # until it decodes: padding after a body is not an error
                continue
            break
        return bytes(out)
