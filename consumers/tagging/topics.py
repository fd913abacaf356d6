"""Topic classifier: IPTC Media Topics, top level, from weighted per-language lexicons.

See ``docs/taxonomy.md`` for the taxonomy and the method. In short: every topic has a lexicon
of lowercase singular words and phrases, each with a weight (3 = nearly decisive, such as
"carbon emission"; 2 = typical; 1 = supporting evidence, such as "company"). The evidence for
a topic is the sum over matched entries of ``weight * (1 + ln count)`` (a term repeated ten
times is strong evidence, not ten times the evidence); words of the title count twice. The
score is ``1 - exp(-evidence / (K0 + K1 * words ** 0.75))``, so the same evidence weighs more
in a short text than in a long one (but less than proportionally: a long article matches more
distinct terms), and it stays in [0, 1). Topics scoring at least ``THRESHOLD`` and at least
``RELATIVE`` times the best topic's score are kept, best first, at most ``TOP_K``. The
constants were set on the wcxb-dev corpus so that most articles get one or two topics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from consumers.tagging import lexicons
from consumers.tagging.text import ACCENTS, WORD_CACHE, fold_german, lower_singular

LEXICON_VERSION = "1"
K0 = 4.0
K1 = 0.1
LENGTH_POWER = 0.75
THRESHOLD = 0.45
RELATIVE = 0.6
TOP_K = 3


@dataclass(frozen=True, slots=True)
class Topic:
    """One IPTC Media Topic of the top level."""

    code: str
    label: str


#: The 17 top-level IPTC Media Topics; lexicons refer to them by code.
TOPICS: tuple[Topic, ...] = (
    Topic("medtop:01000000", "arts, culture, entertainment and media"),
    Topic("medtop:16000000", "conflict, war and peace"),
    Topic("medtop:02000000", "crime, law and justice"),
    Topic("medtop:03000000", "disaster, accident and emergency incident"),
    Topic("medtop:04000000", "economy, business and finance"),
    Topic("medtop:05000000", "education"),
    Topic("medtop:06000000", "environment"),
    Topic("medtop:07000000", "health"),
    Topic("medtop:08000000", "human interest"),
    Topic("medtop:09000000", "labour"),
    Topic("medtop:10000000", "lifestyle and leisure"),
    Topic("medtop:11000000", "politics"),
    Topic("medtop:12000000", "religion"),
    Topic("medtop:13000000", "science and technology"),
    Topic("medtop:14000000", "society"),
    Topic("medtop:15000000", "sport"),
    Topic("medtop:17000000", "weather"),
)
_BY_CODE = {t.code: t for t in TOPICS}
# German writes compounds as one word ("Landtagswahl"): a lexicon term written "*wahl" also
# matches as the last part of a word, "fussball*" as the first part. A part must have at least
# MIN_COMPOUND_PART letters, and the rest of the word MIN_COMPOUND_REST ("Protest" is not a
# "*test"). A term written "!auswahl" names a word that is no such compound.
MIN_COMPOUND_PART = 4
MIN_COMPOUND_REST = 4


def parse_lexicon(text: str) -> dict[Topic, list[tuple[float, str]]]:
    """``[code] label`` sections of ``weight: term, term`` lines -> (weight, term) per topic."""
    out: dict[Topic, list[tuple[float, str]]] = {}
    topic: Topic | None = None
    weight = 1.0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("["):
            topic = _BY_CODE[line[1 : line.index("]")]]
            out.setdefault(topic, [])
            continue
        if topic is None:
            raise ValueError(f"lexicon line before any [topic] section: {line!r}")
        head, sep, rest = line.partition(":")
        if sep and head.strip().replace(".", "").isdigit():
            weight = float(head)
            line = rest
        out[topic] += [(weight, t.strip()) for t in line.split(",") if t.strip()]
    return out


def supported(language: str) -> bool:
    """Whether there is a topic lexicon for the language."""
    return lexicons.read("topics", language) is not None


def _fold_fr(word: str) -> str:
    w = word.lower().translate(ACCENTS)
    if len(w) > 3 and w[-1] in "sx":
        return w[:-1]
    return w


def _fold_es(word: str) -> str:
    w = word.lower().translate(ACCENTS)
    if len(w) > 4 and w.endswith("es") and w[-3] not in "aeiou":
        return w[:-2]
    if len(w) > 3 and w[-1] == "s":
        return w[:-1]
    return w


#: Language -> word normalizer shared by the lexicon and the text ("Wahlen" -> "wahl").
FOLDS: dict[str, Callable[[str], str]] = {
    "en": lower_singular,
    "de": fold_german,
    "fr": lru_cache(maxsize=WORD_CACHE)(_fold_fr),
    "es": lru_cache(maxsize=WORD_CACHE)(_fold_es),
}


def _fold(language: str) -> Callable[[str], str]:
    return FOLDS.get(language, FOLDS["fr"])


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One language's lexicon indexed for matching."""

    words: dict[str, list[tuple[int, float]]]
    phrases: dict[str, list[tuple[tuple[str, ...], int, float]]]
    weights: dict[tuple[int, tuple[str, ...]], float]
    # Every word that starts a term: most words of an article start none.
    starts: frozenset[str]
    # Compound parts: terms that may end ("*wahl") or start ("fussball*") a longer word, and
    # words that only look like compounds of them ("!auswahl").
    heads: dict[str, list[int]]
    modifiers: dict[str, list[int]]
    plain: frozenset[str]
    fold: Callable[[str], str]


