"""How a RawArticle travels on the raw topic: a framed message, its body as raw bytes.

In JSON a raw article's body is base64 text, a third larger than the page, and the dearest
part of the pipeline's own work on it. Measured on 400 wcxb-dev pages (232 KB of HTML on
average, `benchmarks/bench_wire.py`, 2026-12-04): the JSON form was 309 KB a page and 71 KB
after the producer's zstd, the frame 232 KB and 43 KB (base64 hides the page's repetitions
from the compressor). Per page, the frame cut the producer's encoding from 0.42 to 0.03 ms
and its compression from 0.89 to 0.54 ms, the worker's decompression from 0.36 to 0.16 ms,
and the stage's decoding from 0.83 to 0.13 ms.

The frame, in order::

    MAGIC                 5 bytes, b"\\x00NFR1"
    header length         4 bytes, unsigned, big-endian
    header                the RawArticle's JSON without its "body"
    body                  the raw bytes, to the end of the message

A JSON text never starts with a NUL byte, so the first byte tells the two forms apart. Readers
take both (`schemas.decode.parse_raw`): a message written as JSON (by an older producer, or
by hand) still decodes, and so does every dead letter and replay holding one.
"""

from __future__ import annotations

import json
import struct

from schemas.article import RawArticle

MAGIC = b"\x00NFR1"
_LENGTH = struct.Struct(">I")
_HEAD = len(MAGIC) + _LENGTH.size


class FrameError(ValueError):
    """A message that starts like a frame but is not a whole one."""


def encode_raw(article: RawArticle) -> bytes:
    """The raw-topic message for ``article``."""
    header = article.model_dump_json(exclude={"body"}).encode()
    return b"".join((MAGIC, _LENGTH.pack(len(header)), header, article.body))


def is_frame(value: bytes) -> bool:
    """Whether ``value`` is framed (else it is, or claims to be, the JSON form)."""
    return value[:1] == MAGIC[:1]


def split_frame(value: bytes) -> tuple[object, bytes]:
    """The frame's header, parsed as JSON, and its body; FrameError if it is not a frame."""
    if value[: len(MAGIC)] != MAGIC:
        raise FrameError(f"not a raw-article frame: starts {value[: len(MAGIC)]!r}")
    if len(value) < _HEAD:
        raise FrameError(f"frame cut short: {len(value)} bytes")
    (size,) = _LENGTH.unpack_from(value, len(MAGIC))
    if _HEAD + size > len(value):
        raise FrameError(f"frame header of {size} bytes in a {len(value)}-byte message")
    try:
        header = json.loads(value[_HEAD : _HEAD + size])
    except ValueError as exc:  # bad UTF-8 as well as bad JSON
        raise FrameError(f"frame header is not JSON: {exc}") from exc
    return header, value[_HEAD + size :]
