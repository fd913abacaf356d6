"""Keywords: a statistical scorer over stopword-free word runs, no model and no background.

Candidates are 1- to 3-word n-grams inside runs of content words (runs stop at stopwords and
punctuation). Each word gets a weight from its frequency and how early it first appears:
``(1 + ln tf) * (1 + 1 / sqrt(1 + first sentence index))``. A candidate scores the mean weight
of its words times ``1 + ln(candidate count)``; a multi-word candidate seen at least twice gets
a bonus for its length (a repeated phrase is more specific than its words), one seen once a
penalty (it may be a chance neighbourhood). Candidates in the title get a bonus. The top
candidates are kept, skipping any whose words are a subset or superset of one already kept,
and scores are divided by the best one so they are in (0, 1].

Stopwords come from spaCy's language data (bundled with spaCy, no model), plus, for English,
words too generic for news ("said", "year", "percent").
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from consumers.tagging.text import Token, singular

MAX_NGRAM = 3
# Words that are everywhere in news and never what an article is about.
NEWS_GENERIC = frozenset(
    """said says say told according reported report reports year years percent per cent
    time times people new also like just including include includes day days week weeks
    month months today yesterday tomorrow monday tuesday wednesday thursday friday saturday
    sunday january february march april may june july august september october november
    december mr mrs ms dr et al ago way lot lots thing things make makes made use used
    want wants going get gets got need needs good best better know think pm am related
    addition""".split()  # noqa: SIM905 -- a word list reads better as text
)


@cache
def stopwords(language: str) -> frozenset[str]:
    """spaCy's stopwords for the language (empty if spaCy has none), plus news words."""
    try:
        from spacy.util import get_lang_class

        words = frozenset(get_lang_class(language).Defaults.stop_words)
    except Exception:  # an unknown language code: no stopwords rather than no keywords
        words = frozenset()
    return words | NEWS_GENERIC if language == "en" else words


@dataclass(slots=True)
class _Cand:
    count: int = 0
    first: int = 0
    # Plain dict, not Counter: thousands of candidates per article make Counter() costly.
    surfaces: dict[str, int] = field(default_factory=dict)


def _norm(word: str, english: bool) -> str:
    low = word.lower()
    return singular(low) if english else low


def extract(
    body: list[Token], title: list[Token], language: str, top_n: int = 10
) -> list[tuple[str, float]]:
    """The ``top_n`` keywords of the text with scores in (0, 1], best first."""
    english = language == "en"
    stop = stopwords(language)
    norms = [_norm(t.text, english) for t in body]
    content = [
        len(t.text) > 1 and any(c.isalpha() for c in t.text) and t.text.lower() not in stop
        for t in body
    ]
    tf: Counter[str] = Counter()
    first_sent: dict[str, int] = {}
    # Words ever written in lowercase are common nouns; the others (names) keep their case.
    lowercase: set[str] = set()
    for t, norm, ok in zip(body, norms, content, strict=True):
        if ok:
            tf[norm] += 1
            first_sent.setdefault(norm, t.sentence)
            if t.text.islower():
                lowercase.add(norm)

    weight = {
        w: (1.0 + math.log(c)) * (1.0 + 1.0 / math.sqrt(1 + first_sent[w])) for w, c in tf.items()
    }
    cands: dict[tuple[str, ...], _Cand] = {}
    i, n = 0, len(body)
    while i < n:
        if not content[i]:
            i += 1
            continue
        j = i
        while j < n and content[j] and body[j].segment == body[i].segment:
            j += 1
        for a in range(i, j):
            for b in range(a + 1, min(a + MAX_NGRAM, j) + 1):
                key = tuple(norms[a:b])
                c = cands.get(key)
                if c is None:
                    c = cands[key] = _Cand(first=a)
                c.count += 1
                surface = " ".join([t.text for t in body[a:b]])
                c.surfaces[surface] = c.surfaces.get(surface, 0) + 1
        i = j

    title_norms = " " + " ".join(_norm(t.text, english) for t in title) + " "
    scored: list[tuple[float, int, tuple[str, ...]]] = []
    for key, c in cands.items():
        s = sum(weight[w] for w in key) / len(key) * (1.0 + math.log(c.count))
        if len(key) > 1:
            s *= 1.0 + 0.4 * (len(key) - 1) if c.count > 1 else 0.7
        if f" {' '.join(key)} " in title_norms:
            s *= 1.5
        scored.append((s, c.first, key))
    scored.sort(key=lambda x: (-x[0], x[1], x[2]))

    chosen: list[tuple[str, float, frozenset[str]]] = []
    for s, _, key in scored:
        words = frozenset(key)
        if any(words <= w or w <= words for _, _, w in chosen):
            continue
        surfaces = cands[key].surfaces
        surface = max(surfaces, key=surfaces.__getitem__)
        if any(w in lowercase for w in key):
            surface = surface.lower()
        chosen.append((surface, s, words))
        if len(chosen) >= top_n:
            break
    if not chosen:
        return []
    best = chosen[0][1]
    return [(surface, round(s / best, 4)) for surface, s, _ in chosen]
