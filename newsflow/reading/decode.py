"""Turns a raw message body (bytes) into text: charset sniffing, and refusing binary/empty/huge.

Order of trust, from strongest to weakest evidence:

1. a byte-order mark (UTF-8, UTF-16, UTF-32);
2. the bytes being valid UTF-8 (other encodings almost never decode as UTF-8 by accident, so
   this also fixes the common "declared latin-1, actually UTF-8" mislabel);
3. the declared charset and, for HTML, a ``<meta charset>`` in the first few KB, when they
   decode cleanly and a detector does not find a clearly better multi-byte reading;
4. charset-normalizer's best guess (handles undeclared cp1252, GBK, Shift-JIS, ...);
5. cp1252 with replacement characters, so decoding never fails on text-like bytes.
"""

from __future__ import annotations

import codecs
import re

from schemas.article import ContentType
from schemas.failures import CleanError
from schemas.reasons import CleanReason

# Leading bytes of common binary formats that sometimes arrive labelled as text or HTML.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP/Office"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x7fELF", "ELF"),
    (b"MZ", "Windows executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE/legacy Office"),
    (b"OggS", "Ogg"),
    (b"fLaC", "FLAC"),
    (b"ID3", "MP3"),
    (b"\x00\x00\x00\x18ftyp", "MP4"),
    (b"\x00\x00\x00\x20ftyp", "MP4"),
    (b"wOFF", "WOFF font"),
    (b"wOF2", "WOFF2 font"),
)
# "RIFF....WEBP"/"RIFF....WAVE" have the format name at offset 8.
_RIFF = b"RIFF"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]{2,40})""", re.IGNORECASE
)
_SNIFF_BYTES = 4096
# C0 controls other than tab, LF, FF, CR (and ESC, used by ISO-2022-JP).
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))
_CONTROL_TABLE = bytes.maketrans(b"", b"")
_MAX_CONTROL_RATIO = 0.02

# Labels that browsers treat as windows-1252 (WHATWG Encoding Standard): a page "in latin-1"
# with curly quotes in 0x80-0x9F is really cp1252.
_CP1252_ALIASES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "ascii", "us-ascii"}
_SINGLE_BYTE_FAMILIES = ("cp125", "iso8859", "latin", "koi8", "mac", "ascii", "cp437", "cp850")


def _canonical(label: str | None) -> str | None:
    """The Python codec name for a charset label, or None for an unknown/absent label."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _CP1252_ALIASES:
        return "cp1252"
    if name in {"gb2312", "gbk", "x-gbk"}:  # browsers read all of these as GB18030's superset
        return "gb18030"
    if name in {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji"}:
        return "cp932"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _is_single_byte(codec: str) -> bool:
    return codec.replace("_", "").replace("-", "").startswith(_SINGLE_BYTE_FAMILIES)


def check_binary(body: bytes) -> None:
    """Raises CleanError("binary") for bytes that are not text: known magic numbers, NULs, or
    many control characters (UTF-16/32 with a BOM is handled before this is called)."""
    for magic, kind in _MAGIC:
        if body.startswith(magic):
            raise CleanError(CleanReason.BINARY, f"body looks like {kind} data")
    if body.startswith(_RIFF) and body[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        raise CleanError(CleanReason.BINARY, f"body looks like {body[8:12].decode().strip()} data")
    sample = body[:65536]
    if b"\x00" in sample:
        raise CleanError(CleanReason.BINARY, "body contains NUL bytes")
    controls = len(sample) - len(sample.translate(_CONTROL_TABLE, _CONTROL))
    if controls > _MAX_CONTROL_RATIO * len(sample):
        raise CleanError(CleanReason.BINARY, f"{controls} control bytes in the first {len(sample)}")


def _sniff_meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> tuple[str, str] | None:
    """charset-normalizer's best reading of ``body`` as (codec, text), if it finds one."""
    from charset_normalizer import from_bytes  # imported lazily: only non-UTF-8 input needs it

    matches = from_bytes(body[:200_000])
    best = matches.best()
    if best is None:
        return None
    codec = _canonical(best.encoding)
    # Single-byte Latin codecs often tie (cp1250 vs cp1252 read "ï" and "ď" equally well);
    # on a tie, windows-1252 is by far the likelier on the web.
    for match in matches:
        if (
            "cp1252" in match.could_be_from_charset
            and match.chaos <= best.chaos
            and match.coherence >= best.coherence
        ):
            codec = "cp1252"
            break
    if codec is None:
        return None
    text = _strict(body, codec)
    return (codec, text) if text is not None else None


def decode_body(
    body: bytes,
    declared: str | None,
    content_type: ContentType,
    *,
    max_bytes: int | None = None,
) -> str:
    """Decodes a message body to text, or raises CleanError ("empty", "too_large", "binary").

    ``declared`` is the charset the source claimed (HTTP header, feed); for HTML a
    ``<meta charset>`` is also considered. ``max_bytes`` (Settings.max_input_bytes) is checked
    before any work so a huge body costs nothing.
    """
    if max_bytes is not None and len(body) > max_bytes:
        raise CleanError(
            CleanReason.TOO_LARGE, f"{len(body)} bytes is over the {max_bytes}-byte limit"
        )
    if not body.strip():
        raise CleanError(CleanReason.EMPTY, "body is empty or only whitespace")

    for bom, codec in _BOMS:
        if body.startswith(bom):
            unmarked = body[len(bom) :].decode(codec, errors="replace")
            if not unmarked.strip():
                raise CleanError(CleanReason.EMPTY, "body is only a byte-order mark")
            return unmarked

    check_binary(body)

    as_utf8 = _strict(body, "utf-8")
    if as_utf8 is not None:
        return as_utf8

    candidates: list[str] = []
    for label in (
        declared,
        _sniff_meta_charset(body) if content_type != ContentType.JSON else None,
    ):
        named = _canonical(label)
        if named and named != "utf-8" and named not in candidates:
            candidates.append(named)

    for codec in candidates:
        decoded = _strict(body, codec)
        if decoded is None:
            continue
        if not _is_single_byte(codec):
            return decoded  # a multi-byte codec that decodes cleanly is strong evidence
        # A single-byte codec decodes anything; ask the detector whether a multi-byte reading
        # (GBK, Shift-JIS, ...) is clearly what the bytes are.
        detected = _detect(body)
        if detected is not None and not _is_single_byte(detected[0]):
            return detected[1]
        return decoded

    detected = _detect(body)
    if detected is not None:
        return detected[1]
    return body.decode("cp1252", errors="replace")
