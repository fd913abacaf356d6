"""Text normalization applied to every cleaned paragraph before hashing and indexing, and to
every query before it is searched (newsflow/search.py): what a reader types or copies from a
page (a curly apostrophe, a decomposed "é") must meet the text in the one form it is stored.

Choices (the same text must always hash and search the same way):

- Mojibake repaired: UTF-8 text that was once decoded as Latin-1 or cp1252 and encoded again
  ("doesnâ\x80\x99t", "cafÃ©") gets its characters back ("doesn’t", "café"). Only runs that
  decode as valid UTF-8 are replaced, so ordinary accented text is never touched. Found on
  dev pages whose servers double-encode; each such contraction otherwise costs a search hit.
- Unicode NFC, so "é" typed two ways is one string.
- Typographic quotes become straight ASCII quotes (‘ ’ ‚ ‛ ′ → ', “ ” „ ‟ ″ « » are kept as
  guillemets are real punctuation in many languages). Queries are typed with straight quotes
  and Elasticsearch's standard analyzer splits "don’t" and "don't" differently in some
  versions; straight quotes make exact-phrase search and the content hash agree.
- Dashes and the ellipsis "…" are kept: they carry meaning (ranges, teaser cut-offs).
- Every run of whitespace (including NBSP, thin spaces, line breaks inside a paragraph) becomes
  one space; zero-width characters and soft hyphens are removed; control characters dropped.
- Paragraphs: stripped, empty ones dropped, a paragraph identical to the one before dropped.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_QUOTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
}
# Zero-width space/joiners, word joiner, BOM, soft hyphen: invisible, and they split words.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# C0/C1 controls except tab/newline/CR (which are whitespace and collapsed below).
_CONTROL = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
# All three character mappings in one table: a single str.translate pass (no character is
# in two sets, and no replacement is itself mapped, so this equals applying them in turn).
_TABLE: dict[int, str | None] = {
    **{ord(c): q for c, q in _QUOTES.items()},
    **dict.fromkeys(map(ord, _INVISIBLE)),
    **dict.fromkeys(_CONTROL, " "),
}
# The same mapping as regexes: str.translate looks every character of a non-ASCII string up
# in the table (~0.6 ms of trafilatura's text a page), while a search in C finds the few
# mapped ones (quotes, mostly); one substitution per replacement then keeps the work in C
# even for a text made of nothing else. (The four sets are disjoint and no replacement is
# mapped, so applying them in turn equals translate.)


def _char_class(codes: Iterable[int]) -> str:
    return "[" + "".join(f"\\U{code:08x}" for code in sorted(codes)) + "]"


_MAPPED = re.compile(_char_class(_TABLE))
_MAPPINGS = tuple(
    (re.compile(_char_class(c for c, to in _TABLE.items() if to == new)), new or "")
    for new in sorted(set(_TABLE.values()), key=str)
)
_BLANK_LINE = re.compile(r"\n\s*\n")

# cp1252's printable characters in 0x80-0x9F, by the byte they stand for.
_CP1252_HIGH = {
    ch: byte
    for byte in range(0x80, 0xA0)
    if (ch := bytes([byte]).decode("cp1252", errors="ignore"))
}
_CONTINUATION = "\u0080-\u00bf" + "".join(_CP1252_HIGH)
# A UTF-8 lead byte read as Latin-1 ("Â".."ô") followed by the right number of continuation
# bytes, each read as Latin-1 (C1 controls and U+00A0-U+00BF) or as cp1252 ("€", "™", ...).
# Written lead first, then which lead it was: a pattern that starts with one character set
# lets re skip ahead to the next lead character instead of trying every position (4x faster
# on a whole page; the same matches).
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00f4](?:(?<=[\u00c2-\u00df])[{_CONTINUATION}]"
    f"|(?<=[\u00e0-\u00ef])[{_CONTINUATION}]{{2}}"
    f"|(?<=[\u00f0-\u00f4])[{_CONTINUATION}]{{3}})"
)
# The characters _TABLE maps, for normalize_lines (see there).
_MAPPED = re.compile("[" + "".join(re.escape(chr(code)) for code in _TABLE) + "]")


_NOT_TEXT = frozenset({"Cn", "Co", "Cs", "Cc"})


def _unmangle(match: re.Match[str]) -> str:
    run = match.group()
    if "\u00a0" in run and run[0] not in "\u00c2\u00c3":
        # A no-break space after an accented letter is real French or German typography
        # ("café\u00a0»", "groß\u00a0–"), and those bytes happen to be valid UTF-8 for
        # CJK or rare scripts. Only "Â\u00a0" and "Ã\u00a0" (NBSP and "à") are mojibake.
        return run
    try:
        char = bytes(_CP1252_HIGH.get(c, ord(c)) for c in run).decode("utf-8")
    except UnicodeDecodeError:
        return run  # not a UTF-8 sequence after all: leave the text as it is
    # Unassigned, private-use or control: the bytes were ordinary text ("3×½ cups").
    return run if unicodedata.category(char) in _NOT_TEXT else char


def repair_mojibake(text: str) -> str:
    """``text`` with UTF-8 sequences that were misread as Latin-1/cp1252 decoded again."""
    return _MOJIBAKE.sub(_unmangle, text)


def _map_characters(text: str) -> str:
    """``text.translate(_TABLE)``, faster (see _MAPPINGS).

    ASCII text keeps translate, which has a fast path for it. A non-ASCII text made of
    nothing but mapped characters is the worst case: ~1 s for the 5 MB page limit (translate:
    ~0.4 s), still linear.
    """
    if text.isascii():
        return text.translate(_TABLE)
    if _MAPPED.search(text):
        for pattern, new in _MAPPINGS:
            text = pattern.sub(new, text)
    return text


def normalize_text(text: str) -> str:
    """One paragraph's text in canonical form: NFC, straight quotes, single spaces, stripped."""
    text = unicodedata.normalize("NFC", repair_mojibake(text))
    text = _map_characters(text)
    # str.split() splits at exactly the characters regex \s matches (str.isspace).
    return " ".join(text.split())


