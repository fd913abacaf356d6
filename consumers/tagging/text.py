"""Tokenization and normalization shared by the keyword, topic and country taggers.

These run over the whole article (unlike spaCy NER, which only sees the lead), so they are
plain regular expressions: a few hundred microseconds for a long article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A word: letters/digits with inner apostrophes, dots (U.S.) or hyphens (net-zero).
WORD_RE = re.compile(r"[^\W_](?:[\w]|[.'’\-](?=[^\W_]))*\.?")
# Sentence ends: terminal punctuation followed by space, or a paragraph break.
SENTENCE_END_RE = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+|\n\s*\n")
# Segment breaks inside a sentence: candidates for keywords never cross these.
SEGMENT_BREAK_RE = re.compile(r"[,;:()\[\]{}\"“”‘«»|/–—]|\s-\s|'\s|\s'")
_POSSESSIVE_RE = re.compile(r"['’]s?$")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the text: its surface form, its offset, its sentence and its segment.

    A segment is a stretch of a sentence between punctuation marks; keyword candidates never
    cross one.
    """

    text: str
    start: int
    sentence: int
    segment: int


def strip_possessive(word: str) -> str:
    """``China's`` -> ``China``; ``workers'`` -> ``workers``."""
    if len(word) > 2 and word[-1] in "'’s" and ("'" in word[-2:] or "’" in word[-2:]):
        return _POSSESSIVE_RE.sub("", word)
    return word


def clean_word(word: str) -> str:
    """The word without a trailing sentence dot (unless it is an abbreviation like U.S.)."""
    if word.endswith(".") and word.count(".") == 1:
        word = word[:-1]
    return strip_possessive(word)


def singular(word: str) -> str:
    """A crude English singular for matching lexicons: ``emissions`` -> ``emission``.

    Deliberately conservative (no stemming of -ing/-ed); lexicons list the variants they need.
    """
    n = len(word)
    if n <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies") and n > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "ous", "ics", "ws")):
        return word
    return word[:-1]


def sentences(text: str) -> list[tuple[int, str]]:
    """The text split into sentences, each with its start offset."""
    out: list[tuple[int, str]] = []
    pos = 0
    for m in SENTENCE_END_RE.finditer(text):
        if m.start() > pos:
            out.append((pos, text[pos : m.start()]))
        pos = m.end()
    if pos < len(text):
        out.append((pos, text[pos:]))
    return out


def tokens(text: str) -> list[Token]:
    """All words of the text, each tagged with its sentence index."""
    out: list[Token] = []
    segment = 0
    for i, (offset, sent) in enumerate(sentences(text)):
        pos = 0
        for part in [*SEGMENT_BREAK_RE.split(sent), ""]:
            # split() drops the separators; find each part again to keep offsets exact.
            start = sent.find(part, pos) if part else len(sent)
            for m in WORD_RE.finditer(part):
                word = m.group()
                out.append(Token(clean_word(word), offset + start + m.start(), i, segment))
            pos = start + len(part)
            segment += 1
    return out
