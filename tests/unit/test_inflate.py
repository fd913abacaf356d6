"""Bounded decoding of an HTTP body's Content-Encoding (newsflow/web/inflate.py)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from newsflow.web.inflate import BoundedDecoder, EncodingRefused, codings

TEXT = b"<html><body><p>" + b"The harbour board approved the terminal. " * 500 + b"</p></html>"


def _decode(
    encoding: str | None, body: bytes, limit: int, chunk: int = 1000
) -> tuple[bytes, BoundedDecoder]:
    decoder = BoundedDecoder(encoding, limit)
    out = b"".join(decoder.feed(body[i : i + chunk]) for i in range(0, len(body), chunk))
    return out, decoder


def test_codings_leave_identity_out() -> None:
    assert codings(None) == [] and codings("identity") == []
    assert codings(" GZIP , identity") == ["gzip"]
    assert codings("gzip, gzip") == ["gzip", "gzip"]


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (None, TEXT),
        ("identity", TEXT),
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        # Raw deflate, without the zlib wrapper, as some servers send it.
        ("deflate", zlib.compress(TEXT, wbits=-zlib.MAX_WBITS)),
        # Two gzip members are one body; bytes after the last member are padding.
        ("gzip", gzip.compress(TEXT[:3000]) + gzip.compress(TEXT[3000:]) + b"\0\0\0\0"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_what_is_offered_decodes_whole(encoding: str | None, body: bytes, chunk: int) -> None:
    """Whatever the network's chunks: padding in 1-byte pieces, a deflate body's first byte
    alone, were refused depending on where a segment ended (review)."""
    out, decoder = _decode(encoding, body, limit=len(TEXT), chunk=chunk)
    assert out == TEXT and not decoder.over


@pytest.mark.parametrize("chunk", [1, 700, 65_536])
def test_a_bomb_never_decodes_past_the_limit(chunk: int) -> None:
    """50 MB of zeros in ~50 KB of gzip: at most limit + 1 bytes come out, chunk by chunk."""
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    limit = 100_000
    decoder = BoundedDecoder("gzip", limit)
    produced = 0
    for i in range(0, len(bomb), chunk):
        out = decoder.feed(bomb[i : i + chunk])
        assert len(out) <= limit + 1
        produced += len(out)
        if decoder.over:
            break
    assert decoder.over and produced == limit + 1
    assert decoder.feed(b"more") == b""


def test_an_identity_body_over_the_limit_is_over() -> None:
    out, decoder = _decode(None, TEXT, limit=100)
    assert decoder.over and len(out) == 101


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("gzip, gzip", "stacked Content-Encoding gzip, gzip"),
        ("zstd", "unsupported Content-Encoding zstd"),
        ("br", "unsupported Content-Encoding br"),
    ],
)
def test_stacked_and_unoffered_codings_are_refused(encoding: str, message: str) -> None:
    with pytest.raises(EncodingRefused, match=message):
        BoundedDecoder(encoding, 1000)


def test_a_body_that_is_not_what_it_says_is_refused() -> None:
    decoder = BoundedDecoder("gzip", 1000)
    with pytest.raises(EncodingRefused, match="not valid gzip"):
        decoder.feed(b"<html>plain text sent as gzip</html>")
