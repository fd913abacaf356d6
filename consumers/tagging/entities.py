"""Named entities (persons, organizations, places) from spaCy NER over the whole article.

NER is the expensive part of tagging (about 0.1 ms per token on our servers), and most of an
article's words are not names. So NER does not read the whole text. ``plan`` scans the whole
text once with a regular expression for words that can be names (capitalized, not a stopword;
at the start of a sentence only if the word is also capitalized inside one, or written like a
name: "ConocoPhillips", "DWR"), ranks them by how often they occur, and NER reads the title plus,
for each of the most frequent names, a few words either side of one mention (two mentions for
the most frequent: one context can fool NER). Country names and nationals ("China",
"Chinese") are labelled from the country table without NER. Each name is then counted over the
whole text by string matching (``score``), so an entity's salience reflects every mention.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consumers.tagging import countries

if TYPE_CHECKING:  # spaCy is imported when the model is loaded, not with this module
    from spacy.tokens import Doc

KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
# WikiNER models (French and others) label PER/ORG/LOC/MISC; persons are named as in English.
LABEL_ALIASES = {"PER": "PERSON"}
_STRIP = " \t\n\"'“”‘’,;:()[]{}-–—*"
_SPACE_RE = re.compile(r"\s+")
_POSSESSIVE_RE = re.compile(r"['’]s?$")
# Words (with inner apostrophes, dots and hyphens: "U.S.", "l’Elysée", "Saudi-Arabien"), and
# what ends a sentence: terminal punctuation, a colon, a paragraph break.
_TOKEN_RE = re.compile(r"[^\W_]\w*(?:[.'’\-][^\W_]\w*)*\.?|[.!?…:]+|\n\s*\n")
# French and Italian elisions glued to a name: "l’Elysée", "d’Israël".
_ELISION_RE = re.compile(r"^(?:[lLdDjJnNsScCmMtT]|[qQ]u)['’](?=\w)")
# Lowercase words allowed inside a name: "Ministry of Industry", "Banco de España".
CONNECTORS = frozenset(
    "of and for the de du des la le del las los y et van von der den al bin da do dos di".split()  # noqa: SIM905
)
# Short capitalized abbreviations whose dot does not end a sentence.
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr prof gen col lt sgt rep sen gov no vs".split())  # noqa: SIM905
MAX_ENTITY_WORDS = 8
# Budgets are also character budgets at this many characters a word, so that text without
# spaces (a URL dump, a mislabelled binary) cannot hand NER a huge "word".
MAX_WORD_CHARS = 12
MAX_TITLE_CHARS = 400
# How much of the article is scanned for names (a very long page is cut here).
SCAN_CHARS = 30_000
# Salience = weighted mix of mention frequency, earliness and presence in the title.
W_FREQ, W_POS, W_TITLE = 0.5, 0.3, 0.2


@dataclass(frozen=True)
class PlanOptions:
    """How much NER reads: ``names`` names, ``window`` words either side of each mention."""

    names: int = 12
    window: int = 3
    # The most frequent ``repeat`` names (seen at least 3 times) get a second context.
    repeat: int = 5
    # Hard cap on the words NER reads besides the title.
    max_words: int = 160


@dataclass(frozen=True)
class Plan:
    """What NER reads for one article, and the names labelled without it."""

    texts: list[str]
    known: list[tuple[str, str]]
    words: int


@dataclass
class Entity:
    """One entity of the article: its best name, label and where it is mentioned."""

    value: str
    label: str
    variants: set[str] = field(default_factory=set)
    labels: Counter[str] = field(default_factory=Counter)
    mentions: int = 0
    first: int = -1
    in_title: bool = False
    score: float = 0.0


@dataclass
class _Words:
    """The words of the scanned text as parallel lists (one object per word costs more)."""

    text: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    sentence: list[int] = field(default_factory=list)
    initial: list[bool] = field(default_factory=list)


def _scan(body: str) -> _Words:
    out = _Words()
    initial = True
    sent = 0
    for m in _TOKEN_RE.finditer(body, 0, SCAN_CHARS):
        tok = m.group()
        if not tok[0].isalnum():
            initial = True
            sent += 1
            continue
        start = m.start()
        elision = _ELISION_RE.match(tok)
        if elision:
            start += elision.end()
            tok = tok[elision.end() :]
        ends = tok[-1] == "." and tok.count(".") == 1
        if ends:
            tok = tok[:-1]
        out.text.append(tok)
        out.start.append(start)
        out.end.append(start + len(tok))
        out.sentence.append(sent)
        out.initial.append(initial)
        # "Mr." or an initial ("J.") do not end a sentence; "said." does.
        initial = ends and tok.lower() not in _ABBREVIATIONS and len(tok) != 1
        if initial:
            sent += 1
    return out


def _key(word: str) -> str:
    return _POSSESSIVE_RE.sub("", word) if word[-1] in "s'’" else word


def plan(
    title: str,
    body: str,
    language: str,
    stop: frozenset[str],
    options: PlanOptions | None = None,
) -> Plan:
    """The title and the windows around the article's most frequent names, for NER to read."""
    opts = options or PlanOptions()
    w = _scan(body)
    n = len(w.text)
    words = w.text
    capital = [t[0].isupper() and t.lower() not in stop for t in words]
    lower: Counter[str] = Counter(t for t in words if t.islower())
    inner: Counter[str] = Counter()
    initial: Counter[str] = Counter()
    first: dict[str, int] = {}
    mentions: dict[str, list[int]] = {}
    known: dict[str, str] = {}
    i = 0
    while i < n:
        if not capital[i]:
            i += 1
            continue
        size, code = countries.longest_name(words, i, language)
        if code is not None:
            name = " ".join(words[i : i + size])
            known.setdefault(name, "NORP" if name in countries.DEMONYMS else "GPE")
            i += size
            continue
        key = _key(words[i])
        (initial if w.initial[i] else inner)[key] += 1
        first.setdefault(key, i)
        mentions.setdefault(key, []).append(i)
        i += 1

    def name_like(k: str) -> bool:
        # A capital at a sentence start proves nothing, unless the word is also capitalized
        # inside sentences, is written like a name, or recurs and is never lowercase.
        return (
            inner[k] > 0
            or any(c.isupper() for c in k[1:])
            or (initial[k] >= 2 and lower[k.lower()] == 0)
        )

    freq = {
        k: inner[k] + initial[k]
        for k in first
        if len(k) > 1 and name_like(k) and lower[k.lower()] <= inner[k]
    }
    ranked = sorted(freq, key=lambda k: (-freq[k], first[k]))

    def name_span(i: int) -> tuple[int, int]:
        # The capitalized run around word i ("Ministry of Industry and Information Technology").
        s = w.sentence[i]
        a = i
        while a > 0 and i - a < MAX_ENTITY_WORDS and w.sentence[a - 1] == s:
            if capital[a - 1] or (
                words[a - 1] in CONNECTORS and a > 1 and capital[a - 2] and w.sentence[a - 2] == s
            ):
                a -= 1
            else:
                break
        b = i
        while b + 1 < n and b - i < MAX_ENTITY_WORDS and w.sentence[b + 1] == s:
            if capital[b + 1] or (
                words[b + 1] in CONNECTORS
                and b + 2 < n
                and capital[b + 2]
                and w.sentence[b + 2] == s
            ):
                b += 1
            else:
                break
        return a, b

    ranges: list[tuple[int, int]] = []
    covered: set[str] = set()
    budget = opts.max_words
    picked = 0
    for rank, k in enumerate(ranked):
        if picked >= opts.names or budget <= 0:
            break
        if k in covered:
            continue
        # A mention inside a sentence reads more like the article than a sentence opener.
        where = [j for j in mentions[k] if not w.initial[j]] or mentions[k]
        take = 2 if rank < opts.repeat and freq[k] >= 3 and len(where) >= 2 else 1
        for j in where[:take]:
            a, b = name_span(j)
            covered.update(_key(words[x]) for x in range(a, b + 1))
            s = w.sentence[j]
            lo, hi = a, b
            for _ in range(opts.window):
                if lo > 0 and w.sentence[lo - 1] == s:
                    lo -= 1
                if hi + 1 < n and w.sentence[hi + 1] == s:
                    hi += 1
            ranges.append((w.start[lo], w.end[hi]))
            budget -= hi - lo + 1
        picked += 1
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    max_chars = opts.max_words * MAX_WORD_CHARS
    texts = [title[:MAX_TITLE_CHARS]] if title else []
    chars = 0
    for a, b in merged:
        if chars + (b - a) > max_chars:
            break
        texts.append(body[a:b])
        chars += b - a
    return Plan(texts, sorted(known.items()), opts.max_words - budget)


