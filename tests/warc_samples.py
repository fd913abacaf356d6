"""Small web archives for tests: numbered HTML pages as WARC response records, as warcio
writes them, and a way to make a record lie about its length."""

from __future__ import annotations

import io
import re

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def page(number: int, words: int = 60) -> bytes:
    text = " ".join(f"word{number}x{i}" for i in range(words))
    return f"<html><body><h1>Story number {number}</h1><p>{text}</p></body></html>".encode()


def warc_record(number: int, body: bytes | None = None, *, compress: bool = False) -> bytes:
    """One HTML response record, as warcio writes it (one gzip member when compressed)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=compress)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_warc_record(
        f"https://news.example.com/{number}",
        "response",
        payload=io.BytesIO(page(number) if body is None else body),
        http_headers=headers,
        # A fixed record id: the same arguments give the same bytes (hypothesis needs it).
        warc_headers_dict={
            "WARC-Date": "2026-11-20T10:00:00Z",
            "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{number:012d}>",
        },
    )
    writer.write_record(record)
    return out.getvalue()


def with_length(record: bytes, length: int) -> bytes:
    return re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % length, record, count=1)