@cache
def _compiled(language: str) -> _Compiled:
    text = lexicons.read("topics", language)
    if text is None:
        raise KeyError(f"no topic lexicon for language {language!r}")
    fold = _fold(language)
    index = {t: i for i, t in enumerate(TOPICS)}
    words: dict[str, list[tuple[int, float]]] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], int, float]]] = {}
    weights: dict[tuple[int, tuple[str, ...]], float] = {}
    heads: dict[str, list[int]] = {}
    modifiers: dict[str, list[int]] = {}
    plain: set[str] = set()
    for topic, terms in parse_lexicon(text).items():
        ti = index[topic]
        for weight, raw in terms:
            if raw.startswith("!"):
                plain.add(fold(raw[1:]))
                continue
            head, modifier = raw.startswith("*"), raw.endswith("*")
            key = tuple(fold(w) for w in raw.strip("*").split())
            if not key:
                continue
            # Short parts would match inside unrelated words ("tor" in "Direktor").
            if len(key) == 1 and len(key[0]) >= MIN_COMPOUND_PART:
                if head and ti not in heads.get(key[0], ()):
                    heads.setdefault(key[0], []).append(ti)
                if modifier and ti not in modifiers.get(key[0], ()):
                    modifiers.setdefault(key[0], []).append(ti)
            # A term listed twice for one topic keeps its first (highest) weight.
            if (ti, key) in weights:
                continue
            weights[(ti, key)] = weight
            if len(key) > 1:
                phrases.setdefault(key[0], []).append((key, ti, weight))
            else:
                words.setdefault(key[0], []).append((ti, weight))
    starts = frozenset(words) | frozenset(phrases)
    return _Compiled(words, phrases, weights, starts, heads, modifiers, frozenset(plain), fold)


@cache
def _compound_matcher(language: str) -> Callable[[str], tuple[tuple[int, str], ...]]:
    comp = _compiled(language)
    heads, modifiers, words, fold = comp.heads, comp.modifiers, comp.words, comp.fold

    def split(w: str) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        n = len(w)
        # The longest known last part, folded as a word of its own ("...wahlen" -> "wahl").
        for i in range(MIN_COMPOUND_REST, n - MIN_COMPOUND_PART + 1):
            tail = fold(w[i:])
            if tail in heads:
                found += [(ti, tail) for ti in heads[tail]]
                break
        for j in range(n - MIN_COMPOUND_REST, MIN_COMPOUND_PART - 1, -1):
            first = fold(w[:j])
            if first in modifiers:
                found += [(ti, first) for ti in modifiers[first]]
                break
        return found

    @lru_cache(maxsize=WORD_CACHE)
    def parts(word: str) -> tuple[tuple[int, str], ...]:
        """(topic index, term) for the parts of a compound word that the lexicon knows."""
        w = word.lower()
        if fold(w) in comp.plain:
            return ()
        if "-" not in w:
            return tuple(split(w))
        # "Russland-Wahl", "ÖPNV-Streiks": each hyphenated part as a word, or a compound.
        found: list[tuple[int, str]] = []
        for part in w.split("-"):
            key = fold(part) if part else ""
            if key in words:
                found += [(ti, key) for ti, _ in words[key]]
            elif len(part) >= MIN_COMPOUND_PART:
                found += split(part)
        return tuple(found)

    return parts


def _match(
    comp: _Compiled,
    parts: Callable[[str], tuple[tuple[int, str], ...]] | None,
    raw: list[str],
    counts: dict[tuple[int, tuple[str, ...]], int],
    mult: int,
) -> None:
    norm = list(map(comp.fold, raw))
    n = len(norm)
    starts = comp.starts
    if parts is None:
        # Without compounds only the words that start a term matter: one comprehension finds
        # them (a Python loop step for each of 2,000 words cost more than the matching).
        hits: Iterable[int] = [i for i, w in enumerate(norm) if w in starts]
    else:
        hits = range(n)
    for i in hits:
        w = norm[i]
        if w not in starts:
            if parts is not None and len(w) > MIN_COMPOUND_PART:
                for ti, term in parts(raw[i]):
                    k: tuple[int, tuple[str, ...]] = (ti, (term,))
                    counts[k] = counts.get(k, 0) + mult
            continue
        for ti, _ in comp.words.get(w, ()):
            k = (ti, (w,))
            counts[k] = counts.get(k, 0) + mult
        for key, ti, _ in comp.phrases.get(w, ()):
            if i + len(key) <= n and tuple(norm[i : i + len(key)]) == key:
                k = (ti, key)
                counts[k] = counts.get(k, 0) + mult


def classify(
    title_words: list[str], body_words: list[str], language: str = "en"
) -> list[tuple[Topic, float]]:
    """Topics whose score passes the threshold, best first, with their scores.

    Empty for a language without a lexicon (``supported`` tells which).
    """
    if not supported(language):
        return []
    comp = _compiled(language)
    parts = _compound_matcher(language) if comp.heads or comp.modifiers else None
    counts: dict[tuple[int, tuple[str, ...]], int] = {}
    _match(comp, parts, title_words, counts, 2)
    _match(comp, parts, body_words, counts, 1)
    evidence = [0.0] * len(TOPICS)
    for k, c in counts.items():
        evidence[k[0]] += comp.weights[k] * (1.0 + math.log(c))
    scale = K0 + K1 * (len(body_words) + len(title_words)) ** LENGTH_POWER
    scored = [(TOPICS[ti], 1.0 - math.exp(-e / scale)) for ti, e in enumerate(evidence) if e > 0]
    best = max((s for _, s in scored), default=0.0)
    scored = [(t, round(s, 4)) for t, s in scored if s >= THRESHOLD and s >= RELATIVE * best]
    scored.sort(key=lambda ts: (-ts[1], ts[0].code))
    return scored[:TOP_K]