def normalize(text: str) -> str:
    """Entity surface form without articles, possessives, quotes or line breaks."""
    text = _SPACE_RE.sub(" ", text).strip(_STRIP)
    if text[:4].lower() == "the ":
        text = text[4:]
    text = _POSSESSIVE_RE.sub("", text).strip(_STRIP)
    # A final dot is the sentence's unless the name is an abbreviation ("U.S.", "R.D.").
    if text.endswith(".") and text.count(".") == 1:
        text = text[:-1].rstrip(_STRIP)
    return text


def _acceptable(value: str) -> bool:
    if len(value) < 2 or not any(c.isupper() for c in value):
        return False
    # A stray letter before the name is a tokenization slip ("s Note" from "Editor’s Note").
    if value[1] == " " and value[0].islower():
        return False
    return len(value.split()) <= MAX_ENTITY_WORDS and any(c.isalpha() for c in value)


def _ends(name: str) -> tuple[str, str]:
    words = name.split()
    return words[0], words[-1]


def collect(
    docs: list[Doc],
    country_of: Callable[[str], str | None] | None = None,
    known: Iterable[tuple[str, str]] = (),
) -> list[Entity]:
    """Entities from NER docs and ``known`` (name, label) pairs, merged by normalized name.

    Partial person names are merged into the full name. With ``country_of``, places naming the
    same country ("US", "U.S.", "United States") are merged too, under the name seen most often.
    """
    found = [(e.text, LABEL_ALIASES.get(e.label_, e.label_)) for doc in docs for e in doc.ents]
    by_key: dict[str, Entity] = {}
    for text, label in [*found, *known]:
        if label not in KEPT_LABELS:
            continue
        value = normalize(text)
        if not _acceptable(value):
            continue
        key = value.lower()
        e = by_key.get(key)
        if e is None:
            e = by_key[key] = Entity(value, label)
        e.variants.add(value)
        e.labels[label] += 1
    for e in by_key.values():
        e.label = e.labels.most_common(1)[0][0]
    # "Huang" after "Huang Libin": same person when it is the first or last word of a full
    # name found in the same article (only when exactly one full name matches).
    full = [e for e in by_key.values() if e.label == "PERSON" and " " in e.value]
    for key, e in list(by_key.items()):
        if e.label != "PERSON" or " " in e.value:
            continue
        owners = [f for f in full if key in _ends(f.value.lower())]
        if len(owners) == 1:
            owners[0].variants |= e.variants
            del by_key[key]
    if country_of is not None:
        by_country: dict[str, Entity] = {}
        for key, e in sorted(by_key.items(), key=lambda kv: -kv[1].labels.total()):
            code = country_of(e.value) if e.label in PLACE_LABELS else None
            if code is None:
                continue
            owner = by_country.setdefault(code, e)
            if owner is not e:
                owner.variants |= e.variants
                owner.labels.update(e.labels)
                del by_key[key]
    return list(by_key.values())


