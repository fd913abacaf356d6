"""Bytes to text: the charset a document declares, the text its id is hashed from, and the
cleaner's robust decoding of a message body (refusing binary, empty and oversized bodies).

``decode_body``'s order of trust, from strongest to weakest evidence:

1. a byte-order mark (UTF-8, UTF-16, UTF-32), or UTF-16's NUL bytes where it has none;
2. the bytes being valid UTF-8 (other encodings almost never decode as UTF-8 by accident, so
   this also fixes the common "declared latin-1, actually UTF-8" mislabel);
3. the declared charset and, for HTML, a ``<meta charset>`` in the first few KB, when they
   decode cleanly and a detector does not find a clearly better multi-byte reading;
4. charset-normalizer's best guess (handles undeclared cp1252, GBK, Shift-JIS, ...);
5. cp1252 with replacement characters, so decoding never fails on text-like bytes.
"""

from __future__ import annotations

import codecs
import logging
import re

from newsflow.reading.sniff import (
    BOMS,
    SNIFF_BYTES,
    binary_reason,
    bom_encoding,
    unmarked_utf16,
)
from schemas.article import ContentType
from schemas.failures import CleanError
from schemas.reasons import CleanReason

log = logging.getLogger(__name__)

# Searched in the first SNIFF_BYTES only: a charset declaration belongs in the head.
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]{0,200}?charset\s*=\s*["']?\s*([-\w.:]{2,40})""", re.IGNORECASE
)

# Labels that browsers treat as windows-1252 (WHATWG Encoding Standard): a page "in latin-1"
# with curly quotes in 0x80-0x9F is really cp1252.
_CP1252_ALIASES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "ascii", "us-ascii"}


def codec_name(label: str | None) -> str | None:
    """Python's name for the codec a charset label names, or None for an unknown label."""
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None


def _canonical(label: str | None) -> str | None:
    """The codec to decode a label's bytes with: what browsers read it as, else its own."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _CP1252_ALIASES:
        return "cp1252"
    if name in {"gb2312", "gbk", "x-gbk"}:  # browsers read all of these as GB18030's superset
        return "gb18030"
    if name in {"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji"}:
        return "cp932"
    return codec_name(name)


def _is_single_byte(codec: str) -> bool:
    """Whether ``codec`` reads one byte as one character, told by the codec itself.

    A list of name families missed the DOS, EBCDIC and Thai code pages (cp775, cp037,
    tis-620): charset-normalizer's best guess for a short windows-1252 text was cp775, which
    then counted as strong multi-byte evidence and made "Café" "Cafķ". Multi-byte decoders
    keep an unfinished sequence between calls: UTF-8/16/32 in a buffered decoder, the CJK
    codecs in CPython's MultibyteIncrementalDecoder.
    """
    try:
        decoder = codecs.lookup(codec).incrementaldecoder
    except LookupError:
        return False
    if not isinstance(decoder, type) or issubclass(decoder, codecs.BufferedIncrementalDecoder):
        return False
    return not any(cls.__name__ == "MultibyteIncrementalDecoder" for cls in decoder.__mro__)


def meta_charset(data: bytes) -> str | None:
    """The charset a ``<meta charset>`` (or http-equiv content type) in the head names."""
    match = _META_CHARSET.search(data[:SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def charset_param(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP Content-Type header value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def declared_encoding(
    data: bytes, declared: str | None = None, *, html: bool = False
) -> str | None:
    """What a document says about its own encoding: its BOM, then ``declared`` (an HTTP
    header), then for HTML its ``<meta charset>``, then UTF-8 if it decodes as UTF-8.

    This is the order browsers use; the result is a hint for the cleaner, not a guarantee, and
    None when the document says nothing usable.
    """
    found = bom_encoding(data) or unmarked_utf16(data) or codec_name(declared)
    if found:
        return found
    if html:
        found = codec_name(meta_charset(data))
        if found:
            return found
    return "utf-8" if _strict(data, "utf-8") is not None else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_chars(text: str) -> str:
    """``text`` with every surrogate pair joined into its character and each lone half as
    U+FFFD.

    A JSON string ("\\ud800"), an XML character reference ("&#xD800;") or a surrogate-escaped
    file name can put half of a pair into a Python string; UTF-8 cannot write one, so a
    message, an id hash or an output line holding it fails to encode, and with it the run.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decode_for_id(data: bytes, encoding: str | None) -> str:
    """The text an article's id is hashed from: ``data`` in its declared encoding.

    Deliberately simple and stable (no detector): an id must not change when a detector's
    guess does. Anything undecodable is read as Latin-1, which maps every byte.
    """
    try:
        return data.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


