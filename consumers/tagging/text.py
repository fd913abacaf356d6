"""Tokenization and normalization shared by the keyword, topic and country taggers.

These run over the whole article (unlike spaCy NER, which only sees the lead), so they are
plain regular expressions: a few hundred microseconds for a long article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from newsflow.words import WORD_CHAR

# A word: letters/digits (with the marks inside them, newsflow/words.py) with inner
# apostrophes, dots (U.S.) or hyphens (net-zero). Written as runs of word characters rather
# than one character at a time: same matches (checked on the dev corpus), a third faster.
WORD_RE = re.compile(rf"[^\W_]{WORD_CHAR}*(?:[.'’\-][^\W_]{WORD_CHAR}*)*\.?")
# Sentence ends: terminal punctuation followed by space, or a paragraph break. The danda ends
# sentences in Hindi and other Indic languages, "۔" in Urdu.
SENTENCE_END_RE = re.compile(r"(?<=[.!?…।॥۔؟])[\"”’)\]]*\s+|\n\s*\n")
# Segment breaks inside a sentence: candidates for keywords never cross these.
SEGMENT_BREAK_RE = re.compile(r"[,;:()\[\]{}\"“”‘«»|/–—]|\s-\s|'\s|\s'")
_POSSESSIVE_RE = re.compile(r"['’]s?$")
# Entries of each per-word memo (normalizing, stop-word tests, compound parts). A stream of
# distinct articles keeps bringing new words, so each memo fills to its cap and stays there:
# at 65,536 seven memos could hold ~55 MB of a worker's 400 MB budget (~125 bytes an entry),
# at 16,384 ~14 MB; tagging the 1019 dev texts took the same time with either (14.2-14.7 ms
# against 14.4-14.9 ms a text, benchmarks/rss_clean_tag.py has the memory side).
WORD_CACHE = 1 << 14
# Accented Latin letters -> plain ones, for folding words of languages with accents.
ACCENTS = str.maketrans("áàâäãåéèêëíìîïóòôöõúùûüñç", "aaaaaaeeeeiiiiooooouuuunc")


@dataclass(slots=True)
class Words:
    """The words of a text as parallel lists: surface form, sentence index, segment index.

    A segment is a stretch of a sentence between punctuation marks; keyword candidates never
    cross one. Parallel lists rather than one object per word: building thousands of small
    objects was the largest cost of tagging a long article.
    """

    text: list[str] = field(default_factory=list)
    sentence: list[int] = field(default_factory=list)
    segment: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.text)

    def head(self, n: int) -> Words:
        """The first ``n`` words."""
        return Words(self.text[:n], self.sentence[:n], self.segment[:n])


def strip_possessive(word: str) -> str:
    """``China's`` -> ``China``; ``workers'`` -> ``workers``."""
    if len(word) > 2 and word[-1] in "'’s" and ("'" in word[-2:] or "’" in word[-2:]):
        return _POSSESSIVE_RE.sub("", word)
    return word


def clean_word(word: str) -> str:
    """The word without a trailing sentence dot (unless it is an abbreviation like U.S.)."""
    # Fast path: most words end in a plain letter or digit (this runs on every word).
    if word[-1] not in ".s'’":
        return word
    if word[-1] == "." and word.count(".") == 1:
        word = word[:-1]
    return strip_possessive(word)


@lru_cache(maxsize=WORD_CACHE)
def lower_singular(word: str) -> str:
    """``singular(word.lower())``, memoized: the same words recur in every article."""
    return singular(word.lower())


@lru_cache(maxsize=WORD_CACHE)
def fold_german(word: str) -> str:
    """A German word's crude stem, for matching its inflections: "Wahlen" -> "wahl".

    Topic lexicons match on it, and keywords count "Kindern" as "Kinder" with it.
    """
    w = word.lower().translate(ACCENTS).replace("ß", "ss")
    # Crude German stemming: enough to make "Wahlen", "Wahl" and "Regierungen" meet, and
    # "Ministerinnen" "Ministerin". Not "-er": it would make "Meister" "meist".
    if w.endswith("innen") and len(w) >= 8:
        return w[:-3]
    for suffix in ("en", "es", "e", "n", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


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


def sentences(text: str) -> Iterator[tuple[int, str]]:
    """The sentences of the text, each with its start offset (lazily: callers may stop)."""
    pos = 0
    for m in SENTENCE_END_RE.finditer(text):
        if m.start() > pos:
            yield pos, text[pos : m.start()]
        pos = m.end()
    if pos < len(text):
        yield pos, text[pos:]


def plain_words(text: str) -> list[str]:
    """The words of the text without sentence structure: one regex pass, for long texts."""
    return list(map(clean_word, WORD_RE.findall(text)))


def tokens(text: str) -> Words:
    """All words of the text, with their sentence and segment indexes."""
    out = Words()
    segment = 0
    for i, (_, sent) in enumerate(sentences(text)):
        for part in SEGMENT_BREAK_RE.split(sent):
            found = WORD_RE.findall(part)
            if found:
                out.text.extend(map(clean_word, found))
                out.sentence.extend([i] * len(found))
                out.segment.extend([segment] * len(found))
            segment += 1
    return out
