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
from consumers.tagging.text import WORD_RE, clean_word, plain_words

if TYPE_CHECKING:  # spaCy is imported when the model is loaded, not with this module
    from spacy.tokens import Doc

KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
# WikiNER models (French and others) label PER/ORG/LOC/MISC; persons are named as in English.
LABEL_ALIASES = {"PER": "PERSON"}
_STRIP = " \t\n\"'“”‘’,;:()[]{}-–—*"
_SPACE_RE = re.compile(r"\s+")
_POSSESSIVE_RE = re.compile(r"['’]s?$")
# A French or Italian elision that NER kept in front of a name: "l’Elysée" is the Elysée,
# "d’Israël" Israel. Lowercase only: "D’Alema" and "L’Oréal" are names as written.
_ELISION_RE = re.compile(r"^(?:qu|[ldjnsctm])['’](?=[^\W\d_])")
# A courtesy title is not part of a person's name: "Mme Binet" is Binet, as "Mr. Smith" is Smith.
_HONORIFIC_RE = re.compile(
    r"^(?:Mr|Mrs|Ms|Dr|Prof|Sir|Mme|Mmes|Mlle|M|Sr|Sra|Srta|Dña|Don|Herr|Frau)\.?\s+(?=[A-ZÀ-Þ])"
)
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
# How much of the article is scanned for names (a very long page is cut here): 40,000
# characters found 0.957 of the full-text top-5 on fundus English against 0.950 at 20,000,
# for ~0.05 ms a page (benchmarks/eval_entities.py).
SCAN_CHARS = 40_000
# Salience = weighted mix of mention frequency, earliness and presence in the title.
W_FREQ, W_POS, W_TITLE = 0.5, 0.3, 0.2


@dataclass(frozen=True)
class PlanOptions:
    """How much NER reads: ``names`` names, each with ``before`` words before a mention and
    ``after`` words after it (what precedes a name tells its type more than what follows)."""

    names: int = 12
    before: int = 4
    after: int = 2
    # The most frequent ``repeat`` names (seen at least 3 times) get a second context.
    repeat: int = 5
    # Hard cap on the words NER reads besides the title (what NER read before it read names
    # in context: a 30-word lead and 55 words of name-bearing sentences).
    max_words: int = 100


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


def _chars(test: Callable[[str], bool]) -> str:
    # Letters of the scripts news is written in with capitals (Latin, Greek, Cyrillic, ...).
    return "".join(c for c in map(chr, range(0x2000)) if test(c))