def _mapped(match: re.Match[str]) -> str:
    return _TABLE[ord(match.group())] or ""


def normalize_lines(text: str) -> list[str]:
    """``[normalize_text(line) for line in text.splitlines()]``, in one pass over the text.

    Why: called per line, the fixed cost of each step (regex, NFC, translate) was a tenth of
    the whole-page-text extractor's time. The result is the same: no step acts across a line
    break. A mojibake run has no line break in it; NFC neither composes nor reorders across
    "\n" (a starter that combines with nothing); the character table maps no character to or
    from "\n"; and the line breaks splitlines() knows ("\r", "\x85", "\u2028", ...) are
    turned into "\n" before anything else, so a repaired character cannot split a line.
    """
    lines = text.splitlines()
    if not lines:
        return []
    joined = unicodedata.normalize("NFC", repair_mojibake("\n".join(lines)))
    # str.translate(_TABLE) gives the same, but it leaves its fast path for good at the first
    # non-ASCII character and then looks up every character in the dict: 1 ms on a page,
    # against 0.1 ms for finding the few mapped characters.
    joined = _MAPPED.sub(_mapped, joined)
    return [" ".join(line.split()) for line in joined.split("\n")]


def normalize_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Normalizes each paragraph, dropping empty ones and immediate repeats."""
    out: list[str] = []
    for paragraph in paragraphs:
        text = normalize_text(paragraph)
        if text and (not out or out[-1] != text):
            out.append(text)
    return out


def split_paragraphs(text: str) -> list[str]:
    """Splits text into paragraphs at blank lines (a single newline stays inside a paragraph)."""
    return [part for part in _BLANK_LINE.split(text.replace("\r\n", "\n")) if part.strip()]


def content_hash(paragraphs: Iterable[str]) -> str:
    """sha256 hex of the normalized paragraphs joined by blank lines: the exact-copy test.

    Computed from normalized text so that two copies of an article that differ only in
    whitespace, quote style or Unicode composition get the same hash.
    """
    text = "\n\n".join(normalize_paragraphs(paragraphs))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
