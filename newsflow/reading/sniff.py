"""Is it text? The one rule set for every input file and every message body.

Producers apply it before publishing and the cleaner before decoding, so an input the
producer accepts is never refused by the cleaner as binary (and the other way round):

1. a known binary format by its magic number (PDF, images, archives, executables, media);
2. a UTF-16/32 byte-order mark is text, whatever follows (NUL bytes are normal there), and
   so is UTF-16 without one whose NULs sit where a Latin text's high bytes are;
3. a NUL byte in the first ``SNIFF_BYTES``;
4. more than ``MAX_CONTROL_RATIO`` of the first ``SNIFF_BYTES`` being control bytes other
   than tab, newlines, form feed, escape (ISO-2022-JP) and backspace (overstrike text).

Random or compressed bytes carry NULs within a few hundred bytes, so rule 3 catches binary
without a magic number; rule 4 catches the rest without refusing text that uses a few
vertical tabs or bells (Word exports do).
"""

from __future__ import annotations

import codecs

SNIFF_BYTES = 8192
MAX_CONTROL_RATIO = 0.1

# Formats people drop into news folders, or servers label as text, by mistake; none of them
# can be an article. ("MZ", the Windows executable, is left to the NUL rule: two letters are
# too likely at the start of a text.)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF document"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"ID3", "MP3 audio"),
    (b"PK\x03\x04", "ZIP archive (or Office document)"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE document (old Office)"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
)
# MP4/MOV: a box size, then "ftyp" at offset 4.
_FTYP = slice(4, 8)

#: Byte-order marks and the codec each names. UTF-32 first: its little-endian BOM starts
#: with the UTF-16 one. Decoding with these names ("utf-16", not "utf-16-le") consumes the
#: BOM; "utf-8" keeps it (decode with "utf-8-sig" to drop it).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_CONTROL = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13, 27))
_DROP_CONTROL_CHARS = dict.fromkeys(_CONTROL)
# Fewer bytes than this say too little about where a text's NULs are.
_MIN_UTF16_SAMPLE = 16


def bom_encoding(data: bytes) -> str | None:
    """The encoding named by a byte-order mark at the start of ``data``, if any."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    return None


def unmarked_utf16(data: bytes) -> str | None:
    """The codec of UTF-16 text saved without a byte-order mark ("utf-16-le" or
    "utf-16-be"), told by where its NUL bytes are; None for anything else.

    Text in a Latin script has a NUL as the high byte of nearly every character in UTF-16,
    and almost never as the low one (a Windows "Unicode" export, a PowerShell redirect).
    Without this, the NUL rule refused such a file as binary. Binary data with NULs in the
    same places reads as control characters, which the last check refuses.
    """
    sample = data[: SNIFF_BYTES & ~1]
    if len(data) % 2 or len(sample) < _MIN_UTF16_SAMPLE:
        return None
    even, odd = sample[0::2], sample[1::2]
    for codec, high, low in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        # Half the characters ASCII or Latin-1, at most 1 % of them U+xx00.
        if 2 * high.count(0) < len(high) or 100 * low.count(0) > len(low):
            continue
        text = sample.decode(codec, "replace")  # the cut may split a surrogate pair
        controls = len(text) - len(text.translate(_DROP_CONTROL_CHARS))
        if controls <= MAX_CONTROL_RATIO * len(text):
            return codec
    return None


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` is not text (e.g. "looks like PDF document"), or None when it is text."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return f"looks like {kind}"
    if data[_FTYP] == b"ftyp":
        return "looks like MP4/MOV media"
    if bom_encoding(data) in ("utf-16", "utf-32") or unmarked_utf16(data):
        return None
    sample = data[:SNIFF_BYTES]
    if b"\x00" in sample:
        return "contains NUL bytes"
    if sample:
        controls = len(sample) - len(sample.translate(None, _CONTROL))
        if controls > MAX_CONTROL_RATIO * len(sample):
            return f"{controls} control bytes in the first {len(sample)}"
    return None