def surnames(entities: list[Entity]) -> dict[str, Entity]:
    """Last names that stand for one full person name ("Harris" -> "Kamala Harris").

    News names a person in full once, then by the last name alone; NER, reading only a few
    contexts, may not have seen the short form. A last name shared by two persons, or that is
    itself another entity's name, stands for no one.
    """
    taken = {v for e in entities for v in e.variants}
    owners: dict[str, list[Entity]] = {}
    for e in entities:
        if e.label == "PERSON" and " " in e.value:
            last = e.value.rsplit(" ", 1)[1]
            if len(last) > 2 and last[0].isupper() and last not in taken:
                owners.setdefault(last, []).append(e)
    return {last: es[0] for last, es in owners.items() if len(es) == 1}


def score(entities: list[Entity], title: str, text: str) -> None:
    """Count mentions of every entity over ``title + text`` and set its salience score."""
    if not entities:
        return
    owner: dict[str, Entity] = {}
    for e in entities:
        for v in e.variants:
            owner.setdefault(v, e)
    for last, e in surnames(entities).items():
        owner.setdefault(last, e)
    # Longest first so that "Huang Libin" is one mention, not also a "Huang".
    pattern = "|".join(re.escape(v) for v in sorted(owner, key=len, reverse=True))
    full = f"{title}\n\n{text}" if title else text
    title_end = len(title) if title else 0
    for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", full):
        e = owner[m.group()]
        e.mentions += 1
        if e.first < 0:
            e.first = m.start()
        if m.start() < title_end:
            e.in_title = True
    size = max(len(full), 1)
    for e in entities:
        # Found by NER, so at least one mention even if normalization changed its form.
        mentions = max(e.mentions, 1)
        first = e.first if e.first >= 0 else size
        freq = mentions / (mentions + 2)
        pos = 1.0 - first / size
        e.score = round(W_FREQ * freq + W_POS * pos + W_TITLE * float(e.in_title), 4)
    entities.sort(key=lambda e: (-e.score, e.first if e.first >= 0 else 1 << 30, e.value))