# One valid UTF-8 sequence of two to four bytes (RFC 3629: no overlongs, no surrogates).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
# The first byte of an accented Latin letter in UTF-8 (U+0080..U+00FF) cut off from its
# second, right after a lowercase letter: "Caf\xc3 ". Read as any single-byte charset that
# is a capital "Ã"/"Â" inside a lowercase word, which no language writes.
_CUT_LATIN_LETTER = re.compile(rb"[a-z][\xc2\xc3](?![\x80-\xbf])")


def utf8_damage(body: bytes) -> str | None:
    """How ``body`` (not valid UTF-8) is damaged UTF-8, or None if it is not UTF-8 at all.

    It is damaged UTF-8 when its valid multi-byte sequences outnumber its stray high bytes,
    or when a sequence was visibly cut. Text in a single-byte charset almost never forms
    valid UTF-8 sequences by accident (and GBK or Shift-JIS form only some), so those
    still go to charset detection.
    """
    valid = _UTF8_SEQUENCE.findall(body)
    stray = len(_HIGH_BYTE.findall(body)) - sum(map(len, valid))
    if valid and stray <= len(valid):
        return f"{stray} invalid byte(s) among {len(valid)} UTF-8 sequences"
    cut = _CUT_LATIN_LETTER.search(body)
    if cut:
        return f"a UTF-8 sequence cut short at byte {cut.start() + 1}"
    return None


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
    # On short texts the coherence score is noise (a French paragraph came out as
    # mac_latin2, "Cafť"), so for a single-byte best guess, windows-1252 wins whenever it
    # reads the bytes with no more chaos.
    tie_on_coherence = codec is not None and not _is_single_byte(codec)
    for match in matches:
        if (
            "cp1252" in match.could_be_from_charset
            and match.chaos <= best.chaos
            and (match.coherence >= best.coherence or not tie_on_coherence)
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
    ``<meta charset>`` is also considered. ``max_bytes`` (``Limits.max_input_bytes``) is
    checked before any work so a huge body costs nothing.
    """
    if max_bytes is not None and len(body) > max_bytes:
        raise CleanError(
            CleanReason.TOO_LARGE, f"{len(body)} bytes is over the {max_bytes}-byte limit"
        )
    if not body.strip():
        raise CleanError(CleanReason.EMPTY, "body is empty or only whitespace")

    for bom, codec in BOMS:
        if body.startswith(bom):
            unmarked = body.decode("utf-8-sig" if codec == "utf-8" else codec, errors="replace")
            if not unmarked.strip():
                raise CleanError(CleanReason.EMPTY, "body is only a byte-order mark")
            return unmarked

    # A binary format's magic number first: binary_reason passes unmarked UTF-16 as text.
    binary = binary_reason(body)
    if binary is not None:
        raise CleanError(CleanReason.BINARY, binary)
    utf16 = unmarked_utf16(body)
    if utf16 is not None:
        return body.decode(utf16, errors="replace")

    as_utf8 = _strict(body, "utf-8")
    if as_utf8 is not None:
        return as_utf8
    try:
        # CESU-8 (Java's "modified UTF-8", MySQL's old utf8): a character beyond U+FFFF as
        # its two surrogates, three bytes each. Strict UTF-8 refuses them, and the repair
        # below made each of the six bytes a U+FFFD; joined, they are the character.
        return whole_chars(body.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        pass
    damage = utf8_damage(body)
    if damage is not None:
        # UTF-8 with a few broken sequences: every other reading turns all of its accented
        # letters into mojibake ("CafĂ©"); U+FFFD marks just the broken bytes.
        log.debug("invalid UTF-8 repaired: %s", damage)
        return body.decode("utf-8", errors="replace")

    candidates: list[str] = []
    for label in (
        declared,
        meta_charset(body) if content_type != ContentType.JSON else None,
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
