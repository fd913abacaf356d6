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
        # deflate: zlib-wrapped (RFC 9110) or raw, told by its first two bytes, held till then.
        self._head = b""
        self._inflater: zlib._Decompress | None = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if self.coding in _GZIP else None
        )
        # After a gzip member ends: bytes that fail to decode before the next member gives
        # any output are padding (or a broken extra member), not an error.
        self._after_member = False

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next raw chunk (nothing once ``over``)."""
        if self.over or not data:
            return b""
        if self.coding is None:
            room = self.limit + 1 - self.size
            out = data[:room]
        else:
            if self.coding == "deflate" and self._inflater is None:
                data = self._head + data
                if len(data) < 2:
                    self._head = data
                    return b""
                self._inflater = zlib.decompressobj(
                    zlib.MAX_WBITS if _zlib_header(data) else -zlib.MAX_WBITS
                )
            out = self._inflate(data) if self._inflater is not None else b""
        self.size += len(out)
        self.over = self.size > self.limit
        return out

    def _inflate(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            inflater = self._inflater
            if inflater is None:
                break  # past the end of the body
            room = self.limit + 1 - self.size - len(out)
            if room <= 0:
                break
            try:
                produced = inflater.decompress(data, room)
            except zlib.error as exc:
                if self._after_member:
                    self._inflater = None
                    break
                raise EncodingRefused(f"the body is not valid {self.coding}: {exc}") from None
            out += produced
            if produced:
                self._after_member = False
            if inflater.unconsumed_tail:
                break  # the output bound was reached with input left: over the limit
            if inflater.eof:
                if self.coding not in _GZIP:
                    self._inflater = None
                    break
                # Another gzip member may follow (concatenated members are one body).
                data = inflater.unused_data
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._after_member = True
                continue
            break
        return bytes(out)


def _zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts with a zlib header (RFC 1950: deflate method, checksum)."""
    return data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