_UPPER = _chars(str.isupper)
# A word starting with a capital. Whether it starts a word at all (not "Donald" in
# "McDonald") is checked on the character before it: cheaper than a lookbehind at every
# position of the text.
_CAPITAL_RE = re.compile(rf"[{_UPPER}]\w*(?:[.'’\-][^\W_]\w*)*\.?")
_GLUE = frozenset("'’.-_")
# French and Italian elisions glued to a name: "l’Elysée", "d’Israël", "qu’Emmanuel".
_ELISIONS = frozenset("lLdDjJnNsScCmMtT")
# What may stand between a sentence end and its first word: spaces, quotes, brackets, bullets.
_OPENERS = frozenset(" \t\r\"“”«»‘’'([¿¡–—-*•·")
_SENTENCE_START_RE = re.compile(r"[.!?…:][\"”’»)\]]*\s|\n")
_SENTENCE_END_RE = re.compile(r"[.!?…:](?=[\"”’»)\]]*\s)|\n")


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` is the first of a sentence, a paragraph or the text."""
    i = start
    while i > 0 and text[i - 1] in _OPENERS:
        i -= 1
    if i == 0 or text[i - 1] == "\n" or "\n" in text[i:start]:
        return True
    c = text[i - 1]
    if c in "!?…:":
        return True
    if c != ".":
        return False
    # "Mr. Smith" and "J. Smith" are not sentence starts; "said. Smith" is.
    j = i - 1
    while j > 0 and text[j - 1].isalnum():
        j -= 1
    word = text[j : i - 1]
    return len(word) > 1 and word.lower() not in _ABBREVIATIONS


def _key(word: str) -> str:
    word = word[:-1] if word[-1] == "." and word.count(".") == 1 else word
    return _POSSESSIVE_RE.sub("", word) if word and word[-1] in "s'’" else word


@dataclass
class _Names:
    """Name-like words of a text: mentions (start offsets) and counts by key."""

    inner: Counter[str] = field(default_factory=Counter)
    initial: Counter[str] = field(default_factory=Counter)
    mentions: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)


def _names(
    text: str, language: str, stop: frozenset[str], function: frozenset[str] | None = None
) -> _Names:
    """One pass over the capitalized words: counts, mentions, and country names found.

    ``function`` (default ``stop``) are the words that cannot continue a longer name after a
    country name: function words only, since news words name newspapers ("Lesotho Times",
    "USA Today").
    """
    function = stop if function is None else function
    out = _Names()
    starts = countries.first_words(language)
    genitive = language == "de"
    skip_to = 0
    seen: dict[str, str] = {}
    for m in _CAPITAL_RE.finditer(text):
        start = m.start()
        if start < skip_to:
            continue
        if start:
            prev = text[start - 1]
            if prev.isalnum() or (
                prev in _GLUE
                and not (
                    prev in "'’"
                    and start > 1
                    and (
                        text[start - 2] in _ELISIONS or text[start - 3 : start - 1] in ("qu", "Qu")
                    )
                )
            ):
                continue
        word = m.group()
        # Names recur: classify each spelling once.
        key = seen.get(word, "")
        if not key:
            key = seen[word] = _key(word)
        if not key or key.lower() in stop:
            continue
        if key in starts or (genitive and key[-1] == "s"):
            # A country name or national ("United States", "Chinese") needs no NER.
            ahead = [key, *map(clean_word, WORD_RE.findall(text, m.end(), m.end() + 60)[:5])]
            size, code = countries.longest_name(ahead, 0, language)
            end = start + len(" ".join(ahead[:size]))
            # "Lesotho Times", "China Daily": a longer name, for NER to label.
            longer = (
                size < len(ahead)
                and text[end : end + 1] == " "
                and text[end + 1 : end + 2].isupper()
                and ahead[size].lower() not in function
            )
            if code is not None and not longer:
                name = " ".join(ahead[:size])
                out.known.setdefault(name, "NORP" if name in countries.DEMONYMS else "GPE")
                skip_to = end
                continue
        initial = _opens_sentence(text, start)
        (out.initial if initial else out.inner)[key] += 1
        out.mentions.setdefault(key, []).append((start, initial))
    return out


def _window(
    text: str, start: int, stop: frozenset[str], before: int, after: int
) -> tuple[int, int, int, set[str]]:
    """The name at ``start`` with ``before`` words before it and ``after`` after, in its sentence.

    Returns the character span, its words and the keys of the capitalized words it covers.
    """
    # Only the words near the name matter: look for its sentence's ends that far only.
    reach = (MAX_ENTITY_WORDS + max(before, after) + 1) * MAX_WORD_CHARS
    lo = max(0, start - reach)
    begins = [m.end() for m in _SENTENCE_START_RE.finditer(text, lo, start)]
    a = begins[-1] if begins else (text.find(" ", lo, start) + 1 if lo else 0)
    end = _SENTENCE_END_RE.search(text, start, start + reach)
    b = end.start() if end else min(len(text), start + reach)
    words = [(w.start() + a, w.end() + a, w.group()) for w in WORD_RE.finditer(text[a:b])]
    k = next((i for i, w in enumerate(words) if w[0] <= start < w[1]), None)
    if k is None:
        return start, start, 0, set()

    def capital(i: int) -> bool:
        w = words[i][2]
        return w[0].isupper() and w.lower() not in stop

    def joins(i: int) -> bool:
        # A connector continues a name only between two capitalized words.
        return words[i][2] in CONNECTORS and 0 < i < len(words) - 1 and capital(i + 1)

    first = k
    while (
        first > 0
        and k - first < MAX_ENTITY_WORDS
        and (capital(first - 1) or (joins(first - 1) and capital(first - 2)))
    ):
        first -= 1
    last = k
    while (
        last + 1 < len(words)
        and last - k < MAX_ENTITY_WORDS
        and (capital(last + 1) or joins(last + 1))
    ):
        last += 1
    covered = {_key(words[i][2]) for i in range(first, last + 1) if capital(i)}
    first = max(0, first - before)
    last = min(len(words) - 1, last + after)
    return words[first][0], words[last][1], last - first + 1, covered


def plan(
    title: str,
    body: str,
    language: str,
    stop: frozenset[str],
    options: PlanOptions | None = None,
    words: list[str] | None = None,
    function: frozenset[str] | None = None,
) -> Plan:
    """The title and the windows around the article's most frequent names, for NER to read.

    ``words`` are the body's words if the caller has them (``text.plain_words``): their
    lowercase ones tell which capitalized words are only sentence openers. ``function``: the
    function words among ``stop`` (see ``_names``).
    """
    opts = options or PlanOptions()
    text = body[:SCAN_CHARS]
    names = _names(text, language, stop, function)
    lower = Counter(filter(str.islower, words if words is not None else plain_words(text)))
    inner, initial = names.inner, names.initial

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
        for k in names.mentions
        if len(k) > 1 and name_like(k) and lower[k.lower()] <= inner[k]
    }
    ranked = sorted(freq, key=lambda k: (-freq[k], names.mentions[k][0][0]))
    # NER reads the title whole: a name in it already has one context.
    in_title = {_key(m.group()) for m in _CAPITAL_RE.finditer(title[:MAX_TITLE_CHARS])}
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
        where = [s for s, ini in names.mentions[k] if not ini] or [s for s, _ in names.mentions[k]]
        take = 2 if rank < opts.repeat and freq[k] >= 3 and len(where) >= 2 else 1
        if k in in_title:
            take -= 1
            if not take:
                continue
        for s in where[:take]:
            a, b, n, keys = _window(text, s, stop, opts.before, opts.after)
            if n:
                ranges.append((a, b))
                covered |= keys
                budget -= n
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
        texts.append(text[a:b])
        chars += b - a
    return Plan(texts, sorted(names.known.items()), opts.max_words - budget)


def normalize(text: str) -> str:
    """Entity surface form without articles, elisions, possessives, quotes or line breaks."""
    text = _SPACE_RE.sub(" ", text).strip(_STRIP)
    if text[:4].lower() == "the ":
        text = text[4:]
    text = _ELISION_RE.sub("", text)
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


def _surname_mislabelled(value: str, country_of: Callable[[str], str | None] | None) -> bool:
    """Whether a one-word non-person entity may be the last name of a person of the article.

    NER reads a last name alone in a few words of context and often calls it an ORG or a
    place ("Ebrard said" -> ORG next to the PERSON "Marcelo Ebrard"): 14 fundus-news-dev
    articles listed a person twice so. An acronym ("AI", "NATO") or a country or capital
    ("England" after "King of England") is what NER said it is.
    """
    if value.isupper():
        return False
    if value in countries.CAPITALS:
        return False
    return country_of is None or country_of(value) is None


def collect(
    docs: list[Doc],
    country_of: Callable[[str], str | None] | None = None,
    known: Iterable[tuple[str, str]] = (),
) -> list[Entity]:
    """Entities from NER docs and ``known`` (name, label) pairs, merged by normalized name.

    Partial person names are merged into the full name, and so is a last name NER labelled
    something else (see ``_surname_mislabelled``). With ``country_of``, places naming the
    same country ("US", "U.S.", "United States") are merged too, under the name seen most often.
    """
    found = [(e.text, LABEL_ALIASES.get(e.label_, e.label_)) for doc in docs for e in doc.ents]
    by_key: dict[str, Entity] = {}
    for text, label in [*found, *known]:
        if label not in KEPT_LABELS:
            continue
        value = normalize(text)
        if label == "PERSON":
            value = _HONORIFIC_RE.sub("", value)
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
    # name found in the same article (only when exactly one full name matches); a word NER
    # did not call a person only as the last word ("Ebrard" ORG after "Marcelo Ebrard").
    full = [e for e in by_key.values() if e.label == "PERSON" and " " in e.value]
    for key, e in list(by_key.items()):
        if " " in e.value:
            continue
        if e.label == "PERSON":
            owners = [f for f in full if key in _ends(f.value.lower())]
        elif _surname_mislabelled(e.value, country_of):
            owners = [f for f in full if key == _ends(f.value.lower())[1]]
        else:
            continue
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


def _word_char(c: str) -> bool:
    # What the regular expression ``\w`` matches (``str.isalnum`` is sre's test for it).
    return c.isalnum() or c == "_"


def find_mentions(text: str, names: list[str]) -> list[tuple[int, str]]:
    r"""Whole-word occurrences of ``names`` in ``text``, as ``(start, name)`` in text order.

    The same matches as ``re.finditer(r"(?<!\w)(?:name1|name2|...)(?!\w)", text)`` with the
    names in the given order: at each position the first name that fits wins, and matches do
    not overlap. Found with ``str.find`` instead: the names differ for every article, and
    compiling that pattern was most of the cost of scoring entities (~0.25 ms an article).
    """
    size = len(text)
    # Per start offset, the first name (in ``names`` order) found there as a whole word.
    at: dict[int, str] = {}
    for name in names:
        n = len(name)
        i = text.find(name)
        while i >= 0:
            if (
                i not in at
                and (i == 0 or not _word_char(text[i - 1]))
                and (i + n == size or not _word_char(text[i + n]))
            ):
                at[i] = name
            i = text.find(name, i + 1)
    found: list[tuple[int, str]] = []
    end = 0
    for i in sorted(at):
        if i >= end:
            found.append((i, at[i]))
            end = i + len(at[i])
    return found


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
    full = f"{title}\n\n{text}" if title else text
    title_end = len(title) if title else 0
    # Longest first so that "Huang Libin" is one mention, not also a "Huang".
    for start, name in find_mentions(full, sorted(owner, key=len, reverse=True)):
        e = owner[name]
        e.mentions += 1
        if e.first < 0:
            e.first = start
        if start < title_end:
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
